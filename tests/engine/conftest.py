"""Fixtures for engine tests: run `engine sync` / `engine check` as a subprocess with the fake
connectors of tests/engine/fakes (a scripted source, a JSON-file destination)."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKES = Path(__file__).resolve().parent / "fakes"
FAKE_SOURCE = f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKES / 'fake_source.py'))}"
FAKE_DESTINATION = f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKES / 'fake_destination.py'))}"
SECRET_KEY = "sk_test_fakeSecretValue0123456789"


@dataclass
class SyncResult:
    code: int
    messages: list[dict]
    stderr: str
    dir: Path

    def of(self, kind: str, sub: str | None = None) -> list[dict]:
        return [m[kind] for m in self.messages if m["type"] == kind
                and (sub is None or m[kind]["trace_type"] == sub)]

    @property
    def eof(self) -> dict:
        assert self.messages and self.messages[-1]["type"] == "eof", self.stderr
        return self.messages[-1]["eof"]

    def errors(self) -> list[dict]:
        return [t["error"] for t in self.of("trace", "error")]

    def db(self) -> dict:
        return json.loads((self.dir / "db.json").read_text())

    def attempts(self) -> list[dict]:
        path = self.dir / "log.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


class SyncRunner:
    def __init__(self, tmp: Path):
        self.dir = tmp

    def source_config(self, streams=None, behaviour=None, page=5, **extra) -> dict:
        return {"streams": streams or {"customers": 12, "charges": 7}, "page": page, "run_dir": str(self.dir),
                "behaviour": behaviour or [{}], "api_key": SECRET_KEY, **extra}

    def destination_config(self, **extra) -> dict:
        return {"db": str(self.dir / "db.json"), **extra}

    def argv(self, command: str, source: dict, destination: dict, *extra: str) -> list[str]:
        return [sys.executable, "-m", "engine", command, "--source", FAKE_SOURCE, "--source-config",
                json.dumps(source),
                "--destination", FAKE_DESTINATION, "--destination-config", json.dumps(destination), *extra]

    def sync(self, source: dict | None = None, destination: dict | None = None, *extra: str,
             timeout: float = 60) -> SyncResult:
        argv = self.argv("sync", source or self.source_config(), destination or self.destination_config(),
                         "--state-file", str(self.dir / "state.json"), "--progress", "plain",
                         "--output", "json",
                         "--restart-delay", "0.05", *extra)
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, cwd=ROOT, env=child_env())
        return self.result(proc.returncode, proc.stdout, proc.stderr)

    def result(self, code: int, stdout: bytes, stderr: bytes) -> SyncResult:
        msgs = [json.loads(line) for line in stdout.splitlines() if line.strip()]
        text = stderr.decode()
        assert SECRET_KEY not in text and SECRET_KEY.encode() not in stdout
        assert "Traceback" not in text, text
        return SyncResult(code, msgs, text, self.dir)


def child_env() -> dict:
    env = dict(os.environ)
    env.pop("STRIPE_API_KEY", None)
    env.pop("DATABASE_URL", None)
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture
def runner(tmp_path) -> SyncRunner:
    return SyncRunner(tmp_path)
