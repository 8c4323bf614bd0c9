"""Ctrl-C of a hand pipeline (`source-stripe read | engine | destination-postgres write`, the README's
form) is an interruption, never an `internal_error`: each part says it was interrupted and how to
resume, what was committed stays, and the same pipeline run again from `destination-postgres state`
ends with the table equal to the emulator's data."""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time

from tests.e2e.test_sync_kill import ROOT, table_rows

PY = shlex.quote(sys.executable)


def pipeline(tmp_path, src: dict, dst: dict, state: bool) -> subprocess.Popen:
    s, d = shlex.quote(json.dumps(src)), shlex.quote(json.dumps(dst))
    resume = f' --state "$({PY} -m destination_postgres state --config {d})"' if state else ""
    cmd = (f"{PY} -m source_stripe read --config {s}{resume} 2>{tmp_path}/source.err "
           f"| {PY} -m engine --progress none 2>{tmp_path}/engine.err | tee -i {tmp_path}/engine.out "
           f"| {PY} -m destination_postgres write --config {d} >{tmp_path}/confirmed.jsonl "
           f"2>{tmp_path}/destination.err; echo ${{PIPESTATUS[@]}} >{tmp_path}/codes")
    # SIGINT as a terminal delivers it: a test run started in the background (`cmd &` without job
    # control) ignores SIGINT, and its children would inherit that and never see the Ctrl-C
    return subprocess.Popen(["bash", "-c", cmd], cwd=ROOT, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_ctrl_c_of_a_hand_pipeline_is_an_interruption_and_a_rerun_resumes(pg_url, pg_schema, tmp_path):
    from stripe_emulator import start_emulator

    with start_emulator({"dataset": {"customers": 6000}, "seed": 3}) as emu:
        src = {"api_key": emu.api_key, "base_url": emu.url, "max_requests_per_second": 10,
               "streams": ["customers"]}  # about 6 s of pages: Ctrl-C lands in the middle
        dst = {"url": pg_url, "schema": pg_schema}
        proc = pipeline(tmp_path, src, dst, state=False)
        # let a few pages commit (watched in the table itself), then press Ctrl-C (the whole process group)
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None and \
                len(table_rows(pg_url, pg_schema, "customers")) < 300:
            time.sleep(0.05)
        assert proc.poll() is None, "the pipeline ended before the interrupt: nothing to test"
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
        err = {part: (tmp_path / f"{part}.err").read_text() for part in ("source", "engine", "destination")}
        engine_out = (tmp_path / "engine.out").read_text()  # what the engine sent down the pipe
        everything = "".join(err.values()) + engine_out + (tmp_path / "confirmed.jsonl").read_text()
        assert "internal_error" not in everything and "Traceback" not in everything, err
        assert json.loads(engine_out.splitlines()[-1])["type"] == "eof"  # it ended the stream properly
        assert "interrupted; what the destination committed is kept: resume with" in err["source"], err
        assert "interrupted; what was committed is kept: resume with" in err["destination"], err
        assert "interrupted by SIGINT" in err["engine"] or "output pipe closed" in err["engine"], err
        codes = (tmp_path / "codes").read_text().split()  # source, engine, tee, destination
        assert codes[0] == codes[3] == "130", codes
        committed = len(table_rows(pg_url, pg_schema, "customers"))
        assert 0 < committed < 6000

        rerun = pipeline(tmp_path, {**src, "max_requests_per_second": 100}, dst, state=True)
        assert rerun.wait(timeout=180) == 0, {p: (tmp_path / f"{p}.err").read_text() for p in err}
        assert (tmp_path / "codes").read_text().split() == ["0", "0", "0", "0"]
        rows = table_rows(pg_url, pg_schema, "customers")
        truth = {o["id"]: o for o in emu.dump("customers")["objects"]}
        assert {k: raw for k, (raw, _) in rows.items()} == truth
