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
stream a state whose `accounted_range.lt` follows the new upper bound; no records).
Config "fail_discover": true makes `discover` fail with a network error.
Record i of stream s has id "s_0000i" and created t0 + i; a stream state's `remaining` says where to
resume, as the real source's does.
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
                         "cursor_field": ["created"], "supports_time_range": True, "metadata": {}} for n in names]}


def state_data(total, next_index):
    remaining = [] if next_index >= total else [{"gte": T0 + next_index, "lt": T0 + total, "cursor": None}]
    return {"accounted_range": {"gte": T0, "lt": T0 + total}, "remaining": remaining}


def main():
    command = sys.argv[1]
    config = load(arg("--config"))
    streams = config["streams"]
    if command == "check":
        out({"type": "connection_status", "connection_status": {"status": "succeeded", "message": "fake source ok"}})
        return 0
    if command == "discover":
        if config.get("fail_discover"):
            trace("error", {"scope": "global", "code": "network", "retryable": True, "message": "connection refused"})
            return 1
        out({"type": "catalog", "catalog": catalog_of(streams)})
        return 0
    run_dir = config["run_dir"]
    counter = os.path.join(run_dir, "attempts")
    attempt = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
    with open(counter, "w") as f:
        f.write(str(attempt))
    behaviours = config.get("behaviour") or [{}]
    b = behaviours[min(attempt, len(behaviours)) - 1]
    state = load(arg("--state")) or {}
    catalog = load(arg("--catalog"))
    names = [s["name"] for s in catalog["streams"]] if catalog else list(streams)
    starts = {}
    for name in names:
        data = (state.get("streams") or {}).get(name) or {}
        remaining = data.get("remaining")
        starts[name] = streams[name] if remaining == [] else (remaining[0]["gte"] - T0 if remaining else 0)
    with open(os.path.join(run_dir, "log.jsonl"), "a") as f:
        f.write(json.dumps({"attempt": attempt, "starts": starts, "catalog": names,
                            "follow": "--follow" in sys.argv}) + "\n")
    if b.get("stderr"):
        print(b["stderr"], file=sys.stderr, flush=True)
    out({"type": "catalog", "catalog": catalog_of(names)})
    if b.get("bump"):
        out({"type": "state", "state": {"state_type": "global", "data": {
            "events_cursor": {"created": T0, "seen": [], "checked_at": T0 + 1000 + attempt}}}})
    emitted, page = 0, config.get("page", 5)
    for n, name in enumerate(names):
        total = streams[name]
        trace("stream_status", {"stream": name, "status": "started", "time_range": {"gte": T0, "lt": T0 + total},
                                "request_count": attempt * 100 + n})
        err = b.get("stream_error")
        if err and err["stream"] == name:
            trace("error", {"scope": "stream", "stream": name, "code": err.get("code", "permission_denied"),
                            "retryable": bool(err.get("retryable")), "message": f"no access to {name}"})
            trace("stream_status", {"stream": name, "status": "complete"})
            continue
        i = starts[name]
        old = (state.get("streams") or {}).get(name)
        if b.get("bump") and i >= total and old:
            out({"type": "state", "state": {"state_type": "stream", "stream": name, "data": {
                "accounted_range": {"gte": T0, "lt": old["accounted_range"]["lt"] + 1}, "remaining": []}}})
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
                                                "data": state_data(total, i)}})
                trace("stream_status", {"stream": name, "status": "started",
                                        "range_complete": {"gte": T0 + i - ((i - 1) % page) - 1, "lt": T0 + i}})
        trace("stream_status", {"stream": name, "status": "complete"})
    out({"type": "state", "state": {"state_type": "global", "data": {"events_cursor": attempt}}})
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
        trace("error", {"scope": "transient", "code": "network", "retryable": True, "message": "connection reset"})
        return 1
    if how == "auth":
        trace("error", {"scope": "global", "code": "auth_failed", "retryable": False, "message": "Invalid API key"})
        return 1
    if how == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    return 1


if __name__ == "__main__":
    sys.exit(main())
