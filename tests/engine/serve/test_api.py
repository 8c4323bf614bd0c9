"""`engine serve` over real HTTP with the real connectors, the Stripe emulator and PostgreSQL (issue 18):
a sync started by POST and followed through /messages until eof, 409 while it runs (this server's own
registry, and another writer of the schema caught by destination-postgres's lock), a cancel mid-run
and a new POST that resumes exactly, auth on every protected route, and no secret in any answer."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import psycopg2
import requests

from tests.engine.conftest import ROOT, child_env
from tests.engine.serve.conftest import TOKEN, assert_tables_equal_truth, pg_password

STREAMS = ["customers", "charges", "products"]
DATASET = {"customers": 4000, "charges": 2500, "products": 60}


def test_post_a_sync_read_messages_409_cancel_then_resume_exactly(emulator, serve, pg_url, pg_schema):
    emu = emulator({"dataset": DATASET, "seed": 3})
    server = serve(emu)
    first = server.post_sync(streams=STREAMS, schema=pg_schema)  # configs from the server's environment
    assert first.status_code == 202, first.text
    sync = first.json()
    assert sync["status"] == "running" and sync["destination"]["schema"] == pg_schema

    again = server.post_sync(streams=["customers"], schema=pg_schema)
    assert again.status_code == 409, again.text
    assert again.json()["detail"]["id"] == sync["id"]

    seen = []
    cancelled = False
    for msg in server.messages(sync["id"]):
        seen.append(msg)
        progress = msg.get("trace", {}).get("progress") if msg["type"] == "trace" else None
        if not cancelled and progress and progress.get("confirmed_state_count", 0) >= 3 \
                and progress["record_count"] > 0:
            answer = server.api.post(f"{server.url}/v1/syncs/{sync['id']}/cancel", timeout=10)
            assert answer.status_code == 202 and answer.json()["status"] == "cancelling", answer.text
            cancelled = True
    assert cancelled, "the sync ended before it could be cancelled: make the dataset bigger"
    assert seen[0]["type"] == "catalog" and seen[-1]["type"] == "eof"
    assert seen[-1]["eof"]["status"] == "partial" and seen[-1]["eof"]["has_more"] is True
    ended = server.sync(sync["id"])
    assert ended["status"] == "cancelled" and ended["exit_code"] == 143
    first_records = seen[-1]["eof"]["progress"]["record_count"]
    total = sum(len(emu.dump(s)["objects"]) for s in STREAMS)
    assert 0 < first_records < total

    resumed = server.post_sync(streams=STREAMS, schema=pg_schema)
    assert resumed.status_code == 202, resumed.text
    final = list(server.messages(resumed.json()["id"]))[-1]["eof"]
    assert final["status"] == "succeeded" and final["has_more"] is False
    assert final["progress"]["record_count"] < total  # resumed: what was confirmed is not read again
    assert_tables_equal_truth(emu, pg_url, pg_schema, STREAMS)
    listed = server.api.get(f"{server.url}/v1/syncs", timeout=10).json()["data"]
    assert [s["id"] for s in listed] == [resumed.json()["id"], sync["id"]]
    assert listed[0]["status"] == "succeeded" and listed[0]["last_success_at"] is not None


def test_another_writer_of_the_schema_gets_409(emulator, serve, pg_url, pg_schema):
    from destination_postgres.writer import LOCK_CLASS, schema_lock_key

    emu = emulator({"dataset": {"customers": 20}})
    server = serve(emu)
    holder = psycopg2.connect(pg_url)  # another process writing the schema holds this lock
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, schema_lock_key(pg_schema)))
        answer = server.post_sync(streams=["customers"], destination_config={
            "url": pg_url, "schema": pg_schema, "lock_wait_seconds": 0.5})
    finally:
        holder.close()
    assert answer.status_code == 409, answer.text
    detail = answer.json()["detail"]
    assert detail["code"] == "conflict" and "being written by another" in detail["message"]
    assert server.sync(detail["id"])["status"] == "failed"
    assert pg_password(pg_url) not in answer.text


def test_bad_requests_get_422(emulator, serve):
    server = serve(emulator({"dataset": {"customers": 5}}))
    unknown = server.post_sync(streams=["customers", "no_such_stream"])
    assert unknown.status_code == 422 and "no_such_stream" in unknown.json()["detail"]["message"]
    extra = server.post_sync(streams=["customers"], follows=True)
    assert extra.status_code == 422


def test_every_protected_route_needs_the_token(emulator, serve):
    server = serve(emulator({"dataset": {"customers": 5}}))
    assert requests.get(f"{server.url}/health", timeout=5).json() == {"status": "ok"}
    document = server.api.get(f"{server.url}/openapi.json", timeout=5).json()
    protected = [(path, method) for path, ops in document["paths"].items() for method, op in ops.items()
                 if op.get("security")]
    every = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert every - set(protected) == {("/health", "get"), ("/webhooks/stripe", "post"), ("/", "get"),
                                      ("/login", "post")}
    assert len(protected) == 6
    for path, method in protected + [("/", "get")]:
        url = server.url + path.replace("{sync_id}", "sync_missing")
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN},
                        {"Cookie": "stripe_sync_session=forged"}):
            answer = requests.request(method, url, headers=headers, json={}, timeout=10)
            assert answer.status_code == 401, (method, path, headers, answer.status_code, answer.text)
    wrong = requests.post(f"{server.url}/login", data={"token": "wrong-token-0123456789"}, timeout=5,
                          allow_redirects=False)
    assert wrong.status_code == 401
    login = requests.post(f"{server.url}/login", data={"token": TOKEN}, timeout=5, allow_redirects=False)
    assert login.status_code == 303 and TOKEN not in login.headers["set-cookie"]
    browser = requests.Session()
    browser.cookies.update(login.cookies)
    assert browser.get(f"{server.url}/", timeout=5).status_code == 200
    assert browser.get(f"{server.url}/v1/syncs", timeout=5).status_code == 200
    assert browser.post(f"{server.url}/v1/syncs", json={}, timeout=5).status_code == 401  # GET only


def test_openapi_document_matches_the_routes():
    from engine.serve.app import create_app
    from engine.serve.service import ServeSettings, Service

    app = create_app(Service(ServeSettings(token=TOKEN, source_cmd=["source-stripe"],
                                           destination_cmd=["destination-postgres"])))
    routes = {(route.path, method.lower()) for route in app.routes for method in getattr(route, "methods", ())
              if method != "HEAD"}
    document = app.openapi()
    assert document["openapi"].startswith("3.")
    assert {(path, method) for path, ops in document["paths"].items() for method in ops} == routes


def test_server_refuses_to_start_without_a_token_or_the_extra():
    env = child_env()
    env.pop("STRIPE_SYNC_API_TOKEN", None)
    none = subprocess.run([sys.executable, "-m", "engine", "serve", "--port", "0"], capture_output=True,
                          text=True, timeout=30, cwd=ROOT, env=env)
    assert none.returncode == 2 and "STRIPE_SYNC_API_TOKEN is not set" in none.stderr
    short = subprocess.run([sys.executable, "-m", "engine", "serve", "--port", "0"], capture_output=True,
                           text=True, timeout=30, cwd=ROOT, env={**env, "STRIPE_SYNC_API_TOKEN": "abc"})
    assert short.returncode == 2 and "too short" in short.stderr and "abc" not in short.stderr
    no_fastapi = subprocess.run([sys.executable, "-c", "import sys; sys.modules['fastapi'] = None; "
                                 "from engine.cli import main; main(['serve'])"], capture_output=True,
                                text=True, timeout=30, cwd=ROOT, env={**env, "STRIPE_SYNC_API_TOKEN": TOKEN})
    assert no_fastapi.returncode == 2 and "pip install 'stripe-sync[serve]'" in no_fastapi.stderr
    assert "Traceback" not in none.stderr + short.stderr + no_fastapi.stderr


def test_no_secret_in_any_answer(emulator, serve, pg_url, pg_schema):
    emu = emulator({"dataset": {"customers": 30}, "restricted_keys": {}})
    server = serve(emu)
    wrong_key = "sk_test_notTheRightKey4242424242"
    failed = server.post_sync(streams=["customers"], schema=pg_schema,
                              source_config={"api_key": wrong_key, "base_url": emu.url})
    ok = server.post_sync(streams=["customers"], schema=pg_schema + "_b")
    bodies = [failed.text, ok.text]
    for answer in (failed, ok):
        bodies += [json.dumps(m) for m in server.messages(answer.json()["id"])]
        bodies.append(server.api.get(f"{server.url}/v1/syncs/{answer.json()['id']}", timeout=5).text)
    assert server.sync(failed.json()["id"])["status"] == "failed"
    assert server.sync(ok.json()["id"])["status"] == "succeeded"
    bodies.append(server.api.get(f"{server.url}/v1/syncs", timeout=5).text)
    bodies.append(server.api.get(f"{server.url}/", timeout=5).text)
    text = "\n".join(bodies)
    for secret in (wrong_key, emu.api_key, pg_password(pg_url), TOKEN):
        assert secret not in text, f"{secret!r} in an answer"
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{pg_schema}_b" CASCADE')


def test_stopping_the_server_cancels_its_syncs_cleanly(emulator, serve, pg_schema):
    emu = emulator({"dataset": {"customers": 20}})
    server = serve(emu)
    answer = server.post_sync(streams=["customers"], follow=True, schema=pg_schema,
                              source_config={"api_key": emu.api_key, "base_url": emu.url,
                                             "events_poll_interval_s": 600})
    assert answer.status_code == 202, answer.text
    seen: list[dict] = []
    reader = threading.Thread(target=lambda: seen.extend(server.messages(answer.json()["id"])))
    reader.start()
    server.wait(answer.json()["id"], lambda s: (s["progress"] or {}).get("confirmed_state_count", 0) > 0)
    started = time.monotonic()
    assert server.stop() == 0, server.stderr()
    reader.join(timeout=30)
    assert time.monotonic() - started < 30
    assert seen[0]["type"] == "catalog" and seen[-1]["type"] == "eof"  # the open stream ended with the run
    assert seen[-1]["eof"]["status"] == "partial" and seen[-1]["eof"]["has_more"] is True
