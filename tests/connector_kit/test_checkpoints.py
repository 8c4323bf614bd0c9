"""connector_kit/checkpoints.py: which checkpoints may be committed after records were lost, when a
commit is due, destination_stats on echoes, and the commit thread's job (no database involved)."""
import pytest

from connector_kit.checkpoints import Checkpoints, CommitJob, Pending, committable
from protocol import messages
from protocol.state import Stats


def pending(line_no: int, stream: str | None) -> Pending:
    key = ("global", "", "") if stream is None else ("stream", stream, "")
    return Pending(line_no, {}, key)


def test_a_lost_record_blocks_later_checkpoints_of_its_stream_and_global_ones():
    frozen = {"customers": 50}
    assert committable(pending(40, "customers"), frozen)
    assert not committable(pending(60, "customers"), frozen)
    assert committable(pending(60, "charges"), frozen)
    assert committable(pending(40, None), frozen) and not committable(pending(60, None), frozen)
    assert committable(pending(60, None), {})


def test_job_hands_back_result_or_exception():
    assert CommitJob(lambda: 42).result() == 42

    def boom():
        raise ValueError("x")

    job = CommitJob(boom)
    with pytest.raises(ValueError):
        job.result()
    assert job.done()


def test_checkpoints_schedule_commits_and_echo_their_stats():
    now, waiting = [100.0], [True]
    cp = Checkpoints(input_pending=lambda: waiting[0], clock=lambda: now[0], max_delay=1.0)
    assert not cp.add({"type": "state", "state": {"state_type": "stream"}}, 1)  # no stream name: refused
    assert cp.add(messages.stream_state("customers", {"n": 1}),
                  2) and cp.add(messages.global_state({"g": 1}), 3)
    assert not cp.commit_due()  # more input is waiting, and the oldest checkpoint is young
    now[0] += 1.0
    assert cp.commit_due()  # waited long enough
    now[0], waiting[0] = 100.0, False
    assert cp.commit_due()  # nothing waiting: never sit on a checkpoint while blocking on a read
    assert cp.freeze("charges", 9) == 9 and cp.freeze("charges", 4) == 4 and cp.freeze("charges", 7) == 4
    pending, frozen = cp.take()
    assert [p.key for p in pending] == [("stream", "customers", ""), ("global", "", "")] and not cp.pending
    assert frozen == {"charges": 4} and frozen is not cp.frozen
    cp.count("customers", Stats(inserted=2))
    cp.count("charges", Stats(updated=1))
    cp.count("customers", Stats(deleted=1))
    assert cp.echo(pending[0])["state"]["destination_stats"] == {"inserted": 2, "updated": 0, "deleted": 1,
                                                                 "unchanged": 0}
    assert cp.echo(pending[1])["state"]["destination_stats"] == {"inserted": 0, "updated": 1, "deleted": 0,
                                                                 "unchanged": 0}
    assert cp.counts == {}  # a global echo takes every stream's rows since the previous echoes
