"""The README cannot rot: its marked shell blocks run verbatim against the emulator and a real Postgres,
its two commands are the ones `run` and `.ci/run` implement, the demo completes, and the generated
configuration reference matches the config schemas."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
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


@pytest.fixture
def fresh_database(pg_url):
    """A database of its own (the README's commands use the schema names they show)."""
    name = f"readme_{uuid.uuid4().hex[:10]}"
    sql(pg_url, f'CREATE DATABASE "{name}"')
    try:
        yield pg_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        sql(pg_url, f'DROP DATABASE "{name}" WITH (FORCE)')


def run_after_install(name: str, cwd: Path, env: dict, replace: dict[str, str] | None = None
                      ) -> subprocess.CompletedProcess:
    """Run a README block the way a reader does on a fresh clone after `./run test` or `./run demo`:
    the install block (activating the clone's .venv) first, from the clone, with none of our commands
    on PATH before it; then the block in `cwd`."""
    if not (REPO / ".venv" / "bin" / "activate").exists():
        pytest.skip("no .venv in the clone (./run test creates it)")
    block = readme_block(name)
    for old, new in (replace or {}).items():
        block = block.replace(old, new)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                           if Path(p).resolve() != BIN.resolve())
    script = f"cd {REPO}\n{readme_block('install')}\ncd {cwd}\n{block}"
    proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env={**env, "PATH": path},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=600)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # what a failed block left running in the background
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_without_a_stripe_account_block_runs_as_written(tmp_path, fresh_database):
    env = {k: v for k, v in os.environ.items() if k not in ("STRIPE_API_KEY", "STRIPE_BASE_URL")}
    env.update(DATABASE_URL=fresh_database, STRIPE_SYNC_STATE_DIR=str(tmp_path / "state"))
    # the one change: another port than 12111, which a developer's own emulator may hold
    result = run_after_install("emulator", tmp_path, env, {"12111": str(free_port())})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "verdict: ready to sync" in result.stderr and "sync succeeded" in result.stderr
    assert re.search(r"^customers\s+beginning → .*\s+40\s+0$", result.stdout, re.M), result.stdout


def test_everyday_block_runs_as_written(tmp_path, fresh_database):
    with start_emulator({"profile": "small"}) as emu:
        env = dict(os.environ, STRIPE_API_KEY=emu.api_key, STRIPE_BASE_URL=emu.url,
                   DATABASE_URL=fresh_database, STRIPE_SYNC_STATE_DIR=str(tmp_path / "state"))
        result = run_after_install("everyday", tmp_path, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "verdict: ready to sync" in result.stderr
    assert result.stderr.count("engine: sync succeeded") == 2
    assert "confirmed state: 61 stream(s) and a global state, read from the destination" in result.stdout
    assert re.search(r"^customers\s+time windows on created", result.stdout, re.M)
    assert "verdict: clean" in result.stdout, result.stdout[-3000:]  # verify: 56 streams (children skipped)


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
    env = demo_env(tmp_path)
    result = subprocess.run([sys.executable, "-m", "scripts.demo", "--profile", "small", "--progress",
                             "plain"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Every table equals the emulator's ground truth" in result.stdout
    assert re.search(r"customers\s+\d+\s+\d+", result.stdout)
    assert "sk_test_emulator" not in result.stdout + result.stderr
    assert "state saved" not in result.stderr  # a throwaway database gets no state file to point at
    assert re.search(r"customers\s+[\d,]+\s+[\d,]+", result.stdout) and "total" in result.stdout
    for child in ("invoice_line_items", "subscription_items"):  # child streams in the summary
        assert re.search(rf"^  {child}\s+[1-9][\d,]*\s+[\d,]+", result.stdout, re.M), child
    assert "JOIN stripe_live.invoice_line_items l ON l.invoice = i.id" in result.stdout


def demo_env(tmp_path: Path, **extra: str) -> dict:
    env = dict(os.environ, STRIPE_SYNC_STATE_DIR=str(tmp_path / "state"), **extra)
    env.pop("STRIPE_API_KEY", None)
    if "DATABASE_URL" not in extra:
        env.pop("DATABASE_URL", None)
    return env


def refused(url: str) -> bool:
    """Nothing listens at the host:port of `url` any more."""
    host, port = re.search(r"//(?:[^@/]*@)?([\d.]+):(\d+)", url).groups()
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((host, int(port))) != 0


@pytest.mark.parametrize("signum,to_group", [(signal.SIGINT, True), (signal.SIGTERM, False)],
                         ids=["ctrl-c", "sigterm"])
def test_demo_stops_engine_sync_first_then_cleans_up(tmp_path, signum, to_group):
    """Ctrl-C (SIGINT to the terminal's process group) or SIGTERM (to the demo alone) during the sync:
    engine sync stops cleanly first, then the emulator and the throwaway PostgreSQL are removed; no
    error wall, no state file left behind."""
    argv = [sys.executable, "-m", "scripts.demo", "--profile", "small", "--progress", "plain", "--rate", "4"]
    proc = subprocess.Popen(argv, cwd=REPO, env=demo_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines: list[str] = []
    stdout: list[str] = []
    readers = [threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True),
               threading.Thread(target=lambda: stdout.extend(proc.stdout), daemon=True)]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + 120
    while not any("records" in line for line in lines) and time.monotonic() < deadline:
        time.sleep(0.1)  # the sync is under way (a first stream finished)
    assert proc.poll() is None, "".join(lines)
    if to_group:
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    proc.wait(timeout=120)
    for reader in readers:
        reader.join(timeout=10)
    err, out = "".join(lines), "".join(stdout)
    assert proc.returncode == 128 + signum, err
    assert f"interrupted by {signal.Signals(signum).name}" in err  # engine sync's own clean end
    assert f"demo: stopped by {signal.Signals(signum).name}" in err
    assert "destination_failed" not in err + out and "Traceback" not in err
    emulator_url = re.search(r"Stripe emulator at (\S+)", err).group(1)
    pg_port = re.search(r"throwaway PostgreSQL at 127.0.0.1:(\d+)", err).group(1)
    assert refused(emulator_url) and refused(f"//127.0.0.1:{pg_port}")
    assert not (tmp_path / "state").exists() or not list((tmp_path / "state").iterdir())


def sql(url: str, statement: str) -> None:
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        conn.cursor().execute(statement)
    finally:
        conn.close()


def test_demo_into_a_database_url_uses_a_schema_of_its_own_or_refuses(tmp_path, pg_url, pg_schema):
    taken = f"{pg_schema}_taken"  # someone's data where the demo would write
    sql(pg_url, f'CREATE SCHEMA "{taken}"; CREATE TABLE "{taken}".customers (id text)')
    try:
        refused_run = subprocess.run([sys.executable, "-m", "scripts.demo", "--profile", "small", "--schema",
                                      taken, "--no-incremental"], cwd=REPO, capture_output=True, text=True,
                                     env=demo_env(tmp_path, DATABASE_URL=pg_url), timeout=300)
        assert refused_run.returncode == 2, refused_run.stderr
        assert "the demo did not make" in refused_run.stderr
    finally:
        sql(pg_url, f'DROP SCHEMA "{taken}" CASCADE')
    for _run in range(2):  # the second run recreates the demo's schema: exact again
        ok = subprocess.run([sys.executable, "-m", "scripts.demo", "--profile", "small", "--schema",
                             pg_schema, "--no-incremental", "--progress", "plain"], cwd=REPO,
                            capture_output=True, text=True, env=demo_env(tmp_path, DATABASE_URL=pg_url),
                            timeout=300)
        assert ok.returncode == 0, ok.stderr[-3000:]
        assert "Every table equals the emulator's ground truth" in ok.stdout
    assert not (tmp_path / "state").exists()


def test_configuration_reference_is_generated_from_schemas():
    assert (REPO / "docs" / "configuration.md").read_text() == gen_config_reference.render(), \
        "docs/configuration.md is stale: run python -m scripts.gen_config_reference"


def test_readme_links_exist():
    for link in re.findall(r"\]\(((?:docs|tests)/[^)#]+)\)", README):
        assert (REPO / link).exists(), f"README links to missing {link}"
