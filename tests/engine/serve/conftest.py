"""Fixtures for `engine serve` tests: the server as a real process (`python -m engine serve`) running
the real connectors, with the Stripe emulator and PostgreSQL; a client that speaks its API."""
from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from stripe_emulator import start_emulator
from tests.e2e.test_sync_kill import table_rows
from tests.engine.conftest import ROOT, child_env

TOKEN = "test-token-0123456789abcdef"
WEBHOOK_SECRET = "whsec_serveTestSecret000000000000001"
PY = shlex.quote(sys.executable)


class Server:
    """A running `engine serve`; `api` is a requests session with the token."""

    def __init__(self, tmp: Path, env: dict[str, str], *extra: str):
        self.dir = tmp
        ready = tmp / "ready.json"
        self.stderr_path = tmp / "serve.err"
        argv = [sys.executable, "-m", "engine", "serve", "--port", "0", "--ready-file", str(ready),
                "--source", f"{PY} -m source_stripe", "--destination", f"{PY} -m destination_postgres",
                *extra]
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT, env=env)
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert self.proc.poll() is None, self.stderr()
            assert time.monotonic() < deadline, "engine serve did not start"
            time.sleep(0.05)
        self.url = json.loads(ready.read_text())["url"]
        self.api = requests.Session()
        self.api.headers["Authorization"] = f"Bearer {TOKEN}"

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def post_sync(self, **body) -> requests.Response:
        return self.api.post(f"{self.url}/v1/syncs", json=body, timeout=60)

    def sync(self, sync_id: str) -> dict:
        answer = self.api.get(f"{self.url}/v1/syncs/{sync_id}", timeout=10)
        answer.raise_for_status()
        return answer.json()

    def messages(self, sync_id: str, until: str = "eof", timeout: float = 120) -> Iterator[dict]:
        """The run's messages as they come (the stream ends with the run)."""
        with self.api.get(f"{self.url}/v1/syncs/{sync_id}/messages", stream=True, timeout=timeout) as answer:
            answer.raise_for_status()
            assert answer.headers["content-type"].startswith("application/x-ndjson")
            for line in answer.iter_lines():
                if line:
                    yield json.loads(line)

    def wait(self, sync_id: str, predicate, timeout: float = 60, what: str = "") -> dict:
        deadline = time.monotonic() + timeout
        while True:
            info = self.sync(sync_id)
            if predicate(info):
                return info
            assert time.monotonic() < deadline, f"timed out waiting for {what or predicate}: {info}"
            time.sleep(0.1)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


def server_env(tmp: Path, emu, pg_url: str, **extra: str) -> dict[str, str]:
    env = child_env()
    env.update({"STRIPE_SYNC_API_TOKEN": TOKEN, "STRIPE_API_KEY": emu.api_key, "STRIPE_BASE_URL": emu.url,
                "DATABASE_URL": pg_url, "STRIPE_SYNC_STATE_DIR": str(tmp / "state"), **extra})
    return env


@pytest.fixture
def serve(tmp_path, pg_url):
    """serve(emu, webhooks=False, *extra_args) -> a started Server; stopped (exit 0, no secret, no
    traceback on stderr) at the end."""
    started: list[Server] = []

    def start(emu, webhooks: bool = False, *extra: str) -> Server:
        env = server_env(tmp_path, emu, pg_url,
                         **({"STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET} if webhooks else {}))
        folder = tmp_path / f"server{len(started)}"
        folder.mkdir()
        server = Server(folder, env, *extra)
        started.append(server)
        return server
    yield start
    for server in started:
        code = server.stop()
        text = server.stderr()
        assert code == 0, text
        assert "Traceback" not in text, text
        for secret in (TOKEN, WEBHOOK_SECRET, "sk_test_", pg_password(pg_url)):
            assert secret not in text, f"{secret!r} on the server's stderr"


@pytest.fixture
def emulator():
    started = []

    def start(config: dict):
        emu = start_emulator(config)
        started.append(emu)
        return emu
    yield start
    for emu in started:
        emu.stop()


def pg_password(url: str) -> str:
    from urllib.parse import urlsplit
    return urlsplit(url).password or "\0no password\0"


def assert_tables_equal_truth(emu, pg_url: str, schema: str, streams: list[str]) -> None:
    for stream in streams:
        truth = emu.dump(stream)
        rows = table_rows(pg_url, schema, stream)
        live = {o["id"]: o for o in truth["objects"]}
        synced = {k: raw for k, (raw, deleted_at) in rows.items() if deleted_at is None}
        assert set(synced) == set(live), f"{stream}: {len(set(live) - set(synced))} missing, " \
                                         f"{len(set(synced) - set(live))} extra"
        assert all(synced[k] == live[k] for k in live), f"{stream}: rows differ from the emulator"

