"""Emulator configuration: the ``EmulatorConfig`` dataclass, dataset specs, and loading from JSON.

A config is a JSON object (inline or a file); every key is optional. See README.md for the format.
The dataset a run serves is the chosen profile's dataset with the config's ``dataset`` entries merged
over it, resource by resource.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import orjson

from .connect import expand_accounts
from .profiles import PROFILES
from .ratelimit import resolve as resolve_rate_limits
from .webhooks import parse_webhooks

DEFAULT_API_KEY = "sk_test_emulator"


@dataclass
class ResourceSpec:
    """How many objects of one resource exist at start-up and when they were created.

    ``created`` is spread over ``years`` ending at the emulated start time; ``skew`` > 1 crowds objects
    into recent months (age = years * u**skew, u uniform). Each burst adds ``count`` objects sharing the
    single second ``at`` (Unix seconds, a negative number of seconds before now, or ``"recent"``).
    """

    count: int = 0
    years: float = 2.0
    skew: float = 2.0
    bursts: list[dict[str, Any]] = field(default_factory=list)
    # children per parent of a nested list (children.py), by field: {"lines": [0, 3, 10, 250]} gives the
    # generated parents 0, 3, 10, 250, 0, 3 ... lines in turn (generation order); an int gives all the same.
    children: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any) -> ResourceSpec:
        if isinstance(raw, ResourceSpec):
            return raw
        if isinstance(raw, int):
            return cls(count=raw)
        if not isinstance(raw, dict):
            raise ValueError(f"dataset entry must be an int or an object, got {raw!r}")
        unknown = set(raw) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown dataset keys: {sorted(unknown)}")
        spec = cls(**raw)
        for b in spec.bursts:
            if not isinstance(b, dict) or "count" not in b:
                raise ValueError(f"burst needs a count: {b!r}")
        for name, counts in spec.children.items():
            seq = counts if isinstance(counts, list) else [counts]
            if not seq or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in seq):
                raise ValueError(f"children.{name} is a count or a list of counts >= 0, got {counts!r}")
        return spec

    def children_counts(self, name: str) -> list[int] | None:
        counts = self.children.get(name)
        if counts is None:
            return None
        return list(counts) if isinstance(counts, list) else [counts]

    @property
    def total(self) -> int:
        return self.count + sum(int(b["count"]) for b in self.bursts)


@dataclass
class EmulatorConfig:
    """Everything a run needs. ``dataset`` maps resource names (``customers``) to a count or a spec dict."""

    seed: int = 1
    profile: str = "small"
    host: str = "127.0.0.1"
    port: int = 0
    api_key: str = DEFAULT_API_KEY
    live_key: str | None = None
    restricted_keys: dict[str, Any] = field(default_factory=dict)  # key -> list of forbidden resources
    not_enabled: list[str] | None = None  # features, e.g. ["issuing"]; None = the profile's
    account_id: str | None = None  # platform account id; derived from the seed when None
    connected_accounts: dict[str, Any] = field(default_factory=dict)  # see connect.py
    dataset: dict[str, Any] = field(default_factory=dict)
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # resource -> objects, given ids
    start_time: int | None = None  # emulated Unix time at start; None = real time
    event_retention_days: float = 30.0
    faults: dict[str, Any] = field(default_factory=dict)
    rate_limits: Any = None  # Stripe's documented limits: null = off, true = Stripe's, or overrides
    churn: dict[str, Any] | None = None
    data_dir: str | None = None
    request_log_limit: int = 200_000
    record: str | None = None  # path of a JSON-lines file receiving every /v1 request and its answer
    webhooks: Any = None  # endpoints to deliver events to, and retry settings (webhooks.py)

    # ---- loading -------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, raw: dict[str, Any], **overrides: Any) -> EmulatorConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(raw) - names
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)} (known: {sorted(names)})")
        merged = {**raw, **{k: v for k, v in overrides.items() if v is not None}}
        cfg = cls(**merged)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r} (choose from {sorted(PROFILES)})")
        for v in self.resolved_dataset().values():
            ResourceSpec.parse(v)
        for acct, spec in self.resolved_connected_accounts().items():
            for v in (spec.get("dataset") or {}).values():
                ResourceSpec.parse(v)
            check_objects(f"connected account {acct}: objects", spec.get("objects") or {})
        check_objects("objects", self.objects)
        if self.event_retention_days <= 0:
            raise ValueError("event_retention_days must be > 0")
        parse_webhooks(self.webhooks)
        for key in self.restricted_keys:
            if not key.startswith(("rk_test_", "rk_live_")):
                raise ValueError(f"restricted keys start with rk_test_ or rk_live_: {key!r}")
        if not self.api_key.startswith("sk_test_"):
            raise ValueError("api_key is the test-mode key and starts with sk_test_ "
                             "(use live_key for sk_live_)")
        if self.live_key is not None and not self.live_key.startswith(("sk_live_", "rk_live_")):
            raise ValueError("live_key must start with sk_live_")
        resolve_rate_limits(self.rate_limits, {})

    def resolved_dataset(self) -> dict[str, Any]:
        base = dict(PROFILES[self.profile]["dataset"])
        for name, entry in self.dataset.items():
            if isinstance(entry, dict) and isinstance(base.get(name), dict):
                base[name] = {**base[name], **entry}
            else:
                base[name] = entry
        return base

    def resolved_connected_accounts(self) -> dict[str, dict[str, Any]]:
        return expand_accounts(self.connected_accounts or {}, self.seed)

    def resolved_churn(self) -> dict[str, Any] | None:
        if self.churn is not None:
            return self.churn or None
        return PROFILES[self.profile].get("churn")

    def resolved_not_enabled(self) -> list[str]:
        if self.not_enabled is not None:
            return list(self.not_enabled)
        return list(PROFILES[self.profile].get("not_enabled", []))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_objects(where: str, objects: Any) -> None:
    """``objects``: resource name -> list of objects (each a dict; ``id`` optional)."""
    if not isinstance(objects, dict) or not all(
        isinstance(v, list) and all(isinstance(o, dict) for o in v) for v in objects.values()
    ):
        raise ValueError(f'{where} maps resources to lists of objects: {{"products": [{{"id": "prod_x"}}]}}')


def load_config_source(text: str | None) -> dict[str, Any]:
    """``--config``: inline JSON (starts with ``{``) or a path to a JSON file."""
    if not text:
        return {}
    text = text.strip()
    if text.startswith("{"):
        data = orjson.loads(text)
    else:
        with open(os.path.expanduser(text), "rb") as f:
            data = orjson.loads(f.read())
    if not isinstance(data, dict):
        raise ValueError("config must be a JSON object")
    return data
