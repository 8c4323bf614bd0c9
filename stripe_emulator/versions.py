"""The ``Stripe-Version`` request header: a version Stripe does not have is refused.

Stripe answers 400 ``invalid_request_error`` "Invalid Stripe API version: 2019-2-19" (quoted in
stripe/stripe-java#682, where Stripe's maintainer explains the missing zero). The known versions are the
ones Stripe's OpenAPI lists (generated into ``data/endpoints.json``); a well-formed version dated after
the newest of them (``2024-06-20``, ``2024-09-30.acacia``) is accepted because Stripe released it after
that spec, and the emulator cannot tell. Whatever the version, objects keep the shape of the emulator's
API version.
"""

from __future__ import annotations

import datetime
import re

from .errors import StripeError

WELL_FORMED = re.compile(r"(\d{4}-\d{2}-\d{2})(\.[a-z]+)?")


def known_version(requested: str, known: frozenset[str]) -> bool:
    version = requested.strip()
    if version in known:
        return True
    m = WELL_FORMED.fullmatch(version)
    return bool(m and _real_date(m.group(1)) and m.group(1) > max(known))


def invalid_version(requested: str) -> StripeError:
    return StripeError(400, f"Invalid Stripe API version: {requested}")


def _real_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True
