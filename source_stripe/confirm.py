"""`source-stripe confirm`: the answer for each delete candidate of a sweep (docs/protocol.md,
"Snapshots and delete sweeps"; docs/source-stripe.md, "Snapshots: deletes the events missed").

Input: one JSON line `{"stream": S, "id": X}` per candidate on stdin. For each, `GET <stream path>/<id>`
through the one rate limiter and the usual retries, and the answer:
- 200 with `"deleted": true` (a deleted customer's stub): a tombstone of the stub;
- 404 with Stripe's code `resource_missing` ("The ID provided is not valid ... or the resource does not
  exist", https://docs.stripe.com/error-codes#resource-missing): a tombstone `{"id": X}`;
- 200 with the object: a record of the current object. It still exists and was only hidden from the
  list (a filter, or it changed while the list was read): never tombstoned;
- anything else (a 404 without that code, like a proxy's "Unrecognized request URL", a 403, a 5xx after
  retries): a stream error naming the request; the candidate stays pending at the destination. A
  stream the key may not read (403, a feature not enabled) is not asked again this run.
A stream's `catalog` entry goes out before its first record. Records carry `updated_at` = a lower bound
of when Stripe answered, so a confirmation is newer than anything the destination holds. The run ends
with exit code 1 (a global error naming the counts) when some candidate got no answer.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from urllib.parse import quote

from protocol import messages
from protocol.errors import ConnectorError
from protocol.reader import BadLine, Line
from source_stripe.config import options_from_config
from source_stripe.errors import StripeAPIError, classify
from source_stripe.source import make_client
from source_stripe.streams import catalog_entry, registry


def candidate(item: Line | BadLine) -> tuple[str, str] | str:
    """(stream, id) of an input line, or why it is not a candidate."""
    if isinstance(item, BadLine):
        return item.describe()
    msg = item.message
    if not isinstance(msg.get("stream"), str) or not isinstance(msg.get("id"), str) or not msg["id"]:
        return f"line {item.line_no}: expected {{\"stream\": \"...\", \"id\": \"...\"}}"
    return msg["stream"], msg["id"]


def confirm(config: dict, lines: Iterable[Line | BadLine]) -> Iterator[dict]:
    opts = options_from_config(config)
    client = make_client(opts)
    streams = registry()
    announced: set[str] = set()
    refused: dict[str, str] = {}  # stream -> why its retrieve cannot answer (asked once)
    total = unanswered = tombstones = live = 0
    try:
        for item in lines:
            parsed = candidate(item)
            if isinstance(parsed, str):
                raise ConnectorError("bad_message", f"confirm input {parsed}",
                                     hint="pipe the output of `destination-postgres candidates` into it")
            name, object_id = parsed
            total += 1
            stream = streams.get(name)
            if stream is None or name in refused:
                unanswered += 1
                if stream is None and name not in refused:
                    refused[name] = "unknown stream"
                    yield messages.error("stream", "invalid_request", f"{name}: unknown stream, its "
                                         "candidates stay pending", stream=name)
                continue
            if name not in announced:
                announced.add(name)
                yield messages.catalog([catalog_entry(stream)])
            path = f"{stream.path}/{quote(object_id, safe='')}"
            try:
                page = client.get(path)
            except StripeAPIError as err:
                if err.is_auth:
                    raise classify(err) from None
                if err.status == 404 and err.code == "resource_missing":
                    tombstones += 1
                    yield messages.record(name, {"id": object_id}, deleted=True,
                                          updated_at=client.server_now())
                    continue
                unanswered += 1
                error = classify(err, name)
                if err.status == 403 or err.not_enabled:  # the key may not read this stream at all
                    refused[name] = error.message
                yield ConnectorError(error.code, f"{error.message}: candidate {object_id!r} stays pending",
                                     scope="stream", stream=name, retryable=error.retryable,
                                     http_status=error.http_status, request_id=error.request_id).to_message()
                continue
            body = page.body
            deleted = body.get("deleted") is True
            tombstones += deleted
            live += not deleted
            yield messages.record(name, body, deleted=deleted, updated_at=page.snapshot_time)
    finally:
        client.close()
    yield messages.log("info", f"source-stripe confirm: {total} candidates: {tombstones} gone (tombstones), "
                               f"{live} still exist, {unanswered} unanswered; "
                               f"{client.request_count} requests",
                       {"candidates": total, "tombstones": tombstones, "live": live, "unanswered": unanswered,
                        "request_count": client.request_count})
    if unanswered:
        raise ConnectorError("server_error", f"{unanswered} of {total} delete candidates could not be "
                             "confirmed (see the errors above); they stay pending and are asked again "
                             "next run",
                             retryable=True)
