"""Fixtures for source-stripe tests: an emulator per test, an in-process `read`, ground-truth helpers."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from connector_kit.connector import ReadRequest
from protocol.jsonio import dumps, loads
from source_stripe import source
from stripe_emulator import start_emulator

REPO = Path(__file__).resolve().parents[2]
FAST = 5000.0  # requests/s: tests are not throttled by our own limiter


@pytest.fixture
def emulator():
    started = []

    def start(config: dict | None = None, **overrides):
        emu = start_emulator(config or {"profile": "small"}, **overrides)
        started.append(emu)
        return emu
    yield start
    for emu in started:
        emu.stop()


def src_config(emu, **extra) -> dict:
    return {"api_key": emu.api_key, "base_url": emu.url, "max_requests_per_second": FAST,
            "max_requests_per_second_per_endpoint": FAST, "max_concurrent_streams": 8, **extra}


def read(emu, streams: list[str] | None = None, state: dict | None = None, cut_after: int | None = None,
         options: dict | None = None, **config) -> list[dict]:
    """Messages of an in-process `read`; with `cut_after` it stops after that many stream states, like a
    process killed right after a checkpoint."""
    cfg = src_config(emu, **config)
    if streams is not None:
        cfg["streams"] = streams
    out = []
    seen_states = 0
    gen = source.read(ReadRequest(cfg, None, state, options or {}))
    try:
        for msg in gen:
            out.append(msg)
            seen_states += msg["type"] == "state" and msg["state"]["state_type"] == "stream"
            if cut_after is not None and seen_states >= cut_after:
                break
    finally:
        gen.close()
    return out


def run_cli(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "source_stripe", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env, **kw)


def parse_lines(text: str) -> list[dict]:
    return [loads(line) for line in text.splitlines() if line.strip()]


def records(msgs: list[dict], stream: str | None = None) -> list[dict]:
    return [m["record"] for m in msgs if m["type"] == "record"
            and (stream is None or m["record"]["stream"] == stream)]


def ids(msgs: list[dict], stream: str) -> list[str]:
    return [r["data"]["id"] for r in records(msgs, stream)]


def truth(emu, stream: str) -> set[str]:
    return {o["id"] for o in emu.dump(stream)["objects"]}


def assert_exact(msgs: list[dict], emu, stream: str) -> None:
    got = ids(msgs, stream)
    dups = [i for i, c in Counter(got).items() if c > 1]
    assert not dups, f"{stream}: {len(dups)} duplicates, e.g. {dups[:3]}"
    want = truth(emu, stream)
    assert set(got) == want, f"{stream}: missing {len(want - set(got))}, extra {len(set(got) - want)}"


def traces(msgs: list[dict], kind: str) -> list[dict]:
    return [m["trace"][kind] for m in msgs if m["type"] == "trace" and m["trace"]["trace_type"] == kind]


def statuses(msgs: list[dict], stream: str) -> list[str]:
    return [t["status"] for t in traces(msgs, "stream_status") if t["stream"] == stream
            and "range_complete" not in t]


def aggregate_state(msgs: list[dict], base: dict | None = None) -> dict:
    """The aggregate state after `msgs` (what a destination would confirm), starting from `base`."""
    agg: dict[str, Any] = {"streams": dict((base or {}).get("streams", {})),
                           "global": (base or {}).get("global")}
    for m in msgs:
        if m["type"] == "state":
            s = m["state"]
            if s["state_type"] == "stream":
                agg["streams"][s["stream"]] = s["data"]
            else:
                agg["global"] = s["data"]
    return loads(dumps(agg))


def list_requests(emu, path: str) -> list[dict]:
    return [r for r in emu.requests(path) if r["path"] == path]


def min_pages(n: int) -> int:
    return max(1, math.ceil(n / 100))
