"""Fixtures for destination-postgres tests: a config pointing at the test schema, a direct connection."""
from __future__ import annotations

import psycopg2
import pytest


@pytest.fixture
def dst_config(pg_url, pg_schema) -> dict:
    return {"url": pg_url, "schema": pg_schema, "retries": 1, "lock_wait_seconds": 2}


@pytest.fixture
def db(pg_url):
    conn = psycopg2.connect(pg_url)
    conn.autocommit = True
    yield conn
    conn.close()
