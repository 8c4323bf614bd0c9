"""The options of one `engine sync` run (what the CLI, a worker or a server fills in)."""
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
