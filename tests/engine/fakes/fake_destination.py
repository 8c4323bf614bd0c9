"""A protocol destination for engine tests (stdlib only): a JSON file stands for the database.

    fake_destination.py write --config C     (stdin: messages; stdout: echoed states)
    fake_destination.py state --config C     (prints the stored aggregate state)
    fake_destination.py check --config C

Config: {"db": path, "no_state_command": bool (behave like a destination without `state`),
"fail_after_states": N (exit 1 after committing N states), "fail_check": bool, "state_error": code
(`state` fails with that error code, as destination-postgres does when the database is unreachable),
"no_stats": bool (echo states without destination_stats, as destinations of other projects do),
"env_file": path (append the command and its environment as one JSON line), "crash_stays": bool
(after a fail_after_states crash every later `write` exits 1 at once, a disk that stays full),
"state_delay": seconds (`state` takes that long, then notes when it printed in `<db>.state-printed`),
"state_waits_for": path (`state` answers, with its error if any, only once that file exists, at most
after 20 s: orders it after another process's step without guessing a delay)}.
Records are buffered and committed with each state, atomically, together with the state (as
destination-postgres does); each state is echoed after its commit with every payload key kept plus
destination_stats.
"""
import json
import os
import sys
import time


def arg(name):
    value = sys.argv[sys.argv.index(name) + 1]
    return json.loads(value) if value.lstrip().startswith("{") else json.load(open(value))


def load_db(path):
    if not os.path.exists(path):
        return {"tables": {}, "state": {"streams": {}, "global": None}}
    return json.load(open(path))


def save_db(path, db):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(db, f)
    os.replace(tmp, path)


def main():
    command, config = sys.argv[1], arg("--config")
    if config.get("env_file"):  # what the engine lets it see
        with open(config["env_file"], "a") as f:
            f.write(json.dumps({"command": command, "env": dict(os.environ)}) + "\n")
    if command == "state":
        if config.get("no_state_command"):
            print("Usage: fake_destination.py [OPTIONS] COMMAND\nError: No such command 'state'.",
                  file=sys.stderr)
            return 2
        wait_for, deadline = config.get("state_waits_for"), time.monotonic() + 20
        while wait_for and not os.path.exists(wait_for) and time.monotonic() < deadline:
            time.sleep(0.02)
        if config.get("state_error"):
            code = config["state_error"]
            print(json.dumps({"type": "trace", "trace": {"trace_type": "error", "emitted_at": 0, "error": {
                "scope": "global", "code": code, "retryable": code == "network",
                "message": f"cannot connect to the fake db ({code})"}}}))
            return 1
        if config.get("state_delay"):
            time.sleep(config["state_delay"])
            with open(config["db"] + ".state-printed", "w") as f:
                f.write(repr(time.time()))
        print(json.dumps(load_db(config["db"])["state"]))
        return 0
    if command == "check":
        ok = not config.get("fail_check")
        status = {"status": "succeeded", "message": "fake db reachable"} if ok else {
            "status": "failed", "message": "cannot connect to the fake db",
            "error": {"scope": "global", "code": "network", "retryable": True, "message": "refused"}}
        print(json.dumps({"type": "connection_status", "connection_status": status}))
        return 0 if ok else 1
    db_path, pending, committed_states = config["db"], [], 0
    if config.get("crash_stays") and os.path.exists(db_path + ".crashed"):
        print("fake destination: disk still full", file=sys.stderr, flush=True)
        return 1
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["type"] == "record":
            pending.append(msg["record"])
        elif msg["type"] == "state":
            db = load_db(db_path)
            stats = {"inserted": 0, "updated": 0, "deleted": 0}
            for rec in pending:
                table = db["tables"].setdefault(rec["stream"], {})
                stats["updated" if rec["data"]["id"] in table else "inserted"] += 1
                table[rec["data"]["id"]] = rec["data"]
            payload = msg["state"]
            if payload["state_type"] == "global":
                db["state"]["global"] = payload["data"]
            else:
                db["state"]["streams"][payload["stream"]] = payload["data"]
            save_db(db_path, db)
            pending = []
            echo = payload if config.get("no_stats") else {**payload, "destination_stats": stats}
            print(json.dumps({"type": "state", "state": echo}), flush=True)
            committed_states += 1
            if config.get("fail_after_states") and committed_states >= config["fail_after_states"]:
                print("fake destination: disk full", file=sys.stderr, flush=True)
                open(db_path + ".crashed", "w").close()
                return 1
    if pending:  # end of input: commit the tail (no state to echo)
        db = load_db(db_path)
        for rec in pending:
            db["tables"].setdefault(rec["stream"], {})[rec["data"]["id"]] = rec["data"]
        save_db(db_path, db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
