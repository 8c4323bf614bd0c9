"""Deterministic identifiers: base62 tokens derived from the seed, Stripe-style ids, key masking.

Everything here is a pure function so that the same ``--seed`` always yields the same ids.
"""

from __future__ import annotations

import hashlib

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # ASCII-ordered
_TRANSLATE = bytes(ord(ALPHABET[b % 62]) for b in range(256))
_UPPER = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_TRANSLATE_UPPER = bytes(ord(_UPPER[b % 36]) for b in range(256))


def token(material: str, length: int, upper: bool = False) -> str:
    """A base62 token of ``length`` chars derived from ``material`` (a hash; stable across runs)."""
    out = b""
    counter = 0
    while len(out) < length:
        digest = hashlib.blake2b(f"{material}#{counter}".encode(), digest_size=32).digest()
        out += digest.translate(_TRANSLATE_UPPER if upper else _TRANSLATE)
        counter += 1
    return out[:length].decode()


def base62(n: int, width: int = 0) -> str:
    """Encode a non-negative integer in base62 (ASCII order), left-padded with '0' to ``width``."""
    if n < 0:
        raise ValueError("negative")
    chars = []
    while n:
        n, r = divmod(n, 62)
        chars.append(ALPHABET[r])
    s = "".join(reversed(chars)) or "0"
    return s.rjust(width, "0")


class IdStyle:
    """How ids of one object type look: prefix, body length, leading char, case (from the fixture's id)."""

    __slots__ = ("prefix", "length", "lead", "upper")

    def __init__(self, prefix: str, length: int, lead: str = "", upper: bool = False):
        self.prefix, self.length, self.lead, self.upper = prefix, length, lead, upper

    @classmethod
    def from_example(cls, example_id: str | None, object_type: str) -> IdStyle:
        if example_id and "_" in example_id:
            prefix, _, body = example_id.rpartition("_")
            lead = body[0] if body[:1] == "1" and len(body) > 16 else ""
            return cls(prefix + "_", max(len(body), 14), lead)
        if example_id and example_id.isalnum():  # e.g. coupons: "Z4OV52SU"
            return cls("", max(len(example_id), 8), "", upper=example_id.upper() == example_id)
        base = object_type.split(".")[-1]
        return cls(base[:4] + "_", 24, "1")

    def make(self, material: str) -> str:
        body = token(material, self.length - len(self.lead), upper=self.upper)
        return self.prefix + self.lead + body


def splitmix64(x: int) -> int:
    """A fast integer hash, used to derive per-object field values from (seed, index)."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def seed_int(*parts: object) -> int:
    """A 64-bit integer derived from arbitrary parts (stable across runs, unlike ``hash()``)."""
    d = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(d, "big")


def mask_key(key: str | None) -> str:
    """Mask an API key the way Stripe does in messages: keep the mode prefix and the last 4 chars."""
    if not key:
        return ""
    prefix = ""
    for p in ("sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_"):
        if key.startswith(p):
            prefix = p
            break
    rest = key[len(prefix) :]
    if len(rest) <= 4:
        return prefix + "*" * len(rest)
    return prefix + "*" * (len(rest) - 4) + rest[-4:]
