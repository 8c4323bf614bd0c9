"""Which checkpoints may be committed after records were lost, and the commit thread's Job."""
import pytest

from destination_postgres.unit import Job, Pending, committable


def pending(line_no: int, stream: str | None) -> Pending:
    key = ("global", "") if stream is None else ("stream", stream)
    return Pending(line_no, {}, key)


def test_a_lost_record_blocks_later_checkpoints_of_its_stream_and_global_ones():
    frozen = {"customers": 50}
    assert committable(pending(40, "customers"), frozen)
    assert not committable(pending(60, "customers"), frozen)
    assert committable(pending(60, "charges"), frozen)
    assert committable(pending(40, None), frozen) and not committable(pending(60, None), frozen)
    assert committable(pending(60, None), {})


def test_job_hands_back_result_or_exception():
    assert Job(lambda: 42).result() == 42

    def boom():
        raise ValueError("x")

    job = Job(boom)
    with pytest.raises(ValueError):
        job.result()
    assert job.done()
