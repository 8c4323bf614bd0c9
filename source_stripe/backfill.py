"""Drive the planners of many streams concurrently and emit their messages in a safe order.

A bounded pool of worker threads takes page requests from the active streams and makes the HTTP calls
through the shared client (rate limiter, retries). The critical path goes first, in each stream's ready
queue, across streams and at the limiter (the request's `urgency`, then its `weight`, then FIFO; see
windows.py): the walks of a dense second, then windows over unexplored time, then the other walks,
the longest first. A stream whose endpoint already has as many requests under way as its budget can
serve in one round trip yields to the others, so one stream's backlog does not hold every worker.
After each page the planner learns the `Pace` (spare budget, round trip, rate, known backlog) and splits
its windows by it. Each result is then handled
under one lock: the stream's planner takes the page, and the page's records, the stream's state
snapshot and `stream_status` traces for the time ranges it completed are queued as ONE item (a stream
resumed from a state first announces, with `range_complete`, the parts earlier runs read). A single
consumer (the caller's generator) writes items in queue order, so lines never interleave and a state
never covers a record not written before it. The queue is bounded: memory does not grow with the data.
Only the HTTP calls run outside the lock; handling a page takes well under a millisecond.

A job re-read as a snapshot (`StreamJob.snapshot`) announces it with `snapshot` `begin` right after its
`started`, names it in every stream state, and when the stream was read to its end emits `end`, the
global state `on_snapshot_end` gives (it settles the snapshot owed), and the stream state outside the
snapshot, before `complete`. A stream that ends with an error emits no `end`: the snapshot stays owed.

A job with child streams (`StreamJob.children`: invoice lines under invoices ...) reads each page's
children before the page is handled (`children.py`: the embedded lists, the nested endpoint only past a
first page that `has_more`), and emits them after the page's records, each parent's as a parent-scoped
snapshot, then every child stream's state (a copy of the parent's, `state.child_state`) and the parent's
state: one queue item, so a crash while children are paged loses only that page, read again from the
previous checkpoint. The child streams start, end and fail with their parent.

At most `max_concurrent_streams` streams are active; when one ends the next starts. A stream that cannot
be read (403, feature not enabled, endpoint unknown) ends `skipped` with its reason after a stream error;
one that fails after retries gets a stream error and ends `complete` with its checkpoint where it was.
A 401 or a bug stops the whole run (ConnectorError raised from `run`).
"""
from __future__ import annotations

import heapq
import itertools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from protocol import messages, snapshot
from protocol.errors import ConnectorError
from protocol.ranges import merge, to_wire
from source_stripe import children as kids
from source_stripe.client import Cancelled, Page, StripeClient
from source_stripe.state import child_state
from source_stripe.errors import StripeAPIError, classify, should_skip
from source_stripe.streams import Stream
from source_stripe.windows import DENSE, Key, Pace, PageRequest, PaginationError, Planner, WindowPlanner

_SEQ = itertools.count()


class ReadyQueue:
    """A stream's requests ready to go, the most urgent first (FIFO among equals)."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, float, int, PageRequest]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def extend(self, reqs: Iterable[PageRequest]) -> None:
        for r in reqs:
            heapq.heappush(self._heap, (r.urgency, -r.weight, next(_SEQ), r))

    def head(self) -> tuple[int, float, int]:
        return self._heap[0][:3]

    def pop(self) -> PageRequest:
        return heapq.heappop(self._heap)[3]

    def clear(self) -> None:
        self._heap.clear()


@dataclass
class StreamJob:
    stream: Stream
    planner: Planner
    time_range: tuple[int, int] | None = None
    done: list[tuple[int, int]] = field(default_factory=list)  # parts of time_range earlier runs read
    ready: ReadyQueue = field(default_factory=ReadyQueue)
    in_flight: int = 0
    state: str = "pending"  # pending | active | closed
    records: int = 0
    snapshot: dict | None = None  # {"id", "scope"}: this read re-reads the stream as that snapshot
    children: list[Stream] = field(default_factory=list)  # selected child streams, read with each page

    @property
    def streams(self) -> list[Stream]:
        """The streams this job reads: its child streams and itself (they start, end and fail together)."""
        return [*self.children, self.stream]

    def state_data(self) -> dict:
        """The stream state after everything handled so far (naming the snapshot it is inside)."""
        data = self.planner.snapshot()
        return {**data, "snapshot": self.snapshot["id"]} if self.snapshot else data


def request_params(stream: Stream, req: PageRequest) -> dict:
    if req.kind == "cursor" and req.limit == 0:  # not paginated: the endpoint's fixed params only
        return dict(stream.fixed_params)
    return stream.list_params(gte=req.gte, lt=req.lt, starting_after=req.starting_after,
                              ending_before=req.ending_before, limit=req.limit)


class Backfill:
    def __init__(self, client: StripeClient, jobs: list[StreamJob], max_concurrent_requests: int = 16,
                 max_concurrent_streams: int = 4, queue_items: int = 64, emit_states: bool = True,
                 on_snapshot_end: Callable[[str], list[dict]] = lambda stream: []):
        self.client, self.jobs = client, jobs
        self.emit_states, self.on_snapshot_end = emit_states, on_snapshot_end
        self.workers = max(1, max_concurrent_requests)
        self.max_streams = max(1, max_concurrent_streams)
        self.stop = client.stop  # the whole run stops (signal, global error)
        self.halt = threading.Event()  # this backfill is over: idle workers exit
        self.gone = threading.Event()  # the consumer stopped reading: blocked workers give up
        self.out: queue.Queue[list[dict] | ConnectorError | None] = queue.Queue(maxsize=queue_items)
        self.lock = threading.Condition()
        self._finished = 0
        self.threads: list[threading.Thread] = []

    def _usage(self) -> dict:
        """What every stream_status says about the requests: how many so far, and the current budget
        (requests per second; lower for a while after a 429), so a view can tell when it sets the pace."""
        return {"request_count": self.client.request_count,
                "requests_per_second_limit": round(self.client.limiter.account.current_rate, 2)}

    # ---- scheduling (self.lock held) -------------------------------------------------------------
    def _activate_next(self) -> list[dict]:
        msgs: list[dict] = []
        while sum(1 for j in self.jobs if j.state == "active") < self.max_streams:
            job = next((j for j in self.jobs if j.state == "pending"), None)
            if job is None:
                break
            job.state = "active"
            job.ready.extend(job.planner.initial_requests())
            msgs.append(messages.stream_status(job.stream.name, "started",
                                               time_range=to_wire(job.time_range) if job.time_range else None,
                                               **self._usage()))
            msgs += [messages.stream_status(c.name, "started", **self._usage()) for c in job.children]
            msgs += [messages.stream_status(job.stream.name, "started", range_complete=to_wire(r),
                                            # what earlier runs read: progress views start from it
                                            **self._usage()) for r in job.done]
            if job.snapshot is not None:
                msgs.append(messages.snapshot(job.stream.name, snapshot.BEGIN, job.snapshot["id"],
                                              job.snapshot["scope"]))
            if not job.ready:  # nothing to read (e.g. no new time since the last run)
                msgs += self._state(job)
                msgs += self._complete(job)
        return msgs

    def _state(self, job: StreamJob) -> list[dict]:
        if not self.emit_states:
            return []
        data = job.state_data()
        return [*(messages.stream_state(c.name, child_state(job.stream.name, data)) for c in job.children),
                messages.stream_state(job.stream.name, data)]

    def _complete(self, job: StreamJob) -> list[dict]:
        """A stream read to its end: the end of its snapshot (then the global state that settles it and
        the stream state outside the snapshot), then `complete`."""
        msgs: list[dict] = []
        if job.snapshot is not None:
            msgs.append(messages.snapshot(job.stream.name, snapshot.END, job.snapshot["id"]))
            msgs += self.on_snapshot_end(job.stream.name)
            job.snapshot = None
            msgs += self._state(job)
        return msgs + self._close(job)

    def _close(self, job: StreamJob, status: str = "complete", reason: str | None = None) -> list[dict]:
        job.state = "closed"
        job.ready.clear()
        self._finished += 1
        return [messages.stream_status(s.name, status, reason=reason, **self._usage())
                for s in job.streams]

    def _take(self) -> tuple[StreamJob, PageRequest] | None:
        """The next request: a dense second's walk of any stream first; else from the stream with the
        fewest requests under way for its share (`_shares`); within a stream, its own order."""
        candidates = [j for j in self.jobs if j.state == "active" and j.ready]
        if not candidates:
            return None
        slots, shares = self._endpoint_slots(), self._shares()

        def key(j: StreamJob) -> tuple:
            return (j.in_flight >= slots, j.ready.head()[0] != DENSE, j.in_flight / shares[id(j)],
                    j.ready.head())
        job = min(candidates, key=key)
        job.in_flight += 1
        return job, job.ready.pop()

    def _endpoint_slots(self) -> float:
        """Requests one endpoint's budget serves in a round trip, plus one waiting for the next token."""
        return self.client.limiter.endpoint_rate * self.client.round_trip_s + 1

    def _account_rate(self) -> float:
        return self.client.limiter.rates(self.jobs[0].stream.path)[0] if self.jobs else 1.0

    def _shares(self) -> dict[int, float]:
        """Each active stream's share of the requests the account serves in a round trip: by the work it
        has left (streams finish together, not one left alone at its endpoint's rate at the end), at
        least an equal share (the estimates count unexplored windows as one page: with less, a stream
        whose first pages showed little walked at a few requests per second until the others ran out,
        then alone at its endpoint's rate), at most what its endpoint serves."""
        active = [j for j in self.jobs if j.state == "active"]
        left = {id(j): max(1.0, j.planner.estimated_pages()) for j in active}
        total = sum(left.values())
        account = self._account_rate() * self.client.round_trip_s + 1
        slots = self._endpoint_slots()
        return {k: min(slots, max(account * v / total, account / len(active))) for k, v in left.items()}

    def _pace(self, job: StreamJob) -> Pace:
        """The budget as it stands, for the planner of `job` (see windows.Pace)."""
        active = [j for j in self.jobs if j.state == "active"]
        endpoint_rate = self.client.limiter.rates(job.stream.path)[1]
        spare = self._shares()[id(job)] - len(job.ready) - job.in_flight
        spare = min(spare, self.workers - sum(len(j.ready) + j.in_flight for j in active))
        work_s = max(sum(j.planner.estimated_pages() for j in active) / self._account_rate(),
                     job.planner.estimated_pages() / endpoint_rate)
        return Pace(max(0, int(spare)), self.client.round_trip_s, work_s)

    def _all_done(self) -> bool:
        return self._finished >= len(self.jobs)

    def _put(self, item: list[dict] | ConnectorError | None) -> None:
        """Queue one item for the consumer: messages, a global error that ends the run, or None (all done)."""
        while True:
            try:
                self.out.put(item, timeout=0.2)
                return
            except queue.Full:
                if self.stop.is_set() or self.gone.is_set():
                    raise Cancelled() from None

    # ---- workers -----------------------------------------------------------------------------------
    def _worker(self) -> None:
        try:
            while True:
                with self.lock:
                    task = self._take()
                    while task is None:
                        if self._all_done() or self.stop.is_set() or self.halt.is_set():
                            return
                        self.lock.wait(0.5)
                        task = self._take()
                job, req = task
                self._run(job, req)
        except Cancelled:
            return
        except Exception as exc:  # noqa: BLE001 - a bug: stop the run with a clear error, not a hang
            self._fail(ConnectorError("internal_error", f"{type(exc).__name__}: {exc}",
                                      hint="this is a bug; run again with --debug"))

    def _fail(self, err: ConnectorError) -> None:
        """End the run with a global error: queue it first (so it is never lost), then stop everything."""
        try:
            self._put(err)
        except Cancelled:
            pass
        self.stop.set()

    def _run(self, job: StreamJob, req: PageRequest) -> None:
        page: Page | None = None
        error: StripeAPIError | None = None
        found: list[kids.Children] = []
        try:
            page = self.client.get(job.stream.path, request_params(job.stream, req), expect_list=True,
                                   priority=(req.urgency, -req.weight))
            if job.children and req.kind != "anchor":  # no priority: first at the limiter (ends the page)
                found = kids.for_parents(self.client, job.children, page.data, page.snapshot_time)
        except StripeAPIError as err:
            if err.is_auth:
                self._fail(classify(err))
                raise Cancelled() from None
            error = err
        with self.lock:
            job.in_flight -= 1
            out = [] if job.state == "closed" else self._handle(job, req, page, error, found)
            if job.state == "active" and job.planner.done and job.in_flight == 0 and not job.ready:
                out += self._complete(job)
            if job.state == "closed":
                out += self._activate_next()
            if out:
                self._put(out)
            if self._all_done() and not self.halt.is_set():
                self._put(None)
                self.halt.set()
            self.lock.notify_all()

    def _handle(self, job: StreamJob, req: PageRequest, page: Page | None, error: StripeAPIError | None,
                found: list[kids.Children]) -> list[dict]:
        name = job.stream.name
        try:
            if error is not None and error.is_missing_cursor:
                self._schedule(job, job.planner.on_missing_cursor(req))
                return [messages.log("warn", f"{name}: the cursor object of a checkpoint no longer exists; "
                                             "re-reading that part (duplicates possible, nothing lost)")]
            if error is not None:
                status, reason = ("skipped", error.message) if should_skip(error) else ("complete", None)
                errors = [classify(error, s.name).to_message() for s in job.streams]
                return [*errors, *self._close(job, status, reason)]
            assert page is not None  # no error: a page came back
            out, new_reqs = self._on_page(job, req, page, found)
            self._schedule(job, new_reqs)
            return out
        except PaginationError as exc:
            failed = [ConnectorError("server_error", f"{name}: {exc}", scope="stream", stream=s.name)
                      for s in job.streams]
            return [*(e.to_message() for e in failed), *self._close(job)]

    @staticmethod
    def _schedule(job: StreamJob, reqs: list[PageRequest]) -> None:
        job.ready.extend(reqs)

    def _on_page(self, job: StreamJob, req: PageRequest, page: Page, found: list[kids.Children]
                 ) -> tuple[list[dict], list[PageRequest]]:
        stream, planner = job.stream, job.planner
        ts_field = stream.timestamp_field or "created"
        data = page.data
        keys: list[Key] = [(obj.get("id"), obj.get(ts_field)) if isinstance(obj, dict) else (None, None)
                           for obj in data]
        if req.kind == "anchor":
            assert isinstance(planner, WindowPlanner), "only time windows ask for anchors"
            return [], planner.on_anchor(req, keys)
        outcome = planner.on_page(req, keys, page.has_more, self._pace(job))
        a, b = outcome.emit
        emitted_at = messages.now_ms()
        out = []
        for obj in data[a:b]:
            if not isinstance(obj, dict) or not obj.get("id"):
                out.append(messages.log("warn", f"{stream.name}: skipped an object without an id"))
                continue
            out.append(messages.record(stream.name, obj, emitted_at=emitted_at,
                                       updated_at=page.snapshot_time))
            job.records += 1
        emitted = {obj.get("id") for obj in data[a:b] if isinstance(obj, dict)}
        for found_set in found:
            if found_set.parent_id in emitted:
                out += kids.child_messages(found_set, emitted_at)
        out += self._state(job)
        for r in merge(outcome.completed):
            out.append(messages.stream_status(stream.name, "started", range_complete=to_wire(r),
                                              **self._usage()))
        return out, outcome.requests

    # ---- the consumer ------------------------------------------------------------------------------
    def run(self) -> Iterator[dict]:
        """Yield every message of the backfill; raises ConnectorError on a global error."""
        with self.lock:
            first = self._activate_next()
        yield from first
        if self._all_done():
            return
        threads = self.threads = [threading.Thread(target=self._worker, name=f"source-stripe-{i}",
                                                   daemon=True)
                                  for i in range(self.workers)]
        for t in threads:
            t.start()
        try:
            while True:
                try:
                    item = self.out.get(timeout=0.2)
                except queue.Empty:
                    if self.stop.is_set():
                        return
                    continue
                if item is None:
                    return
                if isinstance(item, ConnectorError):
                    raise item
                yield from item
        finally:
            self.gone.set()
            self.halt.set()
            for t in threads:
                t.join(timeout=0.05)
