"""Connect: read every account of a platform (or a list of them) with one key, into the same tables
(docs/source-stripe.md, "Connect").

`accounts: "all"` reads the platform itself and every account `GET /v1/accounts` lists (paged, newest
first; listed again on every run and on every pass of `--follow`, so accounts connected since appear);
a list reads exactly those. Each account is read like a single-account read (`source._read`: events,
backfill, snapshots, from its own state), with a client that sends its `Stripe-Account` header, and:
- **its own state**: states carry `partition` = the account id (protocol.state), so each account resumes
  on its own, a new account starts its backfill, and a state made before (one account, no partition)
  becomes the state of the account it names (`legacy`), whose stored rows get `_account_id` through the
  catalog's `primary_key_defaults`;
- **its own budget**: Stripe's rate limits are per account ("rate limits are measured in API requests
  per second, per Stripe account", https://docs.stripe.com/rate-limits), so each account gets its own
  limiter (rate_limit.py: `max_requests_per_second` for the account, `..._per_endpoint` for each
  endpoint), and every request also takes a token of one platform-wide bucket
  (`max_platform_requests_per_second`, default 4 x the per-account rate); at most `max_accounts_in_flight`
  accounts are read at once (a pool of threads, one account each);
- **its own failures**: an account that revoked the platform's access (403 `account_invalid`) or fails
  otherwise for good ends with an error of scope `partition` naming it (the engine reports it, the run
  ends partial, exit 1); its rows stay, its state keeps where it was and is marked `revoked`, and the
  other accounts go on. Next run, a revoked account that is no longer listed is only mentioned (a log),
  one that is listed again is read again. A stream the account cannot read (a feature it has not
  enabled) is a warning of that account, never a stream failure for all.
Messages of one account keep their order (one thread writes them into the shared queue); the stream
lifecycle is the platform's: `started` for every stream first, `complete` at the end, and per account a
`partition_status` (`started`, `complete`, `failed`, `skipped`), which the engine rolls up. Memory holds
the account ids (a list of short strings) and the accounts in flight; a finished account's objects are
gone (with `--follow`, the latest state of each account too: small dicts).
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from connector_kit.connector import ReadRequest, retry_warnings
from protocol import messages
from protocol import state as protocol_state
from protocol.errors import ConnectorError
from source_stripe import state as st
from source_stripe.client import Cancelled, ClientSettings, StripeClient
from source_stripe.config import Options, is_live_key
from source_stripe.errors import StripeAPIError, classify
from source_stripe.rate_limit import ENDPOINT_DEFAULT_RATE, Limiter, TokenBucket, default_rate
from source_stripe.source import (
    WAKE_LOOKAHEAD_S, Mode, _read, _Signals, account_tagger, fetch_account, read_mode, selected_streams)
from source_stripe.streams import Stream, catalog_streams
from source_stripe.windows import SplitPolicy

ALL = "all"
PLATFORM_CAP_FACTOR = 4  # default platform-wide budget: this many accounts' budgets
PAGE_LIMIT = 100
QUEUE_ITEMS = 512  # messages waiting for the writer: bounded, so a slow reader slows the accounts
_DONE = object()


def list_connected(client: StripeClient) -> Iterator[str]:
    """The ids `GET /v1/accounts` lists, every page (https://docs.stripe.com/api/accounts/list)."""
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": PAGE_LIMIT}
        if after:
            params["starting_after"] = after
        page = client.get("/v1/accounts", params, expect_list=True)
        for obj in page.data:
            if isinstance(obj, dict) and isinstance(obj.get("id"), str):
                yield obj["id"]
        if not page.has_more or not page.data:
            return
        after = page.data[-1].get("id")


@dataclass
class AccountRun:
    """What one account's read reported (for its `partition_status` and the follow passes)."""

    account: str
    records: int = 0
    failed: str | None = None  # why it did not read everything (its partition error's message)
    revoked: bool = False
    last_global: Any = None  # the data of its last global state (marked `revoked` when it revokes)
    states: dict = field(default_factory=dict)  # --follow: its latest stream states (from its start)


class Accounts:
    """One multi-account read (see the module docstring)."""

    def __init__(self, request: ReadRequest, opts: Options, policy: SplitPolicy):
        self.opts, self.policy = opts, policy
        self.streams: list[Stream] = selected_streams(request, opts)
        self.mode: Mode = read_mode(request)
        self.lower = opts.start_date
        self.on_retry = retry_warnings(request.log)  # each backoff of any account's client: one warning
        legacy_streams, legacy_glob = st.split_aggregate(request.state)
        self.legacy = (st.state_account_id(legacy_glob), legacy_streams, legacy_glob) \
            if legacy_glob or legacy_streams else None
        self.saved = protocol_state.partitions(request.state)  # account -> (stream states, global)
        for _, (_, glob) in self.saved.items():
            if glob:
                st.split_aggregate({"global": glob})  # the same checks as a single account's state
        self.stop, self.wake = threading.Event(), threading.Event()
        rate = float(opts.max_requests_per_second or default_rate(opts.api_key))
        self.rate = rate
        self.cap = TokenBucket(float(opts.max_platform_requests_per_second or PLATFORM_CAP_FACTOR * rate))
        self.out: queue.Queue = queue.Queue(QUEUE_ITEMS)
        self.platform_client = self.client(None)
        self.request_count = 0
        self.lock = threading.Lock()
        self.follow_states: dict[str, tuple[dict, Any]] = {}  # --follow: account -> its latest state
        self.listing: set[str] = set()  # the accounts of this pass's listing (or configured list)
        self.total = 0  # accounts this pass reads

    def client(self, account: str | None) -> StripeClient:
        """A client for one account (`None`: the platform itself), with its own limiter under the cap."""
        settings = ClientSettings(api_key=self.opts.api_key, base_url=self.opts.base_url,
                                  api_version=self.opts.api_version, account_id=account,
                                  timeout_s=float(self.opts.request_timeout_s),
                                  max_retries=int(self.opts.max_retries))
        endpoint_rate = float(self.opts.max_requests_per_second_per_endpoint or ENDPOINT_DEFAULT_RATE)
        limiter = Limiter(self.rate, endpoint_rate)
        return StripeClient(settings, limiter, self.stop, cap=self.cap, on_retry=self.on_retry)

    # ---- the read ----------------------------------------------------------------------------------
    def run(self) -> Iterator[dict]:
        with _Signals(self.stop, self.wake, self.mode.follow):
            yield messages.catalog(catalog_streams(self.streams, self.legacy[0] if self.legacy else None))
            try:
                platform = fetch_account(self.platform_client, self.opts.api_key)
                if not self.mode.verify:
                    for s in self.streams:
                        yield messages.stream_status(s.name, "started")
                yield from self.one_pass(platform)
                while self.mode.follow and not self.stop.is_set():
                    woken = self.wake.wait(float(self.opts.events_poll_interval_s))
                    self.wake.clear()
                    if self.stop.is_set():
                        break
                    yield from self.one_pass(platform, woken)
                if not self.mode.verify:
                    for s in self.streams:
                        yield messages.stream_status(s.name, "complete")
            except Cancelled:
                pass
            finally:
                self.stop.set()
                self.platform_client.close()
        count = self.request_count + self.platform_client.request_count
        yield messages.log("info", f"source-stripe: {count} requests over the accounts",
                           {"request_count": count})

    def accounts(self, platform: dict) -> list[str]:
        """The accounts of this pass: the platform and every listed one, or the configured list; then the
        accounts the state knows that are not listed (revoked ones are only mentioned, see `one_pass`)."""
        if self.opts.accounts == ALL:
            ids = [platform["id"]] if platform.get("id") else []
            ids += [a for a in list_connected(self.platform_client) if a not in ids]
        else:
            ids = list(self.opts.accounts or [])
        self.listing, known = set(ids), set(ids)  # a revoked account named in the listing is read again
        for account in [*self.saved, *self.follow_states]:
            if account not in known:
                known.add(account)
                ids.append(account)
        return ids

    def state_of(self, account: str) -> tuple[dict, Any]:
        if account in self.follow_states:
            return self.follow_states[account]
        if account in self.saved:
            return self.saved[account]
        if self.legacy is not None and self.legacy[0] == account:  # a state made for this one account
            return self.legacy[1], self.legacy[2]
        return {}, None

    def one_pass(self, platform: dict, woken: bool = False) -> Iterator[dict]:
        """Read every account once; the pass's frozen upper bound is the same for all (the server's clock:
        a first pass reads up to the last whole second, a later one waits the current second out, as a
        single account's read does). `woken`: a follow pass asked for at once (reads the current second)."""
        ids = self.accounts(platform)
        upper = self.platform_client.server_now()
        if woken:
            upper += WAKE_LOOKAHEAD_S
        elif self.saved or self.legacy is not None or self.follow_states:
            self.platform_client.wait_past(upper)
            upper += 1
        todo: queue.Queue = queue.Queue()
        for account in ids:
            glob = self.state_of(account)[1]
            revoked = glob.get("revoked") if isinstance(glob, dict) else None
            if revoked and account not in self.listing:
                why = revoked.get("reason", "account_invalid")
                yield messages.log("warn", f"account {account}: revoked the platform's access ({why}); "
                                           "not read, its rows are kept")
                continue
            todo.put(account)
        total = self.total = todo.qsize()
        workers = [threading.Thread(target=self._worker, args=(todo, platform, upper), daemon=True,
                                    name=f"source-stripe-account-{i}")
                   for i in range(min(self.opts.max_accounts_in_flight, total))]
        for w in workers:
            w.start()
        yield messages.log("info", f"source-stripe: reading {total} account(s), {len(workers)} at a time",
                           {"accounts": total})
        running = len(workers)
        while running:
            try:
                item = self.out.get(timeout=0.2)
            except queue.Empty:
                if self.stop.is_set() and not any(w.is_alive() for w in workers):
                    return
                continue
            if item is _DONE:
                running -= 1
                continue
            if isinstance(item, ConnectorError):
                self.stop.set()
                raise item
            yield item

    # ---- one account (worker threads) --------------------------------------------------------------
    def _put(self, item: Any) -> None:
        while True:
            try:
                self.out.put(item, timeout=0.2)
                return
            except queue.Full:
                if self.stop.is_set():
                    raise Cancelled() from None

    def _worker(self, todo: queue.Queue, platform: dict, upper: int) -> None:
        try:
            while not self.stop.is_set():
                try:
                    account = todo.get_nowait()
                except queue.Empty:
                    return
                self._account(account, platform, upper)
        except Cancelled:
            pass
        except Exception as exc:  # noqa: BLE001 - a bug: end the read with a clear error, not a hang
            try:
                self._put(ConnectorError("internal_error", f"{type(exc).__name__}: {exc}",
                                         hint="this is a bug; run again with --debug"))
            except Cancelled:
                pass
        finally:
            try:
                self._put(_DONE)
            except Cancelled:
                pass

    def _account(self, account: str, platform: dict, upper: int) -> None:
        own = account == platform.get("id")
        client = self.client(None if own else account)
        client.adopt_clock(self.platform_client)
        stream_states, glob = self.state_of(account)
        run = AccountRun(account, last_global=glob, states=dict(stream_states))
        tag = account_tagger(account, partition=True)
        self._put(messages.partition_status(account, "started", total=self.total))
        who = {"id": account, "livemode": is_live_key(self.opts.api_key)} if not own else platform
        opts = replace(self.opts, account_id=None if own else account, accounts=None)
        try:
            for msg in _read(opts, client, self.streams, stream_states, glob, self.lower,
                             replace(self.mode, follow=False), self.wake, self.policy, who, upper):
                out = self._translate(run, msg)
                if out is not None:
                    self._put(tag(out))
        except ConnectorError as err:
            if err.code == "auth_failed":  # the platform's key itself: nothing can be read
                self._put(err)
                return
            self._fail(run, err)
        except StripeAPIError as err:  # a request outside the backfill (the account check, /v1/events)
            if err.status == 401:
                self._put(classify(err))
                return
            self._fail(run, classify(err))
        finally:
            with self.lock:
                self.request_count += client.request_count
            client.close()
        if self.mode.follow:
            self.follow_states[account] = (run.states, run.last_global)
        status = "failed" if run.failed else "complete"
        self._put(messages.partition_status(account, status, reason=run.failed, record_count=run.records))

    def _fail(self, run: AccountRun, err: ConnectorError) -> None:
        """The account cannot go on: its error, scoped to it; a revoked account's state is marked."""
        text = f"account {run.account}: {err.message}"
        run.failed = text
        if err.code == "account_invalid":
            run.revoked = True
            text += ("; its rows are kept and it is marked revoked in its state; the other accounts go on")
            marked = {**(run.last_global or {"account": {"id": run.account, "livemode":
                                                          is_live_key(self.opts.api_key)}, "events": []}),
                      "revoked": {"at": int(time.time()), "reason": err.code}}
            run.last_global = marked
            self._put(account_tagger(run.account, partition=True)(messages.global_state(marked)))
        self._put(messages.partition_error(run.account, err.code, text, err.retryable, err.http_status,
                                           err.request_id))

    def _translate(self, run: AccountRun, msg: dict) -> dict | None:
        """One message of an account's read as the platform's read prints it (None: not printed)."""
        kind = msg.get("type")
        if kind == "record":
            run.records += 1
            return msg
        if kind == "state":
            payload = msg["state"]
            if payload.get("state_type") == "global":
                run.last_global = payload.get("data")
            elif self.mode.follow:
                run.states[payload["stream"]] = payload.get("data")
            return msg
        if kind == "trace":
            trace = msg["trace"]
            ttype = trace.get("trace_type")
            if ttype == "stream_status":  # the platform's lifecycle is the streams' (see the docstring)
                return None
            if ttype == "error":
                return self._error(run, trace["error"])
            return msg
        if kind == "log":
            body = msg["log"]
            if body.get("level") in ("warn", "error"):
                body["message"] = f"account {run.account}: {body['message']}"
                return msg
            return None  # per-account info lines would be thousands: the partition_status says it
        if kind == "catalog":
            return None
        return msg

    def _error(self, run: AccountRun, error: dict) -> dict | None:
        text = f"account {run.account}: {error.get('message')}"
        if error.get("scope") == "stream":
            if error.get("retryable"):  # the engine runs the stream again: this account resumes it
                run.failed = text
                return messages.trace("error", {**error, "message": text})
            return messages.log("warn", f"{text}; this account's {error.get('stream')} is not read "
                                        "(the other accounts' are)", {"account": run.account,
                                                                     "stream": error.get("stream")})
        run.failed = text
        return messages.partition_error(run.account, str(error.get("code")), text,
                                        bool(error.get("retryable")), error.get("http_status"),
                                        error.get("request_id"))


def read_accounts(request: ReadRequest, opts: Options, policy: SplitPolicy) -> Iterator[dict]:
    yield from Accounts(request, opts, policy).run()
