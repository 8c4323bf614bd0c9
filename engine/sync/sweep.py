"""The last step of a sync or verify run: the source confirms the destination's delete candidates
(docs/protocol.md, "Snapshots and delete sweeps"; docs/engine.md, "Deletes beyond the event window").

`confirm_candidates` runs `<source> confirm --config C` once the read is over (so its requests never
compete with the read's: one rate budget at a time), writes one `{"stream", "id"}` line per candidate to
its stdin, and forwards what it prints: records of the run's streams go to the destination's stdin like
a read's records (a tombstone for an object gone, the current object for one that still exists); its
errors and logs go to the run's output. A source without the command (exit code 2 and no error message)
is `unsupported`: the candidates stay pending in the destination and the caller warns.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from engine.sync.children import ArgFile, Child
from engine.sync.destination import Destination
from engine.sync.output import RunOutput
from protocol.jsonio import dumps_line
from protocol.reader import BadLine, iter_lines
from protocol.validate import check_envelope


@dataclass
class ConfirmOutcome:
    asked: int = 0
    tombstones: int = 0
    live: int = 0
    errors: list[str] = field(default_factory=list)
    unsupported: bool = False

    @property
    def unanswered(self) -> int:
        return max(0, self.asked - self.tombstones - self.live)


def _feed(child: Child, candidates: dict[str, list[dict]]) -> None:
    stdin = child.proc.stdin
    assert stdin is not None
    try:
        for stream, keys in candidates.items():
            for key in keys:
                stdin.write(dumps_line({**key, "stream": stream}))
        stdin.close()
    except (BrokenPipeError, OSError, ValueError):
        pass


def confirm_candidates(source_cmd: list[str], source_config: ArgFile, candidates: dict[str, list[dict]],
                       destination: Destination, output: RunOutput) -> ConfirmOutcome:
    """Have every candidate confirmed (see the module docstring); `candidates`: stream -> row keys
    (`{"id"}`, plus the other key fields of a stream keyed by more: one `{"stream", **key}` line each)."""
    outcome = ConfirmOutcome(asked=sum(len(ids) for ids in candidates.values()))
    child = Child("source", source_cmd + ["confirm", "--config", source_config.path], [source_config],
                  stdin=True, on_stderr=output.on_stderr)
    threading.Thread(target=_feed, args=(child, candidates), name="confirm-stdin", daemon=True).start()
    assert child.proc.stdout is not None
    printed = False
    for item in iter_lines(child.proc.stdout):
        printed = True
        if isinstance(item, BadLine):
            output.event(f"source confirm printed a bad line: {item.describe()}", "warn")
            continue
        msg = item.message
        reason = check_envelope(msg)
        if reason is not None:
            output.event(f"source confirm printed a bad message: {reason}", "warn")
            continue
        kind = msg["type"]
        if kind == "record" and msg["record"]["stream"] in candidates:
            destination.write(item.raw if item.raw.endswith(b"\n") else item.raw + b"\n")
            if msg["record"].get("deleted") is True:
                outcome.tombstones += 1
            else:
                outcome.live += 1
        elif kind == "trace" and msg["trace"]["trace_type"] == "error":
            error = msg["trace"].get("error") or {}
            outcome.errors.append(f"[{error.get('code')}] {error.get('message')}")
            output.emit(msg)
        elif kind == "log":
            output.emit(msg)
    destination.flush()
    code = child.wait(60.0)
    if code is None:
        code = child.kill()
    if code == 2 and not printed:
        outcome.unsupported = True
    output.drain()
    return outcome
