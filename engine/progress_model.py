"""What the progress views show, as pure functions of a `progress` snapshot (no I/O, no terminal).

`build(snapshot)` turns a `progress` payload (docs/protocol.md, `trace` progress) into a `Model`: the
run's figures (records, rates, an ETA only where the source gave estimates, requests against the
source's budget, rows written by kind) and every stream sorted into exactly one group: `running`,
`failed` (its data may be incomplete because of an error), `skipped` (the source chose not to read it,
with a reason: never a failure), `done` or `pending`. `frame(model, width, height)` lays the model out
as at most `height` lines of at most `width` cells, dropping the least useful lines first (pending,
then done, then per-reason skip lines merged, then running rows collapsed into "... N more running"),
so the live view never draws a frame taller or wider than the terminal. Both views render these lines:
`live_view.py` with rich, `plain_view.py` as text.

`EventFilter` keeps repeated event lines (e.g. one error per stream with the same message) from
flooding the output: a message is shown once; repeats, also those that differ only by stream name,
are counted.

Partitions (the accounts of a Connect platform: `partitions` in the snapshot, engine/partitions.py) are
one tally line in the header (`accounts 950/1,000 done · 8 running · 2 failed`) and one line per failed
account named (a few; the rest counted), kept with the failures when a frame is shortened: a frame has the
same height with 2 accounts or 2,000, and so has the plain view's progress line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from protocol import ranges
from protocol.lifecycle import COMPLETE, SKIPPED, STARTED, TERMINAL

RATE_LIMITED_SHARE = 0.9  # requests at >= 90% of the source's budget: the budget sets the pace


# ---- formatting ------------------------------------------------------------------------------------
def fmt_int(n: int | float) -> str:
    return f"{int(n):,}"


def fmt_rate(r: float) -> str:
    return f"{r:,.0f}/s" if r >= 10 else f"{r:,.1f}/s"


def fmt_elapsed(ms: int | float) -> str:
    s = int(ms) // 1000
    if s < 60:
        return f"{ms / 1000:.1f}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def clip(text: str, width: int) -> str:
    """`text` cut to `width` characters, with an ellipsis when cut."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def written_text(stats: dict) -> str:
    """Rows written by kind, e.g. `new 1,200 · updated 30 · deleted 2` (destination_stats)."""
    return " · ".join(f"{label} {fmt_int(stats.get(key, 0))}"
                      for label, key in (("new", "inserted"), ("updated", "updated"), ("deleted", "deleted")))


def error_text(err: dict) -> str:
    """`[code] stream: message` (the stream only when the message does not start with it already)."""
    message, stream = str(err.get("message", "")), err.get("stream")
    where = f"{stream}: " if stream and not message.startswith(f"{stream}:") else ""
    return f"[{err.get('code', '?')}] {where}{message}"


# ---- time-range coverage ---------------------------------------------------------------------------
def coverage(stream: dict) -> float | None:
    """Share of the stream's total_range covered by its completed ranges, or None without a range."""
    span = ranges.from_wire(stream.get("total_range"))
    if span is None:
        return 1.0 if stream.get("status") == COMPLETE else None
    length = span[1] - span[0]
    if length <= 0:
        return 1.0
    done = ranges.intersect(ranges.list_from_wire(stream.get("completed_ranges")), span)
    return ranges.total_length(done) / length


def bar(stream: dict, width: int) -> str:
    """`width` cells over the stream's time range: full where read, half where partly, light otherwise."""
    total = ranges.from_wire(stream.get("total_range"))
    if total is None or total[1] <= total[0]:
        return ("█" if stream.get("status") == COMPLETE else "░") * width
    gte, lt = total
    done = ranges.list_from_wire(stream.get("completed_ranges"))
    cells = []
    for i in range(width):
        a = gte + (lt - gte) * i // width
        b = max(a + 1, gte + (lt - gte) * (i + 1) // width)
        covered = ranges.total_length(ranges.intersect(done, (a, b)))
        cells.append("█" if covered >= b - a else "▌" if covered > 0 else "░")
    return "".join(cells)


# ---- the model ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One stream as the views show it."""

    name: str
    group: str  # running | failed | skipped | done | pending
    records: int
    rate: float
    progress: dict  # the stream's progress entry (ranges for the bar)
    estimate: int | None = None
    eta_s: float | None = None
    errors: int = 0
    latest_error: str | None = None
    reason: str | None = None

    @property
    def detail(self) -> str:
        """What the row says beyond its figures: share of the estimate, ETA, errors."""
        parts = []
        if self.estimate:
            parts.append(f"{min(100, self.records * 100 // self.estimate)}% of ~{fmt_int(self.estimate)}")
        if self.eta_s is not None:
            parts.append(f"ETA {fmt_elapsed(self.eta_s * 1000)}")
        if self.errors:
            parts.append(f"{self.errors} error{'s' if self.errors > 1 else ''}: {self.latest_error}")
        return "  ".join(parts)


@dataclass
class Model:
    elapsed_ms: int = 0
    records: int = 0
    rate: float = 0.0
    eta_s: float | None = None
    stream_count: int = 0
    requests: int | None = None
    request_rate: float | None = None
    request_limit: float | None = None
    written: dict | None = None  # inserted / updated / deleted (destination_stats of this run)
    restarts: int = 0
    bad_lines: int = 0
    running: list[Row] = field(default_factory=list)
    failed: list[Row] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> streams
    done: list[Row] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    error_count: int = 0  # errors of streams still running, and global errors
    latest_error: str | None = None
    partitions: dict | None = None  # the accounts roll-up (engine/partitions.py snapshot)

    @property
    def rate_limited(self) -> bool:
        return bool(self.request_limit and self.request_rate is not None
                    and self.request_rate >= RATE_LIMITED_SHARE * self.request_limit)

    @property
    def done_count(self) -> int:
        return len(self.done) + len(self.failed) + sum(len(v) for v in self.skipped.values())

    @property
    def done_records(self) -> int:
        return sum(r.records for r in self.done)


def group_of(stream: dict) -> str:
    status = stream.get("status")
    failed = stream.get("failed")
    if failed is None:  # a snapshot without the flag: an error before the end is a failure
        failed = status == COMPLETE and bool(stream.get("errors"))
    if status in TERMINAL and failed:
        return "failed"
    if status == SKIPPED:
        return "skipped"
    if status == COMPLETE:
        return "done"
    if status == STARTED:
        return "running"
    return "pending"


def _eta(remaining: int, rate: float) -> float | None:
    return remaining / rate if rate > 0 else None


def build(snapshot: dict) -> Model:
    """The model of one progress snapshot (pure)."""
    streams: dict[str, dict] = snapshot.get("streams") or {}
    m = Model(elapsed_ms=int(snapshot.get("elapsed_ms", 0)), records=int(snapshot.get("record_count", 0)),
              rate=float(snapshot.get("window_records_per_second", snapshot.get("records_per_second", 0.0))),
              stream_count=len(streams), requests=snapshot.get("request_count"),
              request_rate=snapshot.get("requests_per_second"),
              request_limit=snapshot.get("requests_per_second_limit"),
              written=snapshot.get("destination_stats"), restarts=int(snapshot.get("restarts") or 0),
              bad_lines=int(snapshot.get("bad_message_count") or 0),
              partitions=snapshot.get("partitions") if isinstance(snapshot.get("partitions"), dict) else None)
    latest: dict | None = None
    all_estimated, remaining = True, 0
    for name, s in streams.items():
        group = group_of(s)
        errors = s.get("errors") or []
        count = int(s.get("record_count", 0))
        estimate = s.get("estimate") if isinstance(s.get("estimate"), int) else None
        rate = float(s.get("records_per_second") or 0.0)
        eta = None
        if group in ("running", "pending"):
            if estimate is None:
                all_estimated = False
            else:
                remaining += max(0, estimate - count)
                eta = _eta(max(0, estimate - count), rate) if group == "running" else None
        row = Row(name, group, count, rate, s, estimate, eta, int(s.get("error_count") or len(errors)),
                  error_text(errors[-1]) if errors else None, s.get("reason"))
        if group == "running":
            m.running.append(row)
            if errors:
                m.error_count += row.errors
                latest = errors[-1]
        elif group == "failed":
            m.failed.append(row)
        elif group == "skipped":
            m.skipped.setdefault(row.reason or "no reason given", []).append(name)
        elif group == "done":
            m.done.append(row)
        else:
            m.pending.append(name)
    for err in snapshot.get("errors") or []:
        m.error_count += 1
        latest = err
    m.latest_error = error_text(latest) if latest is not None else None
    if all_estimated and (m.running or m.pending):  # honest only when every stream left has an estimate
        m.eta_s = _eta(remaining, m.rate)
    return m


# ---- layout ------------------------------------------------------------------------------------------
Segment = tuple[str, str]  # (text, style): style "" | bold | dim | red | yellow | green


@dataclass(frozen=True)
class Line:
    """One line of a frame: text segments, or a running stream's row (`row` set)."""

    segments: tuple[Segment, ...] = ()
    row: Row | None = None

    @property
    def text(self) -> str:
        return "".join(t for t, _ in self.segments)


def _line(*segments: Segment) -> Line:
    return Line(tuple(s for s in segments if s[0]))


def header_lines(m: Model) -> list[Line]:
    """The run's figures: records, pace and rows written; streams by group; requests against the budget."""
    first = [("elapsed ", "dim"), (fmt_elapsed(m.elapsed_ms), "bold"), ("  records ", "dim"),
             (fmt_int(m.records), "bold"), (f" ({fmt_rate(m.rate)})", "")]
    if m.eta_s is not None:
        first.append((f"  ETA {fmt_elapsed(m.eta_s * 1000)}", "bold"))
    if m.written is not None:
        first.append(("  " + written_text(m.written), ""))
    if m.stream_count == 0:
        second = [("waiting for the source's catalog", "dim")]
    else:
        second = [("streams ", "dim"), (f"{m.done_count}/{m.stream_count} done", "bold")]
        if m.running:
            second.append((f" · {len(m.running)} running", ""))
        skipped = sum(len(v) for v in m.skipped.values())
        if skipped:
            second.append((f" · {skipped} skipped", ""))
        if m.failed:
            second.append((f" · {len(m.failed)} failed", "red"))
    if m.restarts:
        second.append((f"  restarts {m.restarts}", "yellow"))
    if m.bad_lines:
        second.append((f"  bad lines {fmt_int(m.bad_lines)}", "yellow"))
    lines = [_line(*first), _line(*second)]
    if m.partitions is not None:
        lines.append(_line(*accounts_segments(m.partitions)))
    if m.requests is not None:
        third = [("requests ", "dim"), (fmt_int(m.requests), "")]
        if m.request_rate is not None:
            budget = f" of {m.request_limit:g}/s" if m.request_limit else ""
            third.append((f" · {m.request_rate:,.1f}/s{budget}", ""))
        if m.rate_limited:
            third.append((" · held by the rate limit", "yellow"))
        lines.append(_line(*third))
    return lines


def accounts_segments(p: dict) -> list[Segment]:
    """`accounts 950/1,000 done · 8 running (acct_1, ...) · 2 failed`: the roll-up of the partitions."""
    total = p.get("total")
    done = fmt_int(p.get("done", 0)) + (f"/{fmt_int(total)}" if isinstance(total, int) else "")
    out: list[Segment] = [("accounts ", "dim"), (f"{done} done", "bold")]
    if p.get("running"):
        examples = ", ".join(p.get("running_examples") or [])
        more = ", ..." if p["running"] > len(p.get("running_examples") or []) else ""
        out.append((f" · {fmt_int(p['running'])} running", ""))
        if examples:
            out.append((f" ({examples}{more})", "dim"))
    if p.get("skipped"):
        out.append((f" · {fmt_int(p['skipped'])} skipped", ""))
    if p.get("failed"):
        out.append((f" · {fmt_int(p['failed'])} failed", "red"))
    return out


def accounts_text(p: dict) -> str:
    return "".join(t for t, _ in accounts_segments(p))


def failed_accounts(p: dict | None) -> list[str]:
    """One text per failed account named (a few), and how many more failed."""
    if not p:
        return []
    named = [f"account {acct}: {why}" for acct, why in sorted((p.get("failed_examples") or {}).items())]
    more = int(p.get("failed") or 0) - len(named)
    return named + ([f"... and {fmt_int(more)} more failed account(s)"] if more > 0 else [])


def _names(names: list[str]) -> str:
    return ", ".join(names)


def summary_lines(m: Model) -> dict[str, list[Line]]:
    """The collapsed lines below the running rows, by kind (the order they are drawn in)."""
    out: dict[str, list[Line]] = {"failed": [], "errors": [], "skipped": [], "done": [], "pending": []}
    for row in m.failed:
        out["failed"].append(_line((f"✗ {row.name} failed", "red"),
                                   (f": {row.latest_error}" if row.latest_error else "", "red")))
    for text in failed_accounts(m.partitions):
        out["failed"].append(_line((f"✗ {text}", "red")))
    if m.error_count:
        out["errors"].append(_line((f"! {m.error_count} error{'s' if m.error_count > 1 else ''}", "red"),
                                   (f", latest: {m.latest_error}", "red")))
    for reason, names in sorted(m.skipped.items(), key=lambda kv: kv[1]):
        out["skipped"].append(_line((f"– {len(names)} skipped", "dim"),
                                    (f" ({reason}): {_names(names)}", "dim")))
    if m.done:
        out["done"].append(_line((f"✓ {len(m.done)} done", "green"),
                                 (f" ({fmt_int(m.done_records)} records): {_names([r.name for r in m.done])}",
                                  "green")))
    if m.pending:
        out["pending"].append(_line((f"· {len(m.pending)} pending: {_names(m.pending)}", "dim")))
    return out


def _collapsed(kind: str, m: Model) -> list[Line]:
    """Several skip reasons or failures as one line."""
    if kind == "skipped":
        total = sum(len(v) for v in m.skipped.values())
        return [_line((f"– {total} skipped for {len(m.skipped)} reasons", "dim"))]
    lines = [_line((f"✗ {len(m.failed)} failed: {_names([r.name for r in m.failed])}", "red"))] \
        if m.failed else []
    if m.partitions and m.partitions.get("failed"):
        lines.append(_line((f"✗ {fmt_int(m.partitions['failed'])} account(s) failed: "
                            f"{_names(sorted(m.partitions.get('failed_examples') or {}))}", "red")))
    return lines


# How a short terminal is fitted: first shorten the summary so that every running stream gets its row
# (pending line dropped, skip reasons and failures merged into one line each); then, to keep at least
# one line about the running streams, drop the done line, the skip line, the errors, the failures.
SHORTEN = ("pending", "skipped", "failed")
DROP = ("done", "skipped", "errors", "failed")


def frame(m: Model, height: int) -> list[Line]:
    """The lines of one frame, never more than `height` (the views crop each to the terminal's width):
    the header, the running streams (as many rows as fit, then "... N more running"), then failures,
    errors, skip reasons, the done line and the pending line, shortened as `SHORTEN` and `DROP` say."""
    height = max(1, height)
    header = header_lines(m)
    if height <= len(header):
        return header[:height]
    budget = height - len(header)
    parts = summary_lines(m)
    rows = m.running

    def fits(row_lines: int) -> bool:
        return sum(len(lines) for lines in parts.values()) + row_lines <= budget

    for kind in SHORTEN:
        if fits(len(rows)):
            break
        if kind == "pending":
            parts[kind] = []
        elif len(parts[kind]) > 1:
            parts[kind] = _collapsed(kind, m)
    for kind in DROP:
        if fits(min(1, len(rows))):
            break
        parts[kind] = []
    room = max(0, budget - sum(len(lines) for lines in parts.values()))
    shown = len(rows) if len(rows) <= room else max(0, room - 1)
    body = [Line(row=r) for r in rows[:shown]]
    if shown < len(rows):
        rest = [r.name for r in rows[shown:]]
        body.append(_line((f"… {len(rest)} {'more ' if shown else ''}running: {_names(rest)}", "dim")))
    return (header + body + [line for lines in parts.values() for line in lines])[:height]


# ---- repeated event lines ------------------------------------------------------------------------------
class EventFilter:
    """Shows each distinct event line once; counts repeats. Lines that differ only by a stream name count
    as repeats too (e.g. the same error for every Issuing stream)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], int] = {}
        self._names: re.Pattern[str] | None = None
        self._known: tuple[str, ...] = ()

    def learn_streams(self, names: list[str]) -> None:
        known = tuple(sorted(names, key=len, reverse=True))
        if known != self._known:
            self._known = known
            self._names = re.compile("|".join(rf"\b{re.escape(n)}\b" for n in known)) if known else None

    def key(self, text: str) -> str:
        return self._names.sub("<stream>", text) if self._names is not None else text

    def admit(self, text: str, level: str) -> bool:
        """True the first time a line (up to stream names) is seen at this level."""
        k = (level, self.key(text))
        self._seen[k] = self._seen.get(k, 0) + 1
        return self._seen[k] == 1

    def repeated(self) -> int:
        """How many lines were not shown because they repeated an earlier one."""
        return sum(n - 1 for n in self._seen.values())
