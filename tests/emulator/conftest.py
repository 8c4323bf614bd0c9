"""Shared helpers for the Stripe emulator's own tests: every test talks to a real emulator over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from stripe_emulator import Emulator, start_emulator

START = 1_700_000_000  # fixed emulated start time: data is byte-identical across runs


class StripeHttp:
    """A tiny Stripe client: a keep-alive session with the API key as Basic auth username."""

    def __init__(self, url: str, key: str | None, headers: dict[str, str] | None = None):
        self.url = url
        self.s = requests.Session()
        if key:
            self.s.headers["Authorization"] = f"Bearer {key}"
        self.s.headers.update(headers or {})

    def get(self, path: str, params: Any = None, **kw: Any) -> requests.Response:
        return self.s.get(self.url + path, params=params, timeout=30, **kw)

    def ok(self, path: str, params: Any = None, **kw: Any) -> dict[str, Any]:
        r = self.get(path, params, **kw)
        assert r.status_code == 200, (path, params, r.status_code, r.text[:500])
        return r.json()

    def list_all(
        self, path: str, params: dict[str, Any] | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            p = {**(params or {}), "limit": limit}
            if cursor:
                p["starting_after"] = cursor
            page = self.ok(path, p)
            out.extend(page["data"])
            if not page["has_more"]:
                return out
            cursor = page["data"][-1]["id"]


def example(schema: dict[str, Any]) -> Any:
    """A valid value for an OpenAPI query parameter schema (the first option, the first enum value)."""
    if "anyOf" in schema:
        return example(schema["anyOf"][0])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: example(props[k]) for k in schema.get("required", [])} or (
            {k: example(s) for k, s in list(props.items())[:1]}
        )
    if kind == "array":
        return [example(schema.get("items", {}))]
    if "enum" in schema:
        return schema["enum"][0]
    return {"integer": "1", "boolean": "true"}.get(kind or "", "x")


def encode(name: str, value: Any) -> list[tuple[str, str]]:
    """Form-encode a value the way Stripe's SDKs do: a[b]=1, a[0]=x."""
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in encode(f"{name}[{k}]", v)]
    if isinstance(value, list):
        return [pair for i, v in enumerate(value) for pair in encode(f"{name}[{i}]", v)]
    return [(name, value)]


def required_pairs(ep: Any, emu: Emulator | None = None) -> list[tuple[str, str]]:
    """Query pairs that satisfy an endpoint's required parameters (and the payment_methods quirk); with
    ``emu``, a parameter naming a parent gets an existing one (/v1/subscription_items?subscription=)."""
    pairs = [pair for name in ep.required_params for pair in encode(name, example(ep.query_schemas[name]))]
    if ep.path == "/v1/subscription_items" and emu is not None:
        pairs = [("subscription", emu.dump("subscriptions")["objects"][0]["id"])]
    if "query" in ep.required_params:
        pairs = [(k, v) for k, v in pairs if k != "query"] + [("query", "created>0")]
    if ep.path == "/v1/payment_methods":
        pairs.append(("type", "card"))
    return pairs


def sort_key(obj: dict[str, Any], ts_field: str = "created") -> tuple[int, str]:
    return (obj[ts_field], obj["id"])


@pytest.fixture(scope="module")
def make_emulator() -> Iterator[Any]:
    started: list[Emulator] = []

    def make(config: dict[str, Any] | None = None, **overrides: Any) -> Emulator:
        cfg = {"start_time": START, **(config or {})}
        emu = start_emulator(cfg, **overrides)
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()
