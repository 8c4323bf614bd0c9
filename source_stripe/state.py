"""Pure transforms of the source's state (plain dicts in, plain dicts out; no I/O).

Aggregate state (what `read --state` takes): `{"streams": {name: data}, "global": data}`, read with
`protocol.state.split`.

Per stream, by the stream's mode (streams.Stream.mode):
- time: the protocol's time-window checkpoint (`protocol.state`):
  `{"accounted_range": {"gte","lt"}, "remaining": [{"gte","lt","cursor"[, "floor"]}]}`. Everything
  created in `accounted_range` minus `remaining` was emitted. While `remaining` is non-empty a resumed
  read keeps the frozen upper bound `accounted_range.lt`; a finished stream extends to the new upper
  bound of the run (`[old lt, new upper)` becomes remaining). An earlier `start_date` than the accounted
  range adds the missing older part.
- cursor / single: `{"cursor": id|null, "done": bool}`. Not done: resume after the cursor. Done: the next
  run reads the whole list again (there is no time filter to read only what is new).

  While a stream is re-read as a snapshot its state also names it: `"snapshot": "<snapshot id>"`.
- child (invoice lines ...): `{"parent": <parent stream>, "parent_state": <the parent's state data>}`, a
  copy of the parent's state written just before it. Children are read with their parent, so the
  parent's state is their position; the copy only matters when a child record could not be stored: the
  destination then stops committing the child stream's states, its copy stays behind, and the parent
  resumes from it (`parent_start_state`), so the lost child is read again.

Global: `{"account": {"id", "livemode"}, "events": [positions], "snapshots": {stream: {"id", "scope"}}}`:
- `events`: the events position of every stream that has one (`positions.py`: one position per stream,
  written grouped: `[{"streams": [...], "created", "seen", "checked_at"}]`);
- `snapshots` (left out when empty): the snapshots owed, by stream: a stream whose events were lost
  (expired, vanished) or that is re-read in full is owed a snapshot from the moment its position moves
  on, in the same global state, until the snapshot's `end` was emitted (protocol/snapshot.py).
A state written before positions existed (`"events_cursor": {"created", "seen", "checked_at"}`, one for
the account) is read as that position for every stream that has a stream state (`parse_positions`).
A state made for another account or mode is refused (`state_mismatch`), never silently reused.

`describe` says what a state covers in words (the `describe` command, docs/protocol.md): the engine
reads no state, so `engine status` asks the source.
"""
from __future__ import annotations

from typing import Any

from protocol import messages, ranges
from protocol import state as protocol_state
from protocol.errors import ConfigError, ConnectorError
from protocol.ranges import Range
from source_stripe import positions


def _bad(stream: str, why: str) -> ConfigError:
    return ConfigError(f"--state: stream {stream}: {why}",
                       hint="pass the state printed by `destination-postgres state`, or no "
                            "--state to start over")


def parse_time_state(stream: str, data: Any) -> tuple[Range, list[dict]] | None:
    """(accounted range, remaining windows) of a time stream's state, None when there is none."""
    if data is None or data == {}:
        return None
    try:
        (gte, lt), remaining = protocol_state.parse_time_window(data)
    except protocol_state.StateShapeError as exc:
        raise _bad(stream, str(exc)) from None
    windows = []
    for i, w in enumerate(remaining):
        if w.get("floor") is not None and not isinstance(w["floor"], str):
            raise _bad(stream, f"remaining[{i}].floor must be an object id or null")
        a, b = w["gte"], w["lt"]
        if a < lt and b > gte:
            windows.append({"gte": max(a, gte), "lt": min(b, lt), "cursor": w.get("cursor"),
                            **({"floor": w["floor"]} if w.get("floor") else {})})
    return (gte, lt), windows


def plan_time_stream(stream: str, data: Any, lower: int, upper: int) -> tuple[Range, list[dict]]:
    """The accounted range and windows this run reads for a time stream.

    `lower` is the configured start (0 = everything), `upper` the run's frozen upper bound."""
    parsed = parse_time_state(stream, data)
    if parsed is None:  # a start_date in the future: an empty range at start_date, never an inverted one
        return (lower,
                max(lower, upper)), ([{"gte": lower, "lt": upper, "cursor": None}] if lower < upper else [])
    (gte, lt), windows = parsed
    lt = max(lt, gte)  # an inverted range (written for a future start_date) accounts for nothing
    if windows:  # an unfinished run: keep its frozen upper bound
        new_gte = min(gte, lower)
        older = [{"gte": lower, "lt": gte, "cursor": None}] if lower < gte else []
        return (new_gte, lt), older + windows
    new_lt = max(lt, upper)
    new_gte = min(gte, lower)
    extra = [{"gte": lower, "lt": gte, "cursor": None}] if lower < gte else []
    if upper > lt:
        extra.append({"gte": lt, "lt": upper, "cursor": None})
    return (new_gte, new_lt), extra


def parse_cursor_state(stream: str, data: Any) -> tuple[str | None, bool]:
    """(cursor, done) of a cursor or single stream's state; (None, False) when there is none."""
    if data is None or data == {}:
        return None, False
    if not isinstance(data, dict) or "done" not in data:
        raise _bad(stream, "expected {\"cursor\": id|null, \"done\": bool}")
    cursor = data.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise _bad(stream, "cursor must be an object id or null")
    if not isinstance(data["done"], bool):
        raise _bad(stream, f"done must be true or false, got {data['done']!r}")
    return cursor, data["done"]


def plan_cursor_stream(stream: str, data: Any) -> str | None:
    """Where this run starts a cursor stream: after the saved cursor if unfinished, else from the top."""
    cursor, done = parse_cursor_state(stream, data)
    return None if done else cursor


def child_state(parent: str, parent_data: Any) -> dict:
    return {"parent": parent, "parent_state": parent_data}


def parent_start_state(parent: str, data: Any, stream_states: dict, child_names: list[str]) -> Any:
    """The state a parent stream resumes from: its own, unless a child stream's copy of it stayed behind
    (then that copy; several different copies: from the start, which can only re-read)."""
    behind = []
    for name in child_names:
        child = stream_states.get(name)
        if isinstance(child, dict) and child.get("parent") == parent and child.get("parent_state") != data:
            behind.append(child.get("parent_state"))
    if not behind:
        return data
    return behind[0] if all(b == behind[0] for b in behind) else None


def split_aggregate(state: Any) -> tuple[dict, dict | None]:
    """(streams, global) of an aggregate state; ({}, None) for no state."""
    streams, glob = protocol_state.split(state)
    if glob:
        _check_global(glob)
    return streams, glob


def _bad_global(where: str, why: str) -> ConfigError:
    return ConfigError(f"--state: {where} {why}",
                       hint="pass the state printed by `destination-postgres state`, or no "
                            "--state to start over")


def _check_position(where: str, pos: Any) -> None:
    if not isinstance(pos, dict) or isinstance(pos.get("created"), bool) or not isinstance(pos.get("created"),
                                                                                         int):
        raise _bad_global(where, "must be {\"created\": int, \"seen\": [...], \"checked_at\": int}")
    seen = pos.get("seen")
    if seen is not None and (not isinstance(seen, list) or not all(isinstance(i, str) for i in seen)):
        raise _bad_global(f"{where}.seen", "must be a list of event ids")
    checked = pos.get("checked_at")
    if checked is not None and (isinstance(checked, bool) or not isinstance(checked, int)):
        raise _bad_global(f"{where}.checked_at", "must be an integer (Unix seconds)")


def _check_global(glob: dict) -> None:
    """Refuse a global state of the wrong shape up front (a clear error rather than a crash later)."""
    account = glob.get("account")
    if account is not None:
        if not isinstance(account, dict):
            raise _bad_global("global.account", "must be {\"id\": \"acct_...\"|null, \"livemode\": bool}")
        if account.get("id") is not None and not isinstance(account["id"], str):
            raise _bad_global("global.account.id", "must be an account id or null")
        if account.get("livemode") is not None and not isinstance(account["livemode"], bool):
            raise _bad_global("global.account.livemode", "must be a boolean")
    if glob.get("events_cursor") is not None:  # written before positions per stream existed
        _check_position("global.events_cursor", glob["events_cursor"])
    events = glob.get("events")
    if events is not None:
        if not isinstance(events, list):
            raise _bad_global("global.events", "must be a list of positions")
        for i, group in enumerate(events):
            _check_position(f"global.events[{i}]", group)
            names = group.get("streams")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise _bad_global(f"global.events[{i}].streams", "must be a list of stream names")
    snaps = glob.get("snapshots")
    if snaps is not None:
        if not isinstance(snaps, dict):
            raise _bad_global("global.snapshots", "must be {stream: {\"id\", \"scope\"}}")
        for name, snap in snaps.items():
            if not isinstance(snap, dict) or not isinstance(snap.get("id"), str) \
                    or not isinstance(snap.get("scope"), dict):
                raise _bad_global(f"global.snapshots.{name}", "must be {\"id\": str, \"scope\": {...}}")


def check_account(global_data: dict | None, account: dict, has_stream_states: bool = False) -> None:
    """Refuse a state made for a different account or mode (`account` is {"id", "livemode"}), and stream
    checkpoints that carry no account identity at all (source-stripe always commits its global state, which
    holds the identity, before any stream checkpoint: such a state was made elsewhere, not to be trusted)."""
    saved = (global_data or {}).get("account")
    if not saved:
        if has_stream_states:
            raise ConnectorError(
                "state_mismatch",
                "the state has stream checkpoints but no account identity (global.account); "
                "refusing to reuse it, since it may belong to another account or mode",
                hint="pass the state source-stripe made for this account, or start without --state")
        return
    ids_known = saved.get("id") is not None and account.get("id") is not None
    if (ids_known
        and saved["id"] != account["id"]) or bool(saved.get("livemode")) != bool(account["livemode"]):
        mode = lambda a: "live" if a.get("livemode") else "test"  # noqa: E731
        raise ConnectorError(
            "state_mismatch",
            f"the state was made for account {saved.get('id')} ({mode(saved)} mode) but the key reads "
            f"{account['id']} ({mode(account)} mode); refusing to reuse it",
            hint="use the state of this account (another destination schema), or start without --state")


def parse_positions(global_data: dict | None, stream_states: dict) -> dict[str, dict]:
    """{stream: events position} of a global state (checked by `split_aggregate`). A state of the version
    before positions per stream (one `events_cursor` for the account) gives every stream that has a stream
    state that cursor: those streams were read up to it; the others never were."""
    glob = global_data or {}
    if glob.get("events") is not None:
        return positions.decode(glob["events"])
    legacy = glob.get("events_cursor")
    if legacy is None:
        return {}
    pos = {"created": legacy["created"], "seen": list(legacy.get("seen") or []),
           "checked_at": legacy.get("checked_at", legacy["created"])}
    return {name: dict(pos) for name in stream_states}


def parse_snapshots(global_data: dict | None) -> dict[str, dict]:
    """The snapshots owed, by stream: {stream: {"id", "scope"}}."""
    return dict((global_data or {}).get("snapshots") or {})


def global_data(account: dict, stream_positions: dict[str, dict] | None = None,
                snapshots: dict[str, dict] | None = None) -> dict:
    data: dict[str, Any] = {"account": account, "events": positions.encode(stream_positions or {})}
    if snapshots:
        data["snapshots"] = {k: snapshots[k] for k in sorted(snapshots)}
    return data


def snapshot_of(data: Any) -> str | None:
    """The id of the snapshot a stream state belongs to (None: not inside a snapshot)."""
    snap = data.get("snapshot") if isinstance(data, dict) else None
    return snap if isinstance(snap, str) else None


class GlobalState:
    """The global state of one read, kept current as the read goes (account, events positions, snapshots
    owed); `message()` is the global state message to emit after each change that must be checkpointed.
    Not thread-safe: the events reader and the backfill (under its lock) take turns."""

    def __init__(self, account: dict, stream_positions: dict[str, dict], owed: dict[str, dict]):
        self.account, self.positions, self.owed = account, stream_positions, owed

    def data(self) -> dict:
        return global_data(self.account, self.positions, self.owed)

    def message(self) -> dict:
        return messages.global_state(self.data())

    def owe(self, stream: str, snapshot: dict) -> None:
        self.owed[stream] = snapshot

    def settle(self, stream: str) -> list[dict]:
        """The snapshot owed by `stream` ended: the global state to emit right after its `end`."""
        self.owed.pop(stream, None)
        return [self.message()]


def describe(state: Any) -> dict:
    """The words of `source-stripe describe` about an aggregate state (docs/protocol.md, `describe`): per
    stream what it covers and whether that is complete, and how current the events positions are (the
    oldest, since that is how far every stream is current)."""
    streams, glob = split_aggregate(state)
    owed = parse_snapshots(glob)
    out: dict[str, Any] = {}
    for name, data in streams.items():
        if isinstance(data, dict) and "parent_state" in data:
            out[name] = {"complete": False, "text": f"read with its parent stream {data.get('parent')}"}
            continue
        if isinstance(data, dict) and "accounted_range" in data:
            parsed = parse_time_state(name, data)
            if parsed is None:
                continue
            accounted, remaining = parsed
            done = protocol_state.covered(accounted, remaining)
            left = f"; {len(remaining)} window(s) left to read" if remaining else ""
            out[name] = {"covered": ranges.list_to_wire(done), "complete": not remaining,
                         "text": f"time windows on created{left}; new objects are read incrementally"}
        else:
            cursor, complete = parse_cursor_state(name, data)
            text = "read in full (no time filter: re-read every run)" if complete else \
                f"partly read (resumes after {cursor})" if cursor else "not read yet"
            out[name] = {"complete": complete, "text": text}
        if name in owed:
            out[name]["text"] += "; owes a snapshot (a full re-read that sweeps deletes)"
    for name, data in streams.items():  # a child stream is as complete as its parent
        if isinstance(data, dict) and "parent_state" in data and data.get("parent") in out:
            out[name]["complete"] = out[data["parent"]]["complete"]
    description: dict[str, Any] = {"streams": out, "global": None}
    if glob:
        account = glob.get("account") or {}
        who = f"account {account.get('id') or '(id not readable with this key)'} " \
              f"({'live' if account.get('livemode') else 'test'} mode)"
        stream_positions = parse_positions(glob, streams)
        if not stream_positions:
            description["global"] = {"text": f"{who}; no events position yet"}
        else:
            checked = sorted({p.get("checked_at", p["created"]) for p in stream_positions.values()})
            spread = f" (streams at {len(checked)} different positions: the oldest is shown)" \
                if len(checked) > 1 else ""
            description["global"] = {"as_of": checked[0],
                                     "text": f"{who}; updates and deletes read from /v1/events{spread}"}
    return description
