"""A scripted protocol source for engine tests (stdlib only, fast to start).

    fake_source.py read --config C [--state S] [--catalog K] [--follow]
    fake_source.py discover --config C | check --config C

Config: {"streams": {"customers": 30, ...} (records per stream), "page": 5 (records per state),
"run_dir": dir (attempt counter and a log of each attempt's start offsets), "behaviour": [one object
per attempt, the last repeats]}. A behaviour may hold: "fail_after": N records then "how": exit1 |
garbage | hang | transient | auth | sigkill; "stream_error": {"stream": s, "retryable": false} (that
stream errors instead of reading); "sleep": seconds between records; "stderr": a line for stderr;
"fail_at_stream": s (fail "how" at the first record of stream s); "bump": true (like the real source
on every run: a global state whose events cursor only moves `checked_at`, and for each finished
stream a state whose `accounted_range.lt` follows the new upper bound; no records); "snapshot": true
(every stream read is bracketed by `snapshot` markers of a whole-stream scope). It has no `confirm`
command (exit 2, like a connector without it).
Config "fail_discover": true makes `discover` fail with a network error; "env_file": path appends the
command and the environment it was started with as one JSON line.
Record i of stream s has id "s_0000i" and created t0 + i. Config "state_format" picks how states look:
"windows" (default, source-stripe's time-window checkpoint: `remaining` says where to resume) or
"tokens" (a format the engine has never seen: `{"page_token": "p<i>", "position": i}` per stream, a
`{"watermark": ...}` global state), to show that the engine's progress and restart decisions never
read a state. Either way a resumed stream announces what is already done with `range_complete`, as the
protocol asks of a source.
"""
import json
import os
import signal
import sys
import time

T0 = 1_600_000_000


def arg(name, default=None):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def load(value):
    if value is None:
        return None
    return json.loads(value) if value.lstrip().startswith("{") else json.load(open(value))


def out(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def now_ms():
    return int(time.time() * 1000)


def trace(kind, payload):
    out({"type": "trace", "trace": {"trace_type": kind, kind: payload, "emitted_at": now_ms()}})


def catalog_of(names):
    return {"streams": [{"name": n, "json_schema": {"type": "object"}, "primary_key": [["id"]],
                         "cursor_field": ["created"], "supports_time_range": True, "metadata": {}}
                         for n in names]}


def state_data(fmt, total, next_index, bumped=None):
    if fmt == "tokens":
        data = {"page_token": f"p{next_index}", "position": next_index}
        return data if bumped is None else {**data, "refreshed": bumped}
    lt = T0 + total if bumped is None else bumped
    remaining = [] if next_index >= total else [{"gte": T0 + next_index, "lt": T0 + total, "cursor": None}]
    return {"accounted_range": {"gte": T0, "lt": lt}, "remaining": remaining}


def start_of(fmt, data, total):
    """Where a stream resumes: the index of its next record."""
    if not data:
        return 0
    if fmt == "tokens":
        return data["position"]
    remaining = data.get("remaining")
    return total if remaining == [] else remaining[0]["gte"] - T0


def global_data(fmt, attempt, bump):
    if fmt == "tokens":
        return {"watermark": T0 + 1000 + attempt} if bump else {"checkpoint": {"seq": attempt}}
    return {"events_cursor": {"created": T0, "seen": [], "checked_at": T0 + 1000 + attempt}} if bump \
        else {"events_cursor": attempt}


def main():
    command = sys.argv[1]
    config = load(arg("--config"))
    if config.get("env_file"):  # what the engine lets it see
        with open(config["env_file"], "a") as f:
            f.write(json.dumps({"command": command, "env": dict(os.environ)}) + "\n")
    streams = config["streams"]
    if command == "check":
        out({"type": "connection_status",
             "connection_status": {"status": "succeeded", "message": "fake source ok"}})
        return 0
    if command == "discover":
        if config.get("fail_discover"):
            trace("error",
                  {"scope": "global", "code": "network", "retryable": True, "message": "connection refused"})
            return 1
        out({"type": "catalog", "catalog": catalog_of(streams)})
        return 0
    if command != "read":
        print(f"fake source: unknown command {command!r}", file=sys.stderr)
        return 2
    run_dir = config["run_dir"]
    counter = os.path.join(run_dir, "attempts")
    attempt = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
    with open(counter, "w") as f:
        f.write(str(attempt))
    started = os.path.join(run_dir, f"started-{attempt}")
    with open(started + ".tmp", "w") as f:  # before the state is read; whole once it exists
        f.write(repr(time.time()))
    os.replace(started + ".tmp", started)
    behaviours = config.get("behaviour") or [{}]
    b = behaviours[min(attempt, len(behaviours)) - 1]
    state = load(arg("--state")) or {}
    catalog = load(arg("--catalog"))
    names = [s["name"] for s in catalog["streams"]] if catalog else list(streams)
    unknown = [n for n in names if n not in streams]
    if unknown:  # like a real source: a usage error naming them, exit 2
        trace("error", {"scope": "global", "code": "invalid_config", "retryable": False,
                        "message": f"unknown stream(s) {', '.join(unknown)}"})
        print(f"fake source: unknown stream(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    fmt = config.get("state_format", "windows")
    starts = {name: start_of(fmt, (state.get("streams") or {}).get(name), streams[name]) for name in names}
    with open(os.path.join(run_dir, "log.jsonl"), "a") as f:
        f.write(json.dumps({"attempt": attempt, "starts": starts, "catalog": names,
                            "follow": "--follow" in sys.argv}) + "\n")
    if b.get("stderr"):
        print(b["stderr"], file=sys.stderr, flush=True)
    out({"type": "catalog", "catalog": catalog_of(names)})
    if b.get("bump"):
        out({"type": "state", "state": {"state_type": "global", "data": global_data(fmt, attempt, True)}})
    emitted, page = 0, config.get("page", 5)
    for n, name in enumerate(names):
        total = streams[name]
        span = {"gte": T0, "lt": T0 + total}
        trace("stream_status", {"stream": name, "status": "started", "time_range": span,
                                "request_count": attempt * 100 + n})
        err = b.get("stream_error")
        if err and err["stream"] == name:
            trace("error", {"scope": "stream", "stream": name, "code": err.get("code", "permission_denied"),
                            "retryable": bool(err.get("retryable")), "message": f"no access to {name}"})
            trace("stream_status", {"stream": name, "status": "complete"})
            continue
        i = starts[name]
        snapshot_id = f"{name}@{attempt}"
        if b.get("snapshot"):
            trace("snapshot", {"stream": name, "phase": "begin", "id": snapshot_id,
                               "scope": {"kind": "stream"}})
        if i > 0:  # what earlier runs did, announced as the protocol asks
            trace("stream_status",
                  {"stream": name, "status": "started", "range_complete": {"gte": T0, "lt": T0 + i}})
        old = (state.get("streams") or {}).get(name)
        if b.get("bump") and i >= total and old:
            bumped = attempt if fmt == "tokens" else old["accounted_range"]["lt"] + 1
            out({"type": "state", "state": {"state_type": "stream", "stream": name,
                                            "data": state_data(fmt, total, i, bumped)}})
        while i < total:
            if b.get("fail_at_stream") == name:
                return fail(b["how"])
            if "fail_after" in b and emitted >= b["fail_after"]:
                return fail(b["how"])
            out({"type": "record", "record": {"stream": name, "emitted_at": now_ms(), "updated_at": T0,
                                              "data": {"id": f"{name}_{i:05d}", "created": T0 + i, "n": i}}})
            emitted += 1
            i += 1
            if b.get("sleep"):
                time.sleep(b["sleep"])
            if i % page == 0 or i == total:
                out({"type": "state", "state": {"state_type": "stream", "stream": name,
                                                "data": state_data(fmt, total, i)}})
                trace("stream_status", {"stream": name, "status": "started",
                                        "range_complete": {"gte": T0 + i - ((i - 1) % page) - 1,
                                                           "lt": T0 + i}})
        if b.get("snapshot"):
            trace("snapshot", {"stream": name, "phase": "end", "id": snapshot_id})
        trace("stream_status", {"stream": name, "status": "complete"})
    out({"type": "state", "state": {"state_type": "global", "data": global_data(fmt, attempt, False)}})
    if "--follow" in sys.argv and b.get("follow_hang"):
        time.sleep(3600)
    return 0


def fail(how):
    if how == "exit1":
        print("fake source: simulated crash", file=sys.stderr, flush=True)
        return 1
    if how == "garbage":
        sys.stdout.write("<html>502 Bad Gateway</html>\n")
        sys.stdout.flush()
        time.sleep(30)
        return 0
    if how == "hang":
        time.sleep(3600)
    if how == "transient":
        trace("error",
              {"scope": "transient", "code": "network", "retryable": True, "message": "connection reset"})
        return 1
    if how == "auth":
        trace("error",
              {"scope": "global", "code": "auth_failed", "retryable": False, "message": "Invalid API key"})
        return 1
    if how == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    return 1


if __name__ == "__main__":
    sys.exit(main())
