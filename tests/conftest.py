"""Shared pytest fixtures: a PostgreSQL server for the session, a fresh schema per test.

`pg_url` is DATABASE_URL when set, else a throwaway cluster started once per test session
(throwaway_postgres/). `pg_schema` gives each database test its own schema name and drops it after
(with its `<schema>_live` views).

When third-party tests are selected, their connectors missing from the cache are installed by a
background process (niced) while the rest of the suite runs: a clean clone's installs (~100 s) overlap
the other tests instead of adding to the run.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from throwaway_postgres import start_cluster


ROOT = Path(__file__).resolve().parents[1]
INSTALLER = pytest.StashKey[subprocess.Popen]()  # the background install of third-party connectors


def pytest_collection_finish(session):
    from tests.third_party.connectors import CACHE, missing

    if session.config.option.collectonly or not missing():
        return
    if not any("third_party" in item.path.parts for item in session.items):
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "background-install.log", "w") as log:
        session.config.stash[INSTALLER] = subprocess.Popen(
            [sys.executable, "-m", "tests.third_party.connectors"], cwd=ROOT, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=lambda: os.nice(10))


def pytest_sessionfinish(session):
    proc = session.config.stash.get(INSTALLER, None)
    if proc is not None and proc.poll() is None:  # a run that ended early: no stamp, the next run retries
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()


@pytest.fixture(scope="session")
def pg_url():
    env_url = os.environ.get("DATABASE_URL")
    if env_url:
        yield env_url
        return
    cluster = start_cluster()
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def pg_schema(pg_url):
    import psycopg2

    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    conn = psycopg2.connect(pg_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for schema in (name, f"{name}_live"):  # the tables and their live views
                cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        conn.close()
