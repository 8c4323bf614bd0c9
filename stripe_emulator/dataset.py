"""Deterministic start-up data: (created, id) keys per resource and the per-object varying fields.

Keys are generated compactly (a timestamp and an id per object); objects themselves are rendered on
demand from the fixture template with the values ``FieldGen.values(i, ts)`` returns, so the same seed
always yields byte-identical objects.
"""

from __future__ import annotations

import random
from typing import Any

from .config import ResourceSpec
from .ids import IdStyle, seed_int, splitmix64

YEAR = 365.25 * 86400
PLACEHOLDER_TS = 1234567890  # Stripe's fixtures use this for every timestamp
FIRST = [
    "Jenny",
    "Ada",
    "Grace",
    "Linus",
    "Alan",
    "Maria",
    "Chen",
    "Amara",
    "Sofia",
    "Diego",
    "Yuki",
    "Omar",
    "Priya",
    "Lars",
    "Fatima",
    "Noah",
    "Elena",
    "Kwame",
    "Ines",
    "Hiro",
]
LAST = [
    "Rosen",
    "Lovelace",
    "Hopper",
    "Torvalds",
    "Turing",
    "Garcia",
    "Wei",
    "Okafor",
    "Rossi",
    "Lopez",
    "Tanaka",
    "Haddad",
    "Sharma",
    "Nilsson",
    "Zahra",
    "Smith",
    "Petrova",
    "Mensah",
    "Costa",
    "Sato",
]
PRODUCT_WORDS = [
    "Basic",
    "Pro",
    "Team",
    "Enterprise",
    "Starter",
    "Plus",
    "Gold",
    "Annual",
    "Monthly",
    "Add-on",
]
SUB_STATUS = [
    ("active", 55),
    ("canceled", 20),
    ("trialing", 10),
    ("past_due", 8),
    ("unpaid", 3),
    ("incomplete", 2),
    ("incomplete_expired", 2),
]
_SUB_TABLE = [s for s, w in SUB_STATUS for _ in range(w)]


def burst_time(at: Any, now: int) -> int:
    if at == "recent" or at is None:
        return now - 3 * 86400 + 1234
    at = int(at)
    return now + at if at < 0 else at


def generate_keys(style: IdStyle, spec: ResourceSpec, now: int, material: str) -> list[tuple[int, str]]:
    """(created, id) for each object, in generation order (index i = position in the returned list)."""
    rng = random.Random(seed_int(material, "created"))
    span = max(spec.years, 0.0) * YEAR
    rand, skew = rng.random, spec.skew
    times = [now - 1 - int(span * rand() ** skew) for _ in range(spec.count)]
    for b in spec.bursts:
        times.extend([burst_time(b.get("at"), now)] * int(b["count"]))
    make = style.make
    ids = [make(f"{material}:{i}") for i in range(len(times))]
    if len(set(ids)) != len(ids):  # astronomically unlikely; keep ids unique anyway
        seen: set[str] = set()
        for i, x in enumerate(ids):
            while x in seen:
                x = make(f"{material}:{i}:dup:{len(seen)}")
            seen.add(x)
            ids[i] = x
    return list(zip(times, ids, strict=True))


def _none(i: int, ts: int, h: int) -> None:
    return None


def _pick_from(pool: list[str]) -> Any:
    return lambda i, ts, h: pool[(h >> 8) % len(pool)]


class FieldGen:
    """Which top-level fields vary per object and their values for object ``i`` created at ``ts``."""

    def __init__(
        self,
        obj: str,
        fixture: dict[str, Any],
        ts_field: str | None,
        livemode: bool,
        base_seed: int,
        refs: dict[str, list[str]],
        now: int,
        extra_slots: tuple[str, ...] = (),
    ):
        """``extra_slots``: fields filled by the caller (embedded child lists), None here."""
        self.obj, self.livemode, self.base, self.now = obj, livemode, base_seed, now
        self.ts_field = ts_field
        fns: dict[str, Any] = {}
        if ts_field:
            fns[ts_field] = lambda i, ts, h: ts
        if "livemode" in fixture:
            fns["livemode"] = lambda i, ts, h: livemode
        for k, v in fixture.items():
            if k in fns or k == "id":
                continue
            if v == PLACEHOLDER_TS and type(v) is int:
                fns[k] = lambda i, ts, h: ts
            elif isinstance(v, str) and "_" in v and k != "object":
                pool = refs.get(v.rsplit("_", 1)[0] + "_")
                if pool:
                    fns[k] = _pick_from(pool)
        if isinstance(fixture.get("amount"), int):
            fns["amount"] = lambda i, ts, h: 100 + (h >> 20) % 50000
        special = getattr(self, "_special_" + obj.replace(".", "_"), None)
        if special:
            special(fns, fixture)
        for name in extra_slots:
            fns[name] = _none
        self.slots = list(fns)
        self._fns = [fns[k] for k in self.slots]

    def hash(self, i: int) -> int:
        return splitmix64(self.base ^ i)

    def values(self, i: int, ts: int) -> list[Any]:
        h = splitmix64(self.base ^ i)
        return [f(i, ts, h) for f in self._fns]

    def value(self, i: int, ts: int, name: str) -> Any:
        return self._fns[self.slots.index(name)](i, ts, splitmix64(self.base ^ i))

    # ---- per-object realism ----------------------------------------------------------------------
    @staticmethod
    def _name(h: int) -> tuple[str, str]:
        return FIRST[h % len(FIRST)], LAST[(h >> 5) % len(LAST)]

    def _special_customer(self, fns: dict[str, Any], fx: dict[str, Any]) -> None:
        def email(i: int, ts: int, h: int) -> str:
            first, last = self._name(h)
            return f"{first.lower()}.{last.lower()}{i}@example.com"

        fns["email"] = email
        fns["name"] = lambda i, ts, h: " ".join(self._name(h))
        fns["balance"] = lambda i, ts, h: 0 if h % 5 else -((h >> 12) % 10000)
        if "invoice_prefix" in fx:
            fns["invoice_prefix"] = lambda i, ts, h: f"{(h >> 28) & 0xFFFFFFFF:08X}"[:7] + str(i % 10)

    def _special_product(self, fns: dict[str, Any], fx: dict[str, Any]) -> None:
        fns["name"] = lambda i, ts, h: f"{PRODUCT_WORDS[h % len(PRODUCT_WORDS)]} plan {i}"
        fns["active"] = lambda i, ts, h: h % 7 != 0

    def _special_price(self, fns: dict[str, Any], fx: dict[str, Any]) -> None:
        fns["unit_amount"] = lambda i, ts, h: 500 + 100 * ((h >> 16) % 200)
        fns["unit_amount_decimal"] = lambda i, ts, h: str(500 + 100 * ((h >> 16) % 200))
        fns["active"] = lambda i, ts, h: h % 9 != 0

    def _special_subscription(self, fns: dict[str, Any], fx: dict[str, Any]) -> None:
        def status(i: int, ts: int, h: int) -> str:
            return _SUB_TABLE[h % len(_SUB_TABLE)]

        def ended(i: int, ts: int, h: int) -> int | None:
            if status(i, ts, h) not in ("canceled", "incomplete_expired"):
                return None
            return min(ts + 86400 * (1 + (h >> 24) % 300), max(ts, self.now - 60))

        fns["status"] = status
        fns["canceled_at"] = ended
        fns["ended_at"] = ended
        fns["cancel_at"] = lambda i, ts, h: None
        if "current_period_end" in fx:
            fns["current_period_end"] = lambda i, ts, h: ts + 30 * 86400

    def _special_account(self, fns: dict[str, Any], fx: dict[str, Any]) -> None:
        fns["email"] = lambda i, ts, h: f"owner{i}@example.com"

    def _special_coupon(self, fns: dict[str, Any], fx: dict[str, Any]) -> None:
        fns["percent_off"] = lambda i, ts, h: float(5 * (1 + h % 10))
