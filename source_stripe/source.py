"""The source's operations: `check`, `discover`, `read` (glue of config, state, client, backfill, events).

`read` in order: the catalog of the streams it will read (before any network), the account identity
(`GET /v1/account`; a state made for another account or mode is refused), the run's frozen upper bound
(the server's clock, exclusive: a first run reads up to the last whole second; a run from a state waits
up to a second so that the current one is whole and included, with changes made just before it), then
the events: every stream gets its events position (`positions.py`; a new stream starts at the upper
bound, so its backfill and the events after it meet), the events newer than the positions are emitted
(updates, deletes), and streams whose events cannot tell what was deleted (expired, vanished, a stream
re-read in full anyway, `--sweep-deletes`) owe a snapshot (`snapshots.py`). Then every stream's backfill
from its state (new objects: the accounted range extended to the new upper bound), snapshots bracketed
by their markers. With `follow`, events are polled every `events_poll_interval_s` until SIGINT/SIGTERM
(exit 0); SIGUSR1 (the spec's `wake_signal`, docs/protocol.md "Waking a following source") polls at
once. A woken poll reads up to the server's current second inclusive (`WAKE_LOOKAHEAD_S`): the event
that caused the wake-up may be in it. That loses nothing: the next poll starts again at the second of
the newest event handled (`positions.py`), so events created later in that second are read then.
`--verify` reads neither events nor states: it lists what the state says was read.
"""
from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from connector_kit.connector import ReadRequest, retry_warnings
from protocol import messages
from protocol import state as protocol_state
from protocol.errors import ConfigError, ConnectorError
from source_stripe import snapshots
from source_stripe import state as st
from source_stripe.config import Options, is_live_key, options_from_config
from source_stripe.backfill import Backfill, StreamJob
from source_stripe.client import Cancelled, ClientSettings, StripeClient
from source_stripe.errors import StripeAPIError, classify
from source_stripe.events import EventReader
from source_stripe.positions import is_expired, new_position
from source_stripe.rate_limit import limiter_for
from source_stripe.streams import (
    ACCOUNT_FIELD, Stream, catalog_streams, children_of, object_to_stream, registry, select_streams)
from source_stripe.windows import CursorPlanner, SplitPolicy, WindowPlanner

WAKE_SIGNAL = signal.SIGUSR1
# `server_now()` is a lower bound that lags the server's clock by less than 2 s: a woken poll reads
# events up to now + 2 (exclusive), so the current second is surely included.
WAKE_LOOKAHEAD_S = 2
EVENT_WORKERS = 16  # windows of /v1/events read at once (its endpoint's 25/s at 250 ms needs about 7)


def make_client(opts: Options, stop: threading.Event | None = None,
                log: Callable[[dict], None] | None = None) -> StripeClient:
    """The run's client; `log` gets a warning before every retry's backoff (what, why, when)."""
    settings = ClientSettings(api_key=opts.api_key, base_url=opts.base_url, api_version=opts.api_version,
                              account_id=opts.account_id, timeout_s=float(opts.request_timeout_s),
                              max_retries=int(opts.max_retries))
    limiter = limiter_for(opts.api_key, opts.max_requests_per_second,
                          opts.max_requests_per_second_per_endpoint)
    return StripeClient(settings, limiter, stop, on_retry=None if log is None else retry_warnings(log))


def fetch_account(client: StripeClient, api_key: str, account_id: str | None = None) -> dict:
    """{"id", "livemode"} of the account the key (and Stripe-Account) reads; raises on auth errors.

    A restricted key may lack the permission to read the account (403): the id is then the configured
    `account_id` or None, and the state's account check compares what is known. A configured
    `account_id` the key cannot act as (403 `account_invalid`) is a global error."""
    try:
        body = client.get("/v1/account").body
    except StripeAPIError as err:
        if err.status == 403 and not err.is_account_invalid:
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
    text = f"Connected to {who} ({mode} mode)"
    if opts.accounts == "all":  # Connect: how many accounts a read would cover
        from source_stripe.accounts import list_connected  # noqa: PLC0415 - Connect reads only
        count = sum(1 for _ in list_connected(make_client(opts)))
        text += f"; /v1/accounts lists {count:,} connected account(s), read with the platform"
    elif opts.accounts:
        text += f"; {len(opts.accounts)} account(s) configured"
    return text


def discover(config: dict) -> list[dict]:
    """The catalog: the configured streams, else every default stream and the optional child streams
    (`metadata.default` false: read only when named)."""
    names = options_from_config(config).streams
    return catalog_streams(select_streams(names) if names is not None else
                           [s for s in registry().values() if s.default or s.optional])


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


def build_jobs(streams: list[Stream], stream_states: dict, lower: int, upper: int, policy: SplitPolicy,
               owed: dict[str, dict] | None = None) -> list[StreamJob]:
    """One job per stream, from its state (or from the scope of the snapshot it owes, `owed`); child streams
    are read by their parent's job."""
    jobs: list[StreamJob] = []
    by_parent = children_of(streams)
    for s in streams:
        if s.parent is not None:
            continue
        children = by_parent.get(s.name, [])
        snapshot = (owed or {}).get(s.name)
        own = st.parent_start_state(s.name, stream_states.get(s.name), stream_states,
                                    [c.name for c in children])
        data = snapshots.start_state(s, own, snapshot)
        if s.mode == "time":
            acc, windows = st.plan_time_stream(s.name, data, lower, upper)
            planner = WindowPlanner(acc, windows, policy, ending_before=s.accepts("ending_before"))
            jobs.append(StreamJob(s, planner, time_range=acc, done=protocol_state.covered(acc, windows),
                                  snapshot=snapshot, children=children))
        else:
            start = st.plan_cursor_stream(s.name, data)
            cursor = CursorPlanner(start, paginated=s.paginated, limit=policy.limit)
            jobs.append(StreamJob(s, cursor, snapshot=snapshot, children=children))
    return jobs


def verify_jobs(streams: list[Stream], stream_states: dict, policy: SplitPolicy, token: str
                ) -> tuple[list[StreamJob], list[dict]]:
    """`read --verify`: a snapshot of what each stream's state says was read (jobs), and `skipped`
    statuses for the streams never read."""
    jobs, skipped = [], []
    for s in streams:
        data = stream_states.get(s.name)
        if s.parent is not None:  # not yet: `read --verify` re-lists parents only
            skipped.append(messages.stream_status(s.name, "skipped",
                                                  reason="child streams are not verified yet"))
            continue
        if data is None:
            skipped.append(messages.stream_status(s.name, "skipped",
                                                  reason="not synced yet: nothing to verify"))
            continue
        if s.mode == "time":
            parsed = st.parse_time_state(s.name, data)
            covered = protocol_state.covered(*parsed) if parsed else []
            windows = [{"gte": a, "lt": b, "cursor": None} for a, b in covered]
            acc = (covered[0][0], covered[-1][1]) if covered else (0, 0)
            planner: WindowPlanner | CursorPlanner = WindowPlanner(acc, windows, policy,
                                                                   ending_before=s.accepts("ending_before"))
            jobs.append(StreamJob(s, planner, time_range=acc, snapshot=snapshots.verify(s, covered, token)))
        else:
            planner = CursorPlanner(None, paginated=s.paginated, limit=policy.limit)
            jobs.append(StreamJob(s, planner, snapshot=snapshots.verify(s, [], token)))
    return jobs, skipped


class _Signals:
    """With --follow: SIGINT/SIGTERM stop the run cleanly (exit 0) instead of raising; WAKE_SIGNAL ends
    the wait for the next poll of events at once (wakes during a poll make one more poll).

    A handler runs in the main thread between two bytecodes, possibly while that thread holds the lock
    inside `stop` or `wake` (in `Event.wait` or `clear`): setting an Event there would wait for itself
    forever (the hazard of python/cpython#126434). So a handler only writes a byte to a pipe, and a
    relay thread sets the events."""

    def __init__(self, stop: threading.Event, wake: threading.Event, enabled: bool):
        self.stop, self.wake = stop, wake
        self.saved: dict[int, Any] = {}
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self._write_end: int | None = None

    def _relay(self, read_end: int) -> None:
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while data := pipe.read(64):
                if b"s" in data:
                    self.stop.set()
                self.wake.set()

    def _handler(self, byte: bytes) -> Callable[..., None]:
        def handle(*_: object) -> None:
            if self._write_end is not None:
                os.write(self._write_end, byte)
        return handle

    def __enter__(self) -> _Signals:
        if self.enabled:
            read_end, self._write_end = os.pipe()
            threading.Thread(target=self._relay, args=(read_end,), name="signals", daemon=True).start()
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.saved[sig] = signal.signal(sig, self._handler(b"s"))
            self.saved[WAKE_SIGNAL] = signal.signal(WAKE_SIGNAL, self._handler(b"w"))
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
        if self._write_end is not None:
            write_end, self._write_end = self._write_end, None
            os.close(write_end)  # the relay reads the end of the pipe and stops


@dataclass(frozen=True)
class Mode:
    """How a read goes: `follow` (keep polling events), `sweep` (re-read every time stream as a snapshot
    too), `verify` (only re-list what the state says was read, as snapshots: no events, no states)."""

    follow: bool = False
    sweep: bool = False
    verify: bool = False


def read_mode(request: ReadRequest) -> Mode:
    mode = Mode(bool(request.options.get("follow")), bool(request.options.get("sweep_deletes")),
                bool(request.options.get("verify")))
    if mode.verify and (mode.follow or mode.sweep):
        raise ConfigError("--verify cannot be combined with --follow or --sweep-deletes")
    return mode


def read(request: ReadRequest, policy: SplitPolicy | None = None) -> Iterator[dict]:
    """`read`: one account (the key's own, or `account_id`), or with `accounts` every account of a
    Connect platform (accounts.py). Every record carries `keys: {"_account_id"}` (streams.ACCOUNT_FIELD)."""
    opts = options_from_config(request.config)
    if opts.accounts is not None:
        from source_stripe.accounts import read_accounts  # noqa: PLC0415 - Connect reads only
        yield from read_accounts(request, opts, policy or SplitPolicy())
        return
    streams = selected_streams(request, opts)
    stream_states, glob = st.split_aggregate(request.state)
    lower = opts.start_date
    mode = read_mode(request)
    stop, wake = threading.Event(), threading.Event()
    client = make_client(opts, stop, request.log)
    with _Signals(stop, wake, mode.follow):  # before the catalog: a wake may come as soon as it is out
        yield messages.catalog(catalog_streams(streams, st.state_account_id(glob)))
        try:
            account = fetch_account(client, opts.api_key, opts.account_id)
            tag = account_tagger(account["id"] or opts.account_id or UNKNOWN_ACCOUNT)
            for msg in _read(opts, client, streams, stream_states, glob, lower, mode, wake,
                             policy or SplitPolicy(), account):
                yield tag(msg)
        except Cancelled:
            pass
        finally:
            stop.set()  # the run is over (or its reader went away): in-flight retries stop waiting
            client.close()
    yield messages.log("info",
                       f"source-stripe: {client.request_count} requests ({client.retry_count} retries)",
                       {"request_count": client.request_count, "retry_count": client.retry_count})


UNKNOWN_ACCOUNT = "acct_unknown"  # `_account_id` of a restricted key that may not read /v1/account


def account_tagger(account_id: str, partition: bool = False) -> Callable[[dict], dict]:
    """The messages of one account's read as they go out: every record gets `keys: {"_account_id": ...}`
    (the account is part of the object's key, not of the object: `data` stays what Stripe returned); with
    `partition` (a multi-account read, accounts.py) its states get `partition` and its snapshots become
    that account's part of the stream (`where`, and an id of their own)."""
    def tag(msg: dict) -> dict:
        kind = msg.get("type")
        if kind == "record":
            msg["record"]["keys"] = {ACCOUNT_FIELD: account_id}
        elif partition and kind == "state":
            msg["state"]["partition"] = account_id
        elif partition and kind == "trace" and msg["trace"].get("trace_type") == "snapshot":
            marker = msg["trace"]["snapshot"]
            marker["id"] = f"{marker['id']}~{account_id}"
            if isinstance(marker.get("scope"), dict):
                marker["scope"] = {**marker["scope"], "where": {ACCOUNT_FIELD: account_id}}
        return msg
    return tag


def _read(opts: Options, client: StripeClient, streams: list[Stream], stream_states: dict, glob: dict | None,
          lower: int, mode: Mode, wake: threading.Event, policy: SplitPolicy, account: dict,
          frozen_upper: int | None = None) -> Iterator[dict]:
    """The run of one account (`account`: {"id", "livemode"}, fetched); with `mode.follow` events are
    polled until the run stops (at once when `wake` is set). `frozen_upper`: the upper bound, when the
    caller chose it (several accounts read with the same one)."""
    st.check_account(glob, account, has_stream_states=bool(stream_states))
    upper = frozen_upper if frozen_upper is not None else client.server_now()
    if frozen_upper is None:
        if glob is not None or stream_states:  # a later run: wait out the current second so that changes
            client.wait_past(upper)  # made just before it are in it (a first run starts at once)
            upper += 1
    token = secrets.token_hex(3)
    if mode.verify:
        jobs, skipped = verify_jobs(streams, stream_states, policy, token)
        yield from skipped
        yield from Backfill(client, jobs, opts.max_concurrent_requests, opts.max_concurrent_streams,
                            emit_states=False).run()
        return
    state = st.GlobalState(account, st.parse_positions(glob, stream_states), st.parse_snapshots(glob))
    by_name = {s.name: s for s in streams}
    parents = [s for s in streams if s.parent is None]  # child streams follow their parent's position
    lost: dict[str, str] = {}  # stream -> why its events cannot tell what was deleted

    def owe(name: str, why: str) -> None:
        lost[name] = why
        state.owe(name, snapshots.new(by_name[name], lower, upper, token))

    for s in parents:
        pos = state.positions.get(s.name)
        if pos is not None and not is_expired(pos, upper):
            continue
        state.positions[s.name] = new_position(upper)  # a new stream starts here; a lost one owes a snapshot
        if pos is not None:
            owe(s.name, f"its events position (checked {_when(pos.get('checked_at', pos['created']))}) is "
                        "older than Stripe's 30-day event retention")
        elif s.name in stream_states:
            owe(s.name, "its state has no events position")
    reader = EventReader(client, registry()["events"], object_to_stream(streams), children_of(streams),
                         workers=min(opts.max_concurrent_requests, EVENT_WORKERS))

    def on_vanished(name: str, ids: list[str]) -> None:
        owe(name, f"events it had already seen ({', '.join(ids[:3])}) are no longer listed by /v1/events "
                  "(Stripe dropped them before the 30 days we assume)")

    names = [s.name for s in parents]
    events_error = yield from _catch_up(reader, state, names, upper, on_vanished)
    for s in parents:
        if s.name not in state.owed and snapshots.routine(s, stream_states.get(s.name), mode.sweep):
            state.owe(s.name, snapshots.new(s, lower, upper, token))
    if lost:
        yield messages.log("warn", _lost_text(lost), {"streams": sorted(lost), "reasons": lost})
    yield state.message()
    jobs = build_jobs(streams, stream_states, lower, upper, policy, state.owed)
    backfill = Backfill(client, jobs, opts.max_concurrent_requests, opts.max_concurrent_streams,
                        on_snapshot_end=state.settle)
    yield from backfill.run()
    if events_error is not None:
        yield events_error
    if not mode.follow:
        return
    while True:
        woken = wake.wait(float(opts.events_poll_interval_s))
        wake.clear()
        if client.stop.is_set():
            return
        upper = client.server_now() + (WAKE_LOOKAHEAD_S if woken else 0)
        error = yield from _catch_up(reader, state, names, upper, on_vanished)
        if error is not None:
            yield error


def _when(t: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t))


def _lost_text(lost: dict[str, str]) -> str:
    by_reason: dict[str, list[str]] = {}
    for name, why in sorted(lost.items()):
        by_reason.setdefault(why, []).append(name)
    parts = [f"{', '.join(names)}: {why}" for why, names in by_reason.items()]
    return ("updates and deletes since the last run cannot be read from events for " + "; ".join(parts)
            + ". Re-reading these streams in full as a snapshot: rows of objects Stripe no longer lists are "
            "confirmed by retrieve and then tombstoned; rows only hidden by a list filter are kept.")


def _catch_up(reader: EventReader, state: st.GlobalState, streams: list[str], upper: int,
              on_vanished: Callable[[str, list[str]], None]) -> Generator[dict, None, dict | None]:
    """Emit the events since the streams' positions; returns the error to report when events could not be
    listed, else None. The positions stay where the last chunk put them, so nothing is skipped: a passing
    failure (5xx, network, after the retries) is `transient` (the engine runs the source again), one that
    will not pass (no permission, an unknown URL) a global error: updates and deletes cannot be synced."""
    try:
        yield from reader.catch_up(state, streams, upper, on_vanished)
    except StripeAPIError as err:
        if err.is_auth:
            raise classify(err) from None
        error = classify(err)
        text = (f"events could not be listed ({error.message}): updates and deletes of {', '.join(streams)} "
                "since their events positions were not synced; the positions stay where they were")
        if error.retryable:
            return ConnectorError(error.code, text + ", so the next attempt reads them", scope="transient",
                                  retryable=True, http_status=error.http_status,
                                  request_id=error.request_id).to_message()
        return ConnectorError(error.code, text + "; give the key read access to Events",
                              http_status=error.http_status, request_id=error.request_id).to_message()
    return None
