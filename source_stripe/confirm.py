"""`source-stripe confirm`: the answer for each delete candidate of a sweep (docs/protocol.md,
"Snapshots and delete sweeps"; docs/source-stripe.md, "Snapshots: deletes the events missed").

Input: one JSON line `{"stream": S, "id": X, "_account_id": A}` per candidate on stdin (`_account_id`, the
key's other field, names the account: a connected one is asked with its `Stripe-Account` header; without
it, the account of the config). For each, `GET <stream path>/<id>` through the account's rate limiter and
the usual retries, and the answer (with `keys: {"_account_id"}`, so it answers that account's row):
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

from connector_kit.connector import Log
from protocol import messages
from protocol.errors import ConnectorError
from protocol.reader import BadLine, Line
from dataclasses import replace

from source_stripe.client import StripeClient
from source_stripe.config import Options, options_from_config
from source_stripe.errors import StripeAPIError, classify
from source_stripe.source import UNKNOWN_ACCOUNT, fetch_account, make_client
from source_stripe.streams import ACCOUNT_FIELD, catalog_entry, registry


def candidate(item: Line | BadLine) -> tuple[str, str, str | None] | str:
    """(stream, id, account or None) of an input line, or why it is not a candidate."""
    if isinstance(item, BadLine):
        return item.describe()
    msg = item.message
    account = msg.get(ACCOUNT_FIELD)
    if not isinstance(msg.get("stream"), str) or not isinstance(msg.get("id"), str) or not msg["id"] \
            or not (account is None or isinstance(account, str) and account.startswith("acct_")):
        return (f"line {item.line_no}: expected {{\"stream\": \"...\", \"id\": \"...\"}} (and "
                f"\"{ACCOUNT_FIELD}\": \"acct_...\")")
    return msg["stream"], msg["id"], account


class Clients:
    """One client per account asked about; the account of the key (or of `account_id`) by default."""

    def __init__(self, opts: Options, log: Log | None = None):
        self.opts, self.log, self.base = opts, log, make_client(opts, log=log)
        self.by_account: dict[str, StripeClient] = {}
        self.own: str | None = None  # the account the base client reads

    def default_account(self) -> str:
        if self.own is None:
            self.own = fetch_account(self.base, self.opts.api_key, self.opts.account_id)["id"] \
                or self.opts.account_id or UNKNOWN_ACCOUNT
        return self.own

    def of(self, account: str | None) -> tuple[StripeClient, str]:
        own = self.default_account()
        if account is None or account == own:
            return self.base, own
        if account not in self.by_account:
            self.by_account[account] = make_client(replace(self.opts, account_id=account), self.base.stop,
                                                   self.log)
        return self.by_account[account], account

    @property
    def request_count(self) -> int:
        return self.base.request_count + sum(c.request_count for c in self.by_account.values())

    def close(self) -> None:
        for c in [self.base, *self.by_account.values()]:
            c.close()


def confirm(config: dict, lines: Iterable[Line | BadLine], log: Log | None = None) -> Iterator[dict]:
    """The answers for the candidates of `lines`; `log` gets a warning before each retry's backoff."""
    opts = options_from_config(config)
    clients = Clients(opts, log)
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
            name, object_id, wanted = parsed
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
                client, account = clients.of(wanted)
                page = client.get(path)
            except StripeAPIError as err:
                if err.is_auth:
                    raise classify(err) from None
                if err.status == 404 and err.code == "resource_missing":
                    tombstones += 1
                    yield messages.record(name, {"id": object_id}, deleted=True,
                                          updated_at=client.server_now(), keys={ACCOUNT_FIELD: account})
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
            yield messages.record(name, body, deleted=deleted, updated_at=page.snapshot_time,
                                  keys={ACCOUNT_FIELD: account})
    finally:
        clients.close()
    yield messages.log("info", f"source-stripe confirm: {total} candidates: {tombstones} gone (tombstones), "
                               f"{live} still exist, {unanswered} unanswered; "
                               f"{clients.request_count} requests",
                       {"candidates": total, "tombstones": tombstones, "live": live, "unanswered": unanswered,
                        "request_count": clients.request_count})
    if unanswered:
        raise ConnectorError("server_error", f"{unanswered} of {total} delete candidates could not be "
                             "confirmed (see the errors above); they stay pending and are asked again "
                             "next run",
                             retryable=True)
