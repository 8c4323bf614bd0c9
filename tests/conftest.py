"""Shared pytest fixtures: a PostgreSQL server for the session, a fresh schema per test.

`pg_url` is DATABASE_URL when set, else a throwaway cluster started once per test session
(throwaway_postgres/). `pg_schema` gives each database test its own schema name and drops it after
(with its `<schema>_live` views).
"""
from __future__ import annotations

import os
import uuid

import pytest

from throwaway_postgres import start_cluster


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
