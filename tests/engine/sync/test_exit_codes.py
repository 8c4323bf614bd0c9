"""`engine sync` and `engine check` exit with 2 for every config or URL mistake a connector refuses
(docs/engine.md, exit codes), with the connector's words, and never retry one as a network failure."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.engine.conftest import FAKE_DESTINATION, ROOT, child_env

SOURCE = f"{sys.executable} -m source_stripe"
DESTINATION = f"{sys.executable} -m destination_postgres"


def engine(command: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "engine", command, "--source", SOURCE, "--destination", DESTINATION, *args]
    if command == "sync":
        argv += ["--progress", "plain", "--output", "json", "--state-file", os.devnull + ".state"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**child_env(), **(env or {})})


SOURCE_CONFIG = json.dumps({"api_key": "sk_test_exitCodes0000", "base_url": "http://127.0.0.1:1",
                            "max_retries": 0})


@pytest.mark.parametrize("database_url,expected", [
    ("not a url", "not a valid PostgreSQL URL"),
    ("postgresql://u:pw-secret-1@127.0.0.1:abc/db", 'invalid integer value "abc" for connection option'),
    ("postgresql://u:pw-secret-1@127.0.0.1:1/db?sslmode=bogus", 'invalid sslmode value: "bogus"'),
    ("postgresql://u:p@ss-secret-1@127.0.0.1:1/db", "unencoded '@'"),
])
def test_a_bad_database_url_is_exit_2_at_once(database_url, expected, tmp_path):
    started = time.monotonic()
    for command in ("sync", "check"):
        proc = engine(command, "--source-config", SOURCE_CONFIG, env={"DATABASE_URL": database_url})
        assert proc.returncode == 2, (command, proc.stderr)
        assert expected in proc.stderr and "Traceback" not in proc.stderr
        assert "secret-1" not in proc.stderr + proc.stdout
    assert time.monotonic() - started < 30  # never retried as a network failure


def test_a_destination_config_without_url_is_exit_2():
    proc = engine("sync", "--source-config", SOURCE_CONFIG, "--destination-config", '{"schema": "x"}')
    assert proc.returncode == 2, proc.stderr
    assert "url: required field is missing" in proc.stderr


def test_an_invalid_start_date_is_exit_2(tmp_path):
    source = json.dumps({"api_key": "sk_test_exitCodes0000", "start_date": "last tuesday"})
    destination = json.dumps({"db": str(tmp_path / "db.json")})
    proc = engine("sync", "--source-config", source, "--destination", FAKE_DESTINATION,
                  "--destination-config", destination)
    assert proc.returncode == 2, proc.stderr
    assert "start_date: 'last tuesday' is not Unix seconds or an ISO date" in proc.stderr
    eof = json.loads(proc.stdout.splitlines()[-1])["eof"]
    assert eof["status"] == "failed"
    check = engine("check", "--source-config", source, "--destination", FAKE_DESTINATION,
                   "--destination-config", destination)
    assert check.returncode == 2 and "start_date" in check.stderr
