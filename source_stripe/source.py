"""The source's operations: `check`, `discover`, `read` (glue of config, state, client, backfill, events).

`read` in order: the catalog of the streams it will read (before any network), the account identity
(`GET /v1/account`; a state made for another account or mode is refused), the run's frozen upper bound
(the server's clock, exclusive: a first run reads up to the last whole second; a run from a state waits
up to a second so that the current one is whole and included, with changes made just before it), then
the events: on a first run the events cursor is recorded in a global state
before any backfill starts; on later runs the events since the cursor are emitted (updates, deletes). Then
every stream's backfill from its state (new objects: the accounted range extended to the new upper
bound). With `follow`, events are polled every `events_poll_interval_s` until SIGINT/SIGTERM (exit 0);
SIGUSR1 (the spec's `wake_signal`, docs/protocol.md "Waking a following source") polls at once. A woken
poll reads up to the server's current second inclusive (`WAKE_LOOKAHEAD_S`): the event that caused the
wake-up may be in it. That loses nothing: the next poll starts again at the second of the newest event
emitted (`events.py`), so events created later in that second are read then.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any

from connector_kit.connector import ReadRequest
from protocol import messages
from protocol import state as protocol_state
from protocol.errors import ConfigError, ConnectorError
from source_stripe import state as st
from source_stripe.config import Options, is_live_key, options_from_config, parse_start_date
from source_stripe.backfill import Backfill, StreamJob
from source_stripe.client import Cancelled, ClientSettings, StripeClient
from source_stripe.errors import StripeAPIError, classify
from source_stripe.events import EventReader, is_expired, new_cursor
from source_stripe.rate_limit import limiter_for
from source_stripe.streams import Stream, catalog_streams, object_to_stream, registry, select_streams
from source_stripe.windows import CursorPlanner, SplitPolicy, WindowPlanner

WAKE_SIGNAL = signal.SIGUSR1
# `server_now()` is a lower bound that lags the server's clock by less than 2 s: a woken poll reads
# events up to now + 2 (exclusive), so the current second is surely included.
WAKE_LOOKAHEAD_S = 2


def make_client(opts: Options, stop: threading.Event | None = None) -> StripeClient:
    settings = ClientSettings(api_key=opts.api_key, base_url=opts.base_url, api_version=opts.api_version,
                              account_id=opts.account_id, timeout_s=float(opts.request_timeout_s),
                              max_retries=int(opts.max_retries))
    limiter = limiter_for(opts.api_key, opts.max_requests_per_second,
                          opts.max_requests_per_second_per_endpoint)
    return StripeClient(settings, limiter, stop)


def fetch_account(client: StripeClient, api_key: str, account_id: str | None = None) -> dict:
    """{"id", "livemode"} of the account the key (and Stripe-Account) reads; raises on auth errors.

    A restricted key may lack the permission to read the account (403): the id is then the configured
    `account_id` or None, and the state's account check compares what is known."""
    try:
        body = client.get("/v1/account").body
    except StripeAPIError as err:
        if err.status == 403:
            return {"id": account_id, "livemode": is_live_key(api_key)}
        raise classify(err) from None
    acct = body.get("id")
    if not isinstance(acct, str):
        raise ConnectorError("server_error", "GET /v1/account returned no account id")
    return {"id": acct, "livemode": is_live_key(api_key)}


def check(config: dict) -> str:
    opts = options_from_config(config)
    account = fetch_account(make_client(opts), opts.api_key, opts.account_id)
    mode = "live" if account["livemode"] else "test"
    who = account["id"] or "the account (this key may not read its details)"
    return f"Connected to {who} ({mode} mode)"


def discover(config: dict) -> list[dict]:
    return catalog_streams(select_streams(options_from_config(config).streams))


def selected_streams(request: ReadRequest, opts: Options) -> list[Stream]:
    if request.catalog is not None:
        names = []
        for i, entry in enumerate(request.catalog.get("streams", [])):
            name = entry.get("name") if isinstance(entry, dict) else entry
            if not isinstance(name, str):
                raise ConfigError(f"--catalog: streams[{i}] has no name")
            names.append(name)
        return select_streams(names)
    return select_streams(opts.streams)


def build_jobs(streams: list[Stream], stream_states: dict, lower: int, upper: int, policy: SplitPolicy
               ) -> list[StreamJob]:
    jobs: list[StreamJob] = []
    for s in streams:
        data = stream_states.get(s.name)
        if s.mode == "time":
            acc, windows = st.plan_time_stream(s.name, data, lower, upper)
            planner = WindowPlanner(acc, windows, policy, ending_before=s.accepts("ending_before"))
            jobs.append(StreamJob(s, planner, time_range=acc, done=protocol_state.covered(acc, windows)))
        else:
            start = st.plan_cursor_stream(s.name, data)
            cursor = CursorPlanner(start, paginated=s.paginated, limit=policy.limit)
            jobs.append(StreamJob(s, cursor))
    return jobs


class _Signals:
    """With --follow: SIGINT/SIGTERM stop the run cleanly (exit 0) instead of raising; WAKE_SIGNAL ends
    the wait for the next poll of events at once (wakes during a poll make one more poll)."""

    def __init__(self, stop: threading.Event, wake: threading.Event, enabled: bool):
        self.stop, self.wake = stop, wake
        self.saved: dict[int, Any] = {}
        self.enabled = enabled and threading.current_thread() is threading.main_thread()

    def _stop(self, *_: object) -> None:
        self.stop.set()
        self.wake.set()

    def __enter__(self) -> _Signals:
        if self.enabled:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.saved[sig] = signal.signal(sig, self._stop)
            self.saved[WAKE_SIGNAL] = signal.signal(WAKE_SIGNAL, lambda *_: self.wake.set())
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)


def read(request: ReadRequest, policy: SplitPolicy | None = None) -> Iterator[dict]:
    opts = options_from_config(request.config)
    streams = selected_streams(request, opts)
    stream_states, glob = st.split_aggregate(request.state)
    lower = parse_start_date(opts.start_date)
    follow = bool(request.options.get("follow"))
    stop, wake = threading.Event(), threading.Event()
    client = make_client(opts, stop)
    with _Signals(stop, wake, follow):  # before the catalog: a wake may come as soon as it is out
        yield messages.catalog(catalog_streams(streams))
        try:
            yield from _read(opts, client, streams, stream_states, glob, lower, wake if follow else None,
                             policy or SplitPolicy())
        except Cancelled:
            pass
        finally:
            stop.set()  # the run is over (or its reader went away): in-flight retries stop waiting
            client.close()
    yield messages.log("info",
                       f"source-stripe: {client.request_count} requests ({client.retry_count} retries)",
                       {"request_count": client.request_count, "retry_count": client.retry_count})


def _read(opts: Options, client: StripeClient, streams: list[Stream], stream_states: dict, glob: dict | None,
          lower: int, wake: threading.Event | None, policy: SplitPolicy) -> Iterator[dict]:
    """The run; `wake` is given with --follow (then events are polled until the run stops)."""
    account = fetch_account(client, opts.api_key, opts.account_id)
    st.check_account(glob, account, has_stream_states=bool(stream_states))
    upper = client.server_now()
    if glob is not None or stream_states:  # a later run: wait out the current second so that changes
        client.wait_past(upper)  # made just before it are in it (a first run starts at once)
        upper += 1
    reader = EventReader(client, registry()["events"], object_to_stream(streams))
    def state_data(events_cursor: dict) -> dict:
        return st.global_data(account, events_cursor)
    saved_cursor = st.events_cursor(glob)
    if saved_cursor is not None and (is_expired(saved_cursor, upper)
                                     or reader.seen_events_vanished(saved_cursor, upper)):
        names = [s.name for s in streams if s.name in stream_states]
        yield messages.log("warn", "the events cursor is older than Stripe's 30-day event retention: updates "
                                   "and deletes since then cannot be read; re-reading these streams in full: "
                                   + (", ".join(names) or "(none)") + ". Objects deleted meanwhile stay in "
                                   "the destination.", {"streams": names})
        stream_states = {k: v for k, v in stream_states.items() if k not in names}
        saved_cursor = None
    if saved_cursor is None:
        cursor = new_cursor(upper)
        yield messages.global_state(state_data(cursor))
    else:
        cursor = yield from _catch_up(reader, saved_cursor, upper, state_data)
    jobs = build_jobs(streams, stream_states, lower, upper, policy)
    backfill = Backfill(client, jobs, opts.max_concurrent_requests, opts.max_concurrent_streams)
    yield from backfill.run()
    if wake is None:
        return
    while True:
        woken = wake.wait(float(opts.events_poll_interval_s))
        wake.clear()
        if client.stop.is_set():
            return
        upper = client.server_now() + (WAKE_LOOKAHEAD_S if woken else 0)
        cursor = yield from _catch_up(reader, cursor, upper, state_data)


def _catch_up(reader: EventReader, cursor: dict, upper: int,
              state_data: Callable[[dict], dict]) -> Generator[dict, None, dict]:
    """Emit the events since `cursor`; returns the new cursor (unchanged when events cannot be read)."""
    latest = cursor
    try:
        for msg in reader.catch_up(cursor, upper, state_data):
            if msg["type"] == "state":
                latest = msg["state"]["data"]["events_cursor"]
            yield msg
    except StripeAPIError as err:
        if err.is_auth:
            raise classify(err) from None
        yield messages.log("warn", "events could not be read; updates and deletes were not synced this "
                                   f"time: {err.message}", {"http_status": err.status})
    return latest
