"""Stripe's webhook signature, verified as Stripe specifies (pure).

https://docs.stripe.com/webhooks#verify-manually: the `Stripe-Signature` header is a list of `prefix=value`
elements split by `,`; `t` is the Unix timestamp of the delivery attempt, each `v1` a signature (several
while an endpoint secret is being rolled: one per active secret); every other scheme (`v0`, the fake one
Stripe adds to test-mode events) is ignored to prevent downgrade attacks. The expected signature is the
hex HMAC-SHA256 of `"<t>.<raw body>"` keyed with the endpoint secret (`whsec_...`), compared with each
`v1` in constant time. A timestamp further than the tolerance (Stripe's libraries use 5 minutes) from
now is refused, so an intercepted delivery cannot be replayed later; Stripe's libraries only refuse old
ones, we refuse both directions. Verification works on the raw bytes, before any JSON parsing.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

TOLERANCE_S = 300
SCHEME = "v1"


class SignatureError(ValueError):
    """Why a delivery is refused (the message is safe to return: it never holds the secret)."""


@dataclass(frozen=True)
class Signed:
    timestamp: int
    signature: str  # the v1 value that matched


def parse_header(header: str) -> tuple[int, list[str]]:
    """(timestamp, v1 signatures) of a `Stripe-Signature` header; SignatureError when malformed."""
    timestamp: int | None = None
    signatures: list[str] = []
    for element in header.split(","):
        prefix, sep, value = element.strip().partition("=")
        if not sep:
            continue
        if prefix == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("the Stripe-Signature timestamp is not an integer") from None
        elif prefix == SCHEME:
            signatures.append(value)
    if timestamp is None:
        raise SignatureError("the Stripe-Signature header has no timestamp (t=)")
    if not signatures:
        raise SignatureError(f"the Stripe-Signature header has no {SCHEME} signature")
    return timestamp, signatures


def expected_signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(header: str | None, body: bytes, secret: str, now: float,
           tolerance: float = TOLERANCE_S) -> Signed:
    """The verified delivery, or SignatureError saying why not."""
    if not header:
        raise SignatureError("no Stripe-Signature header")
    timestamp, signatures = parse_header(header)
    expected = expected_signature(secret, timestamp, body)
    matched = next((s for s in signatures if hmac.compare_digest(expected.encode(), s.encode())), None)
    if matched is None:
        raise SignatureError("no v1 signature matches the body (wrong endpoint secret, or a changed body)")
    if abs(now - timestamp) > tolerance:
        raise SignatureError(f"the signature timestamp is {int(now - timestamp)} s from now: outside the "
                             f"{tolerance:g} s tolerance (a stale or replayed delivery)")
    return Signed(timestamp, matched)
