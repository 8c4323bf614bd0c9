"""A 2xx list page that cannot be continued (no `data` list, or `has_more` with no objects) is retried and
then fails clearly; it is never taken as the end of the list (which would silently lose the rest)."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from protocol.jsonio import loads

from source_stripe.client import ClientSettings, StripeClient, list_body_problem
from source_stripe.errors import StripeAPIError
from source_stripe.rate_limit import Limiter


def test_list_body_problem():
    assert list_body_problem({"object": "list", "has_more": False, "data": []}) is None
    assert list_body_problem({"object": "list", "has_more": True, "data": [{"id": "x"}]}) is None
    assert "has_more" in list_body_problem({"object": "list", "has_more": True, "data": []})
    assert "'data'" in list_body_problem({})


@pytest.fixture
def misbehaving_server():
    """A real HTTP server (a broken proxy in front of Stripe) that answers every list with `body`."""
    state = {"body": b"{}", "hits": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            state["hits"] += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state["body"])))
            self.end_headers()
            self.wfile.write(state["body"])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", state
    server.shutdown()


@pytest.mark.parametrize("body", [b'{"object": "list", "has_more": true, "data": []}', b"{}"])
def test_malformed_list_page_is_retried_then_an_error(misbehaving_server, body):
    url, state = misbehaving_server
    state["body"] = body
    client = StripeClient(ClientSettings(api_key="sk_test_x", base_url=url, max_retries=2,
                                         backoff_base_s=0.01,
                                         backoff_cap_s=0.02), Limiter(1000, 1000))
    with pytest.raises(StripeAPIError) as exc:
        client.get("/v1/customers", {"limit": 100}, expect_list=True)
    assert state["hits"] == 3  # the first try and two retries
    assert "list response" in str(exc.value)
    assert client.get("/v1/account").body == loads(body)  # a retrieve (not a list) is taken as it is
