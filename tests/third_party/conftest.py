"""Fixtures for the tests with real third-party connectors (installed from PyPI by `connectors.py`).

- `bin_dir(CONNECTOR)`: the connector's bin directory (installed on first use, cached in the repository).
- `wrapper(path, command, env)`: an executable script that runs `command` with extra environment (how a
  test points a connector at the emulator: docs/third-party.md) under the connector's own name, so
  messages name it as a user would see it.
- `engine_sync(tmp_path, *args)`: `python -m engine sync ...` as a process, its messages and stderr.
"""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from tests.engine.conftest import ROOT, child_env
from tests.third_party.connectors import Connector, InstallFailed, installed

URL_REWRITE = Path(__file__).resolve().parent / "url_rewrite"


def bin_dir(connector: Connector) -> Path:
    try:
        return installed(connector)
    except InstallFailed as exc:
        pytest.fail(f"cannot install the third-party connector for this test: {exc}")


def wrapper(path: Path, command: list[str], env: dict[str, str] | None = None) -> Path:
    """An executable `path` that runs `command` (plus its own arguments) with `env` set. PYTHONPATH is
    cleared first: the tests put this repository on it, and its `source_stripe` would shadow the
    package of the same name of airbyte-source-stripe."""
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in (env or {}).items())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\nunset PYTHONPATH\n{exports}exec {shlex.join(command)} \"$@\"\n")
    path.chmod(0o755)
    return path


def emulator_rewrite(emu) -> dict[str, str]:
    """The environment that sends a requests-based connector's https://api.stripe.com to the emulator."""
    return {"PYTHONPATH": str(URL_REWRITE), "STRIPE_SYNC_TEST_URL_REWRITE": f"https://api.stripe.com={emu.url}"}


@dataclass
class Sync:
    code: int
    messages: list[dict]
    stderr: str

    @property
    def eof(self) -> dict:
        assert self.messages and self.messages[-1]["type"] == "eof", self.stderr
        return self.messages[-1]["eof"]

    @property
    def streams(self) -> dict[str, dict]:
        return self.eof["progress"]["streams"]

    def statuses(self) -> list[tuple[str, str]]:
        return [(t["trace"]["stream_status"]["stream"], t["trace"]["stream_status"]["status"])
                for t in self.messages
                if t["type"] == "trace" and t["trace"]["trace_type"] == "stream_status"]

    def errors(self) -> list[dict]:
        return [m["trace"]["error"] for m in self.messages
                if m["type"] == "trace" and m["trace"]["trace_type"] == "error"]

    def progress(self) -> list[dict]:
        return [m["trace"]["progress"] for m in self.messages
                if m["type"] == "trace" and m["trace"]["trace_type"] == "progress"]


def engine_sync(tmp_path: Path, *args: str, timeout: float = 300) -> Sync:
    argv = [sys.executable, "-m", "engine", "sync", "--state-file", str(tmp_path / "state.json"),
            "--progress", "plain", "--output", "json", "--restart-delay", "0.05", *args]
    proc = subprocess.run(argv, capture_output=True, timeout=timeout, cwd=tmp_path, env=child_env())
    return Sync(proc.returncode, [json.loads(line) for line in proc.stdout.splitlines() if line.strip()],
                proc.stderr.decode())


def table_ids(pg_url: str, schema: str, table: str) -> list[str]:
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute(f'SELECT id FROM "{schema}"."{table}" ORDER BY id')
        return [row[0] for row in cur.fetchall()]


def primary_key(pg_url: str, schema: str, table: str) -> list[str]:
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                    "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
                    (f'"{schema}"."{table}"',))
        return [row[0] for row in cur.fetchall()]


def destination_state(pg_url: str, schema: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "destination_postgres", "state", "--config",
                          json.dumps({"url": pg_url, "schema": schema})],
                         capture_output=True, cwd=ROOT, env=child_env(), check=True)
    return json.loads(out.stdout)


@pytest.fixture
def emulator():
    from stripe_emulator import start_emulator

    with start_emulator({"profile": "small", "seed": 1}) as emu:
        yield emu
