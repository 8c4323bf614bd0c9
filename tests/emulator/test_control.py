"""The /_emulator control API (dump, request log, info, objects), the EmulatorClient mirror of the Python
API, HTTP/1.1 keep-alive, the command line and the separate-process mode, and a throughput floor."""

from __future__ import annotations

import http.client
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import requests

from stripe_emulator import EmulatorClient, cli, spawn_emulator

from .conftest import StripeHttp

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def emu(make_emulator):
    return make_emulator({"dataset": {"customers": 2500}})


def test_dump_over_http_matches_python_and_lists_deletions(emu):
    victim = emu.dump("customers")["objects"][7]["id"]
    emu.delete("customers", victim)
    r = requests.get(emu.url + "/_emulator/dump", params={"resource": "customers"})
    assert r.status_code == 200 and r.headers["Transfer-Encoding"] == "chunked"
    body = r.json()
    assert body == emu.dump("customers")
    assert body["resource"] == "customers" and body["object"] == "customer"
    assert len(body["objects"]) == body["count"] == 2499
    assert [d["id"] for d in body["deleted"]] == [victim] and body["deleted"][0][
        "deleted_at"
    ] >= 1_700_000_000
    assert requests.get(emu.url + "/_emulator/dump").status_code == 400
    assert requests.get(emu.url + "/_emulator/dump", params={"resource": "nope"}).status_code == 404
    assert requests.get(emu.url + "/_emulator/dump", params={"resource": "products"}).json()["objects"]


def test_request_log_entries_counts_and_clear(emu):
    requests.delete(emu.url + "/_emulator/requests")
    http = StripeHttp(emu.url, emu.api_key, {"Stripe-Account": emu.account_id})
    expand = ["data.default_source", "data.test_clock"]
    http.get("/v1/customers", {"limit": 5, "created[gte]": 100, "expand[]": expand})
    http.get("/v1/customers", {"limit": 0})
    http.get("/v1/charges")
    requests.get(emu.url + "/v1/products")  # no key
    log = requests.get(emu.url + "/_emulator/requests").json()
    entries = log["requests"]
    assert [e["path"] for e in entries] == ["/v1/customers", "/v1/customers", "/v1/charges", "/v1/products"]
    first = entries[0]
    assert first["method"] == "GET" and first["status"] == 200
    assert first["query"] == {"limit": "5", "created[gte]": "100", "expand[]": expand}
    assert first["key"] == "sk_test_****ator" and first["account"] == emu.account_id
    assert first["request_id"].startswith("req_") and first["time"] > 0 and first["livemode"] is False
    assert [e["status"] for e in entries] == [200, 400, 200, 401]
    assert entries[3]["key"] is None
    counts = requests.get(emu.url + "/_emulator/requests/counts").json()
    assert counts["total"] == 4 and counts["by_path"] == {
        "/v1/customers": 2,
        "/v1/charges": 1,
        "/v1/products": 1,
    }
    assert counts["by_status"] == {"200": 2, "400": 1, "401": 1}
    assert (
        len(
            requests.get(emu.url + "/_emulator/requests", params={"path": "/v1/customers"}).json()["requests"]
        )
        == 2
    )
    since = entries[1]["seq"]
    assert [e["path"] for e in emu.requests(since=since)] == ["/v1/charges", "/v1/products"]
    assert emu.request_counts()["total"] == 4
    requests.delete(emu.url + "/_emulator/requests")
    assert requests.get(emu.url + "/_emulator/requests").json()["requests"] == []
    assert emu.request_counts()["total"] == 0


def test_info_and_unknown_control_endpoint(emu):
    info = requests.get(emu.url + "/_emulator/info").json()
    assert info["url"] == emu.url and info["api_key"] == emu.api_key and info["account_id"] == emu.account_id
    assert info["counts"]["customers"] >= 2499 and info["api_version"] == "2023-08-16"
    r = requests.get(emu.url + "/_emulator/nothing")
    assert r.status_code == 404 and "error" in r.json()
    assert requests.get(emu.url + "/_emulator/health").json() == {"ok": True}


def test_client_mirrors_python_api(emu):
    c = EmulatorClient(emu.url)
    obj = c.create("products", name="Client made", metadata={"a": "1"})
    assert c.get("products", obj["id"]) == emu.get("products", obj["id"]) == obj
    upd = c.update("products", obj["id"], name="Client changed")
    assert upd["previous_attributes"] == {"name": "Client made"}
    assert c.delete("products", obj["id"])["deleted"] is True
    assert obj["id"] in {d["id"] for d in c.dump("products")["deleted"]}
    now = c.now()
    assert c.advance_clock(10) >= now + 10
    assert c.set_faults(error_rate=0.0)["error_rate"] == 0.0
    assert c.reset_faults()["rate_limit"] is None
    c.clear_requests()
    StripeHttp(emu.url, emu.api_key).get("/v1/customers")
    assert [e["path"] for e in c.requests()] == ["/v1/customers"]
    assert c.request_counts()["by_path"] == {"/v1/customers": 1}
    assert c.start_churn(rate=20, resources=["products"])["running"] is True
    assert c.stop_churn()["running"] is False
    assert c.info()["url"] == emu.url
    c.close()


def test_keep_alive_reuses_one_connection(emu):
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    conn.connect()
    sock = conn.sock
    for _ in range(20):
        conn.request("GET", "/v1/customers?limit=100", headers={"Authorization": f"Bearer {emu.api_key}"})
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200 and int(resp.getheader("Content-Length")) == len(body)
        assert resp.getheader("Connection") == "keep-alive"
        assert len(orjson.loads(body)["data"]) == 100
    assert conn.sock is sock  # never reconnected
    conn.close()


def test_cli_help_documents_every_option_with_an_example():
    script = Path(sys.executable).parent / "stripe-emulator"  # the installed console script
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Examples:" in out.stdout
    for param in cli.main.params:
        assert param.opts[0] in out.stdout
        assert "Example: " + param.opts[0] in (param.help or ""), param.name


def test_cli_prints_url_and_key_and_serves(tmp_path):
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stripe_emulator",
            "--port",
            "0",
            "--seed",
            "3",
            "--config",
            '{"dataset": {"customers": 12}}',
            "--ready-file",
            str(ready),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stderr.readline() for _ in range(3)]
        url = next(x.split("=", 1)[1].strip() for x in lines if x.startswith("STRIPE_EMULATOR_URL="))
        key = next(x.split("=", 1)[1].strip() for x in lines if x.startswith("STRIPE_EMULATOR_API_KEY="))
        assert key == "sk_test_emulator" and url.startswith("http://127.0.0.1:")
        assert len(StripeHttp(url, key).list_all("/v1/customers")) == 12
        assert orjson.loads(ready.read_bytes())["url"] == url
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_cli_rejects_bad_config():
    out = subprocess.run(
        [sys.executable, "-m", "stripe_emulator", "--config", '{"nope": 1}'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "unknown config keys" in out.stderr


def test_spawned_process_is_driven_over_http():
    with spawn_emulator(
        {"profile": "small", "dataset": {"customers": 9}, "start_time": 1_700_000_000}
    ) as proc:
        http = StripeHttp(proc.url, proc.api_key)
        assert len(http.list_all("/v1/customers")) == 9
        made = proc.client.create("customers", email="spawned@example.com")
        assert http.ok("/v1/customers", {"limit": 1})["data"][0]["id"] == made["id"]
        assert http.ok("/v1/events")["data"][0]["type"] == "customer.created"
        assert len(proc.client.dump("customers")["objects"]) == 10
    assert proc.proc.poll() is not None
