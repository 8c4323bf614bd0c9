"""engine/sync/confirmations.py: echoes of a superseded attempt (an older `_generation`) are counted but
never applied to the confirmed state; the attempt in flight's are, and only they show its progress."""
from __future__ import annotations

import io

from engine.sync.confirmations import Confirmations
from engine.sync.confirmed import tag_state
from protocol import state as protocol_state


def echo(stream: str, data: dict, generation: int, inserted: int = 0) -> bytes:
    stats = {"inserted": inserted, "updated": 0, "deleted": 0}
    msg = {"type": "state", "state": {"state_type": "stream", "stream": stream, "data": data,
                                      "destination_stats": stats}}
    return tag_state(msg, generation)


def test_echoes_of_a_superseded_attempt_are_counted_not_applied():
    confirmations = Confirmations(protocol_state.empty(), None, lambda notice: None)
    confirmations.begin_generation(2)
    confirmations.run(io.BytesIO(
        echo("customers", {"upto": 50}, 1, inserted=3)  # attempt 1, still in flight when 2 began
        + echo("customers", {"upto": 20}, 2, inserted=0)  # attempt 2 re-read from an older point
        + echo("charges", {"upto": 9}, 1, inserted=1)))
    state, count = confirmations.snapshot()
    assert state["streams"] == {"customers": {"upto": 20}}  # the stale {"upto": 50} was never applied
    assert count == 3 and confirmations.stale == 2
    assert confirmations.stats.inserted == 4  # their rows are committed all the same: counted
    assert not confirmations.progressed(set())  # attempt 2 confirmed a change but moved no data
    confirmations.run(io.BytesIO(echo("customers", {"upto": 30}, 2, inserted=4)))
    assert confirmations.progressed(set()) and confirmations.snapshot()[0]["streams"]["customers"] == \
        {"upto": 30}
