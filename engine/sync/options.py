"""The options of one `engine sync` or `engine verify` run (what the CLI, a worker or a server fills in).

`mode`: `sync` (read, write, confirm the delete candidates, keep the confirmed state), `verify` (the
source re-lists what the state covers with `read --verify`, the destination compares with
`write --verify` and writes nothing; no state is forwarded or saved) or `repair` (the same with
`write --repair`, which writes the fixes)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.adapters.protocols import DestinationProtocol, SourceProtocol
from engine.processor import PipeOptions
from engine.sync.restart import RestartPolicy


@dataclass
class SyncOptions:
    source_cmd: list[str]
    source_config: dict
    destination_cmd: list[str]
    destination_config: dict
    state_file: Path | None = None
    streams: list[str] | None = None
    follow: bool = False
    sweep_deletes: bool = False  # `read --sweep-deletes`: re-read every time stream as a snapshot too
    mode: str = "sync"  # sync | verify | repair
    source_timeout: float | None = 300.0  # seconds without any source output = hang
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    pipe: PipeOptions = field(default_factory=PipeOptions)
    drain_timeout: float = 15.0  # wait for in-flight confirmations before a restart
    stop_grace: float = 5.0  # SIGTERM -> SIGKILL delay for the source
    destination_timeout: float = 600.0  # wait for the destination to finish after its stdin closes
    wake_signal: int | None = None  # the source's spec.wake_signal: `SyncRun.wake()` sends it (with follow)
    # the connectors' protocols (docs/third-party.md): ours, or Airbyte's or Singer's through an adapter
    source_protocol: SourceProtocol = field(default_factory=SourceProtocol)
    destination_protocol: DestinationProtocol = field(default_factory=DestinationProtocol)

    @property
    def verifying(self) -> bool:
        return self.mode != "sync"

    def read_args(self) -> list[str]:
        """The options of `<source> read` this run passes."""
        if self.verifying:
            return ["--verify"]
        return (["--follow"] if self.follow else []) + (["--sweep-deletes"] if self.sweep_deletes else [])

    def write_args(self) -> list[str]:
        """The options of `<destination> write` this run passes."""
        return [f"--{self.mode}"] if self.verifying else []
