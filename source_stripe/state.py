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

Global: `{"events_cursor": {"created", "seen", "checked_at"} | null, "account": {"id", "livemode"}}`.
A state made for another account or mode is refused (`state_mismatch`), never silently reused.

`describe` says what a state covers in words (the `describe` command, docs/protocol.md): the engine
reads no state, so `engine status` asks the source.
"""
from __future__ import annotations

from typing import Any

from protocol import ranges
from protocol import state as protocol_state
from protocol.errors import ConfigError, ConnectorError
from protocol.ranges import Range


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
    cur = glob.get("events_cursor")
    if cur is None:
        return
    if not isinstance(cur, dict) or isinstance(cur.get("created"),
                                               bool) or not isinstance(cur.get("created"), int):
        raise _bad_global("global.events_cursor",
                          "must be {\"created\": int, \"seen\": [...], \"checked_at\": int}")
    seen = cur.get("seen")
    if seen is not None and (not isinstance(seen, list) or not all(isinstance(i, str) for i in seen)):
        raise _bad_global("global.events_cursor.seen", "must be a list of event ids")
    checked = cur.get("checked_at")
    if checked is not None and (isinstance(checked, bool) or not isinstance(checked, int)):
        raise _bad_global("global.events_cursor.checked_at", "must be an integer (Unix seconds)")


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


def events_cursor(global_data: dict | None) -> dict | None:
    cur = (global_data or {}).get("events_cursor")
    if cur is None:
        return None
    if not isinstance(cur, dict) or not isinstance(cur.get("created"), int):
        raise ConfigError("--state: global.events_cursor must be {\"created\": int, \"seen\": [...], ...}")
    return cur


def global_data(account: dict, cursor: dict | None) -> dict:
    return {"events_cursor": cursor, "account": account}


def describe(state: Any) -> dict:
    """The words of `source-stripe describe` about an aggregate state (docs/protocol.md, `describe`): per
    stream what it covers and whether that is complete, and how current the events cursor is."""
    streams, glob = split_aggregate(state)
    out: dict[str, Any] = {}
    for name, data in streams.items():
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
    description: dict[str, Any] = {"streams": out, "global": None}
    if glob:
        account = glob.get("account") or {}
        who = f"account {account.get('id') or '(id not readable with this key)'} " \
              f"({'live' if account.get('livemode') else 'test'} mode)"
        events = events_cursor(glob)
        if events is None:
            description["global"] = {"text": f"{who}; no events cursor yet"}
        else:
            as_of = events.get("checked_at", events["created"])
            description["global"] = {"as_of": as_of,
                                     "text": f"{who}; updates and deletes read from /v1/events"}
    return description
