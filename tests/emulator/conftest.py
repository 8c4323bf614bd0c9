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
