"""The README cannot rot: its marked shell blocks run verbatim against the emulator and a real Postgres,
its two commands are the ones `run` and `.ci/run` implement, the demo completes, and the generated
configuration reference matches the config schemas."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from protocol.jsonio import dumps, loads
from scripts import gen_config_reference
from stripe_emulator import start_emulator

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
BIN = Path(sys.executable).parent


def readme_block(name: str) -> str:
    match = re.search(rf"<!-- readme-test: {name} -->\s*```sh\n(.*?)```", README, re.S)
    assert match, f"README has no block marked readme-test: {name}"
    return match.group(1)


@pytest.fixture
def workdir(tmp_path, pg_url, pg_schema):
    with start_emulator({"profile": "small"}) as emu:
        (tmp_path / "src.json").write_bytes(dumps({"api_key": emu.api_key, "base_url": emu.url,
                                                   "max_requests_per_second": 500}))
        (tmp_path / "dst.json").write_bytes(dumps({"url": pg_url, "schema": pg_schema}))
        yield tmp_path, emu


def run_block(name: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(["bash", "-euo", "pipefail", "-c", readme_block(name)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_two_commands_match_run_script_and_ci():
    assert "./run demo" in README and "./run test" in README
    assert "./run test" in (REPO / ".ci" / "run").read_text()
    run_script = (REPO / "run").read_text()
    assert "demo)" in run_script and "test)" in run_script


def test_pipeline_block_syncs_and_resumes(workdir, pg_url, pg_schema):
    cwd, emu = workdir
    first = run_block("pipeline", cwd)
    assert first.returncode == 0, first.stderr[-2000:]
    state = loads(first.stdout.strip().splitlines()[-1])
    assert "customers" in state["streams"]
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute(f'SELECT id FROM "{pg_schema}".customers')
        assert {r[0] for r in cur.fetchall()} == {o["id"] for o in emu.dump("customers")["objects"]}
    emu.create("customers", {"email": "late@example.com"})
    emu.advance_clock(2)  # a run reads up to the server's current second, exclusive: move past the creation
    second = run_block("pipeline", cwd)  # resumes from the destination's state: picks up the new object
    assert second.returncode == 0, second.stderr[-2000:]
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute(f'SELECT count(*) FROM "{pg_schema}".customers WHERE email = %s', ("late@example.com",))
        assert cur.fetchone()[0] == 1


def test_commands_block_runs(workdir):
    cwd, _emu = workdir
    result = run_block("commands", cwd)
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"status":"succeeded"' in result.stdout.replace(" ", "")


def test_demo_small_profile_completes_exactly(tmp_path):
    env = dict(os.environ, STRIPE_SYNC_STATE_DIR=str(tmp_path))
    env.pop("STRIPE_API_KEY", None)
    env.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-m", "scripts.demo", "--profile", "small", "--progress",
                             "plain"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Every table equals the emulator's ground truth" in result.stdout
    assert re.search(r"customers\s+\d+\s+\d+", result.stdout)
    assert "sk_test_emulator" not in result.stdout + result.stderr


def test_configuration_reference_is_generated_from_schemas():
    assert (REPO / "docs" / "configuration.md").read_text() == gen_config_reference.render(), \
        "docs/configuration.md is stale: run python -m scripts.gen_config_reference"


def test_readme_links_exist():
    for link in re.findall(r"\]\(((?:docs|tests)/[^)#]+)\)", README):
        assert (REPO / link).exists(), f"README links to missing {link}"
