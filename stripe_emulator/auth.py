"""API keys and accounts: who is calling (Bearer or Basic auth), in which mode, on which account.

Errors follow Stripe: no key or an unknown key -> 401; a restricted key lacking a permission -> 403;
an unknown ``Stripe-Account`` -> 403 ``account_invalid``; a feature the account has not enabled
(e.g. Issuing) -> 400. Keys are only ever echoed masked.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import StripeError
from .ids import mask_key

NO_KEY_MESSAGE = (
    "You did not provide an API key. You need to provide your API key in the Authorization header, "
    "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://stripe.com/docs/api#authentication for details, or we can help at "
    "https://support.stripe.com/."
)
AUTH_HEADERS = {"WWW-Authenticate": 'Basic realm="Stripe"'}


@dataclass(frozen=True)
class Caller:
    key: str  # the raw key: used for rate-limit buckets only, never logged or echoed
    masked: str
    livemode: bool
    forbidden: frozenset[str]  # object types this (restricted) key may not read


def extract_key(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("Authorization") or headers.get("authorization")
    if not auth:
        return None
    scheme, _, value = auth.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(value).decode("utf-8", "replace").partition(":")[0]
        except (ValueError, TypeError):
            return ""
        return user
    return ""


class Authenticator:
    def __init__(self, api_key: str, live_key: str | None, restricted: dict[str, frozenset[str]]):
        self.keys: dict[str, tuple[bool, frozenset[str]]] = {api_key: (False, frozenset())}
        if live_key:
            self.keys[live_key] = (True, frozenset())
        for k, forbidden in restricted.items():
            self.keys[k] = (k.startswith("rk_live_"), forbidden)

    def authenticate(self, headers: Mapping[str, str]) -> Caller:
        key = extract_key(headers)
        if key is None:
            raise StripeError(401, NO_KEY_MESSAGE, headers=AUTH_HEADERS)
        found = self.keys.get(key)
        if found is None:
            raise StripeError(401, f"Invalid API Key provided: {mask_key(key)}", headers=AUTH_HEADERS)
        return Caller(key, mask_key(key), found[0], found[1])


def permission_error(caller: Caller, account_id: str, obj: str) -> StripeError:
    perm = "rak_" + obj.replace(".", "_") + "_read"
    return StripeError(
        403,
        f"The provided key '{caller.masked}' does not have the required permissions for this "
        f"endpoint on account '{account_id}'. Having the '{perm}' permission would allow this "
        "request to continue.",
    )


def account_error(caller: Caller, account: str) -> StripeError:
    return StripeError(
        403,
        f"The provided key '{caller.masked}' does not have access to account '{account}' (or "
        "that account does not exist). Application access may have been revoked.",
        code="account_invalid",
    )


def not_enabled_error(feature: str) -> StripeError:
    title = feature.replace("_", " ").title()
    return StripeError(
        400,
        f"Your account is not set up to use {title}. Please visit "
        f"https://dashboard.stripe.com/{feature}/overview to get started.",
    )
