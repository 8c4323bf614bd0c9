"""Events positions per stream, evidence-only "vanished", snapshots and `confirm`, against the emulator
(in-process `read`; the destination side is tests/destination_postgres/test_snapshots.py and the whole
path tests/e2e/test_completeness.py)."""
from __future__ import annotations

import subprocess
import sys

from protocol.jsonio import dumps, loads
from tests.source_stripe.conftest import REPO, aggregate_state, ids, read, records, src_config, traces, truth

DATA = {"profile": "small", "dataset": {"customers": 60, "invoices": 40, "subscriptions": 20,
                                        "checkout_sessions": 12}}
ALL = ["customers", "invoices", "subscriptions"]


def snapshots(msgs: list[dict], stream: str | None = None) -> list[dict]:
    return [t for t in traces(msgs, "snapshot") if stream is None or t["stream"] == stream]


def warnings(msgs: list[dict]) -> list[str]:
    return [m["log"]["message"] for m in msgs if m["type"] == "log" and m["log"]["level"] == "warn"]


def test_a_subset_run_never_skips_the_events_of_the_streams_it_did_not_read(emulator):
    emu = emulator(DATA)
    state = aggregate_state(read(emu, ALL))
    changes = emu.scatter_changes({"invoices": {"update": 3, "delete": 3}, "customers": {"update": 2}},
                                  seed=3)
    changed_invoices = {c["id"] for c in changes if c["resource"] == "invoices"}
    subset = read(emu, ["customers"], state=state)
    assert {r["stream"] for r in records(subset)} == {"customers"}
    state = aggregate_state(subset, state)
    by_stream = {s: g for g in state["global"]["events"] for s in g["streams"]}
    assert by_stream["customers"] != by_stream["invoices"]  # only the position of customers moved
    full = read(emu, ALL, state=state)
    assert {r["data"]["id"] for r in records(full, "invoices")} == changed_invoices
    assert {r["data"]["id"] for r in records(full, "invoices") if r.get("deleted")} == \
        {c["id"] for c in changes if c["resource"] == "invoices" and c["op"] == "delete"}
    assert records(full, "customers") == []  # their events were handled by the subset run
    assert not warnings(full)


def test_a_state_of_the_previous_version_gives_every_synced_stream_its_cursor(emulator):
    emu = emulator({**DATA, "start_time": 1_700_000_000})
    read(emu, ALL)  # the objects exist; the state below is what the previous version wrote after this
    now = emu.now()
    legacy = {"streams": {"customers": {"accounted_range": {"gte": 0, "lt": now}, "remaining": []},
                          "invoices": {"accounted_range": {"gte": 0, "lt": now}, "remaining": []}},
              "global": {"events_cursor": {"created": now, "seen": [], "checked_at": now},
                         "account": {"id": emu.account_id, "livemode": False}}}
    victim = sorted(truth(emu, "invoices"))[0]
    emu.delete("invoices", victim)
    msgs = read(emu, ALL, state=legacy)
    assert [r["data"]["id"] for r in records(msgs, "invoices") if r.get("deleted")] == [victim]
    assert not snapshots(msgs, "invoices") and not warnings(msgs)  # migrated, not reset
    glob = aggregate_state(msgs, legacy)["global"]
    assert "events_cursor" not in glob
    assert {s for g in glob["events"] for s in g["streams"]} == set(ALL)
    assert set(ids(msgs, "subscriptions")) == truth(emu, "subscriptions")  # never read: a new stream


def test_vanished_only_on_evidence_and_never_by_retrieving_an_event(emulator):
    emu = emulator(DATA)
    state = aggregate_state(read(emu, ["customers"]))
    emu.update("customers", sorted(truth(emu, "customers"))[0], {"name": "x"})
    state = aggregate_state(read(emu, ["customers"], state=state), state)
    seen = state["global"]["events"][0]["seen"]
    assert seen
    emu.set_faults(unrecognized_paths=["/v1/events/*"])  # a proxy that breaks GET /v1/events/{id}
    emu.clear_requests()
    quiet = read(emu, ["customers"], state=state)
    assert not warnings(quiet) and not snapshots(quiet)  # nothing vanished: the listing still holds them
    assert not [r for r in emu.requests() if r["path"].startswith("/v1/events/")]
    emu.drop_events(seen)  # Stripe dropped events we had seen: evidence
    msgs = read(emu, ["customers"], state=aggregate_state(quiet, state))
    [warning] = warnings(msgs)
    assert "no longer listed" in warning and "customers" in warning and "snapshot" in warning
    assert [s["phase"] for s in snapshots(msgs)] == ["begin", "end"]
    assert set(ids(msgs, "customers")) >= truth(emu, "customers")


def test_an_expired_position_owes_a_snapshot_in_the_same_state_that_moves_it_and_a_crash_resumes_it(emulator):
    emu = emulator({**DATA, "dataset": {**DATA["dataset"], "customers": 350}})
    state = aggregate_state(read(emu, ALL))
    emu.advance_clock(31 * 86400)
    cut = read(emu, ALL, state=state, cut_after=2, max_concurrent_streams=1)
    first_global = next(m["state"]["data"] for m in cut if m["type"] == "state")
    assert set(first_global["snapshots"]) == set(ALL)  # owed from the first state that moves the positions
    assert all(g["created"] > state["global"]["events"][0]["created"] for g in first_global["events"])
    [warning] = warnings(cut)
    assert "30-day" in warning and all(s in warning for s in ALL) and "snapshot" in warning
    begun = {s["stream"]: s for s in snapshots(cut) if s["phase"] == "begin"}
    scope = begun["customers"]["scope"]
    assert scope["kind"] == "range" and scope["field"] == "created" and scope["ranges"][0]["gte"] == 0
    resumed_state = aggregate_state(cut, state)
    rest = read(emu, ALL, state=resumed_state)
    assert not warnings(rest)  # not lost again: the same snapshots continue
    again = {s["stream"]: s["id"] for s in snapshots(rest) if s["phase"] == "begin"}
    assert again["customers"] == begun["customers"]["id"]
    assert {s["stream"] for s in snapshots(rest) if s["phase"] == "end"} == set(ALL)
    final = aggregate_state(rest, resumed_state)
    assert "snapshots" not in final["global"] and all("snapshot" not in d for d in final["streams"].values())
    # the order that makes a crash safe: end, then the global state that settles it, then the stream state
    kinds = [(m["type"], m.get("trace", {}).get("snapshot", {}).get("phase")) for m in rest
             if m["type"] == "state" or (m["type"] == "trace" and m["trace"]["trace_type"] == "snapshot")
             and m["trace"]["snapshot"]["stream"] == "invoices"]
    end = kinds.index(("trace", "end"))
    assert kinds[end + 1:end + 3] == [("state", None), ("state", None)]


def test_streams_without_a_time_filter_are_snapshots_every_run_and_sweep_adds_the_others(emulator):
    emu = emulator(DATA)
    state = aggregate_state(read(emu, ["checkout_sessions", "customers"]))
    msgs = read(emu, ["checkout_sessions", "customers"], state=state)
    assert [(s["stream"], s["phase"]) for s in snapshots(msgs)] == [("checkout_sessions", "begin"),
                                                                    ("checkout_sessions", "end")]
    assert snapshots(msgs)[0]["scope"] == {"kind": "stream"}
    swept = read(emu, ["checkout_sessions", "customers"], state=aggregate_state(msgs, state),
                 options={"sweep_deletes": True})
    assert {s["stream"] for s in snapshots(swept)} == {"checkout_sessions", "customers"}
    assert set(ids(swept, "customers")) == truth(emu, "customers")


def test_verify_lists_what_the_state_covers_without_events_or_states(emulator):
    emu = emulator(DATA)
    state = aggregate_state(read(emu, ["customers", "checkout_sessions"]))
    emu.update("customers", sorted(truth(emu, "customers"))[0], {"name": "changed"})
    msgs = read(emu, ["customers", "checkout_sessions", "invoices"], state=state, options={"verify": True})
    assert not [m for m in msgs if m["type"] == "state"]
    assert set(ids(msgs, "customers")) == truth(emu, "customers")
    begun = {s["stream"]: s["scope"] for s in snapshots(msgs) if s["phase"] == "begin"}
    assert begun["customers"]["ranges"] == [state["streams"]["customers"]["accounted_range"]]
    assert begun["checkout_sessions"] == {"kind": "stream"} and "invoices" not in begun
    skipped = [t for t in traces(msgs, "stream_status") if t["status"] == "skipped"]
    assert [t["stream"] for t in skipped] == ["invoices"]


def test_confirm_answers_tombstones_current_objects_and_errors(emulator):
    emu = emulator(DATA)
    cust, other = sorted(truth(emu, "customers"))[:2]
    inv = sorted(truth(emu, "invoices"))[0]
    emu.delete("customers", cust)  # a deleted stub (200, deleted: true)
    emu.delete("invoices", inv)  # 404 resource_missing
    lines = [{"stream": "customers", "id": cust}, {"stream": "invoices", "id": inv},
             {"stream": "customers", "id": other}, {"stream": "customers", "id": "cus_never_existed"}]
    proc = subprocess.run([sys.executable, "-m", "source_stripe", "confirm", "--config",
                           dumps(src_config(emu)).decode()], input=b"".join(dumps(x) + b"\n" for x in lines),
                          capture_output=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = [loads(line) for line in proc.stdout.splitlines()]
    assert [m["catalog"]["streams"][0]["name"] for m in out if m["type"] == "catalog"] == ["customers",
                                                                                         "invoices"]
    got = {(r["stream"], r["data"]["id"]): r.get("deleted", False) for r in records(out)}
    assert got == {("customers", cust): True, ("invoices", inv): True, ("customers", other): False,
                   ("customers", "cus_never_existed"): True}  # 404 resource_missing
    emu.set_faults(unrecognized_paths=["/v1/customers/*"])
    proc = subprocess.run([sys.executable, "-m", "source_stripe", "confirm", "--config",
                           dumps(src_config(emu)).decode()],
                          input=b"".join(dumps(x) + b"\n" for x in lines[2:3] * 2), capture_output=True,
                          cwd=REPO, timeout=60)
    assert proc.returncode == 1
    out = [loads(line) for line in proc.stdout.splitlines()]
    assert not records(out)
    errors = traces(out, "error")
    assert errors[0]["scope"] == "stream" and "Unrecognized request URL" in errors[0]["message"]
    assert errors[-1]["scope"] == "global" and "2 of 2 delete candidates" in errors[-1]["message"]
