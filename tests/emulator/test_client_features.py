"""The new control endpoints through ``EmulatorClient`` against an emulator in another process, and the
command line options for them: the Python API over HTTP is the same as in-process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stripe_emulator import spawn_emulator

from .conftest import START, StripeHttp
from .test_webhooks import SECRET, Receiver

ROOT = Path(__file__).resolve().parents[2]


def test_client_twins_of_the_new_python_api():
    receiver = Receiver()
    config = {
        "start_time": START,
        "dataset": {"invoices": {"count": 3, "children": {"lines": [2, 12]}}, "customers": 5},
        "connected_accounts": {"generate": {"count": 4}},
        "webhooks": {"endpoints": [{"url": receiver.url, "secret": SECRET}], "retry_scale": 0.001},
    }
    try:
        with spawn_emulator(config) as proc:
            c, http = proc.client, StripeHttp(proc.url, proc.api_key)
            inv = http.ok("/v1/invoices", {"limit": 1})["data"][0]
            lines = c.children("invoices", inv["id"], "lines")
            assert len(lines) == inv["lines"]["total_count"]
            added = c.add_child("invoices", inv["id"], "lines", amount=300)
            assert len(added["events"]) == 2
            assert c.remove_child("invoices", inv["id"], "lines", added["object"]["id"])["deleted"] is True
            done = c.scatter_changes({"customers": {"update": 2, "delete": 1}}, seed=2)
            assert [d["op"] for d in done] == ["update", "update", "delete"]
            res = c.apply_changes([{"op": "create", "resource": "products", "fields": {"name": "x"}}])
            assert res[0]["name"] == "x"
            events = c.events()
            assert len(events) == 4 + 3 + 1
            assert c.drop_events([events[0]["id"]]) == {"dropped": [events[0]["id"]]}
            assert c.expire_events(events[-1]["created"] + 1) == {"expired": len(events) - 1}
            assert c.set_event_retention(10)["days"] == 10
            accounts = c.connected_accounts()
            assert len(accounts) == 4
            new = c.add_account(dataset={"customers": 1})
            assert c.revoke_account(new["id"])["id"] == new["id"]
            assert [a["revoked"] for a in c.connected_accounts()][-1] is True
            hook = c.add_webhook_endpoint(receiver.url, enabled_events=["product.created"])
            assert hook["secret"].startswith("whsec_") and len(c.webhook_endpoints()) == 2
            c.update_webhook_endpoint(hook["id"], status="disabled")
            assert c.set_webhook_settings(timeout_s=5)["timeout_s"] == 5
            assert c.wait_webhooks(10) is True
            assert len(c.webhook_deliveries()) == len(receiver.requests) >= 8
            assert c.remove_webhook_endpoint(hook["id"])["deleted"] is True
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def test_cli_options_for_accounts_retention_and_webhooks():
    receiver = Receiver()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stripe_emulator",
            "--port",
            "0",
            "--connected-accounts",
            "3",
            "--event-retention-days",
            "1",
            "--webhook",
            receiver.url,
            "--webhook-retry-scale",
            "0.001",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stderr.readline() for _ in range(4)]
        url = next(x.split("=", 1)[1].strip() for x in lines if x.startswith("STRIPE_EMULATOR_URL="))
        secret = next(x.rsplit(" ", 1)[1].strip() for x in lines if "signing secret" in x)
        assert secret.startswith("whsec_")
        http = StripeHttp(url, "sk_test_emulator")
        assert len(http.list_all("/v1/accounts")) == 3
        from stripe_emulator import EmulatorClient

        client = EmulatorClient(url)
        client.create("customers", name="cli")
        assert client.wait_webhooks(10)
        import stripe

        assert (
            stripe.Webhook.construct_event(
                receiver.requests[0]["body"], receiver.requests[0]["headers"]["Stripe-Signature"], secret
            )["type"]
            == "customer.created"
        )
        client.advance_clock(86400 + 60)
        assert http.ok("/v1/events")["data"] == []  # retention of 1 day
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        receiver.server.shutdown()
        receiver.server.server_close()
