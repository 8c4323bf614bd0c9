"""Pure helpers of the HTTP client and error classification."""
from __future__ import annotations

from source_stripe.client import backoff_delay, parse_http_date, parse_retry_after
from source_stripe.errors import StripeAPIError, classify, should_skip


def test_backoff_grows_is_capped_and_honours_retry_after():
    assert backoff_delay(0, 0.5, 30, None, rng=lambda: 1.0) == 0.5
    assert backoff_delay(3, 0.5, 30, None, rng=lambda: 1.0) == 4.0
    assert backoff_delay(20, 0.5, 30, None, rng=lambda: 1.0) == 30
    assert backoff_delay(0, 0.5, 30, None, rng=lambda: 0.0) == 0.25  # jitter
    assert backoff_delay(0, 0.5, 30, 7.0, rng=lambda: 0.0) == 7.0


def test_header_parsing():
    assert parse_retry_after("2") == 2.0 and parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_http_date("Tue, 14 Nov 2023 22:13:20 GMT") == 1700000000
    assert parse_http_date("garbage") is None


def test_classification():
    auth = classify(StripeAPIError(401, "Invalid API Key provided: sk_test_****abcd", path="/v1/customers"),
                    "customers")
    assert (auth.code, auth.scope, auth.stream) == ("auth_failed", "global", None)
    denied = StripeAPIError(403, "The provided key does not have the required permissions",
                            path="/v1/issuing/cards")
    assert should_skip(denied) and classify(denied, "issuing_cards").scope == "stream"
    off = StripeAPIError(400, "Your account is not set up to use Issuing.", path="/v1/issuing/cards")
    assert should_skip(off) and classify(off, "issuing_cards").code == "permission_denied"
    boom = classify(StripeAPIError(500, "An unknown error occurred", path="/v1/charges"), "charges")
    assert (boom.code, boom.retryable) == ("server_error", True)
    assert not should_skip(StripeAPIError(400, "Received unknown parameter: foo"))
    missing = StripeAPIError(404, "No such customer: 'cus_1'", code="resource_missing",
                             param="starting_after")
    assert missing.is_missing_cursor


def test_secret_keys_are_redacted_from_messages():
    err = StripeAPIError(401, "Invalid API Key provided: sk_test_abcdef123456")
    assert "abcdef123456" not in err.message and "abcdef123456" not in classify(err).message


def test_one_status_table_says_what_to_retry_and_how_to_name_it():
    from source_stripe.errors import status_meaning

    retried = {s for s in (0, 400, 401, 402, 403, 404, 409, 429, 500, 502, 503)
               if status_meaning(s).retryable}
    assert retried == {0, 429, 500, 502, 503}
    assert [status_meaning(s).code for s in (0, 401, 403, 404, 409, 429, 503)] == [
        "network", "auth_failed", "permission_denied", "not_found", "invalid_request", "rate_limited",
        "server_error"]
    timeout = classify(StripeAPIError(0, "timed out", code="timeout", path="/v1/charges"), "charges")
    assert (timeout.code, timeout.retryable) == ("timeout", True)


def test_an_unreachable_server_is_named_with_the_reason_and_the_attempts():
    import socket
    import subprocess
    import sys

    from source_stripe.client import ClientSettings, StripeClient
    from source_stripe.rate_limit import Limiter

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = StripeClient(ClientSettings("sk_test_x", base_url=f"http://127.0.0.1:{port}", max_retries=2,
                                         backoff_base_s=0.01), Limiter(100))
    try:
        client.get("/v1/account")
        raise AssertionError("no error")
    except StripeAPIError as err:
        assert err.message == f"cannot reach 127.0.0.1:{port} (Connection refused); gave up after 3 attempts"
        assert "no response on GET /v1/account" in classify(err).message
    config = f'{{"api_key": "sk_test_x", "base_url": "http://127.0.0.1:{port}", "max_retries": 0}}'
    out = subprocess.run([sys.executable, "-m", "source_stripe", "check", "--config", config],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and f"cannot reach 127.0.0.1:{port} (Connection refused)" in out.stderr


def test_streams_table_says_how_each_stream_is_read_and_whether_by_default():
    from source_stripe.streams import registry, streams_table

    lines = streams_table(registry().values())
    assert lines[0].split() == ["stream", "how", "it", "is", "read", "default"]
    by_name = {line.split()[0]: line for line in lines[1:]}
    assert len(by_name) == len(registry())
    assert "time windows on created" in by_name["customers"] and by_name["customers"].endswith("yes")
    assert "cursor; re-read in full" in by_name["checkout_sessions"]
    assert "not read" in by_name["events"] and "no: read by the incremental sync" in by_name["events"]
