"""What a connector supplies to the CLI scaffolding, and what its `read` / `write` receive.

A connector is plain functions in a `Connector` value (no base class): `check` returns a success message
or raises `ConnectorError`; `discover` returns catalog streams; `read` yields messages for a `ReadRequest`;
`write` yields messages (echoed states, errors, logs) for a `WriteRequest`; the optional `describe`
says in words what a state of the source covers (no network). Both requests carry `log`: a `log`
message written at once from any thread, for what happens while nothing can be yielded (a retry's
backoff); it is not ordered with the yielded messages. Library callers get a no-op. `retry_warnings(log)`
turns it into the `on_retry` of a client that retries (one warning per backoff, said while it happens).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import click

from protocol import messages
from protocol.reader import BadLine, Line

ConnectorKind = Literal["source", "destination"]
Log = Callable[[dict], None]


def retry_warnings(log: Log) -> Callable[[str, dict], None]:
    """`on_retry(text, data)` for a retrying client: each retry a `log` warning `retrying <text>`, at once."""
    return lambda text, data: log(messages.log("warn", f"retrying {text}", data))


@dataclass
class ReadRequest:
    config: dict
    catalog: dict | None  # catalog payload {"streams": [...]} or None for the default streams
    state: dict | None  # aggregate state {"streams": {...}, "global": ...} or None
    options: dict[str, Any] = field(default_factory=dict)  # extra command options (e.g. follow)
    log: Callable[[dict], None] = lambda msg: None  # see the module docstring


@dataclass
class WriteRequest:
    config: dict
    catalog: dict | None
    lines: Iterator[Line | BadLine]
    options: dict[str, Any] = field(default_factory=dict)
    # True while more input is already waiting: a commit may then wait (connector_kit.checkpoints)
    input_pending: Callable[[], bool] = lambda: False
    log: Callable[[dict], None] = lambda msg: None  # see the module docstring


@dataclass
class Connector:
    """What a connector supplies. `check` returns a success message or raises ConnectorError."""

    name: str
    version: str
    kind: ConnectorKind
    config_schema: dict
    check: Callable[[dict], str]
    discover: Callable[[dict], list[dict]] | None = None
    read: Callable[[ReadRequest], Iterable[dict]] | None = None
    write: Callable[[WriteRequest], Iterable[dict]] | None = None
    state_schema: dict | None = None
    # a source's own words about a state it made (the optional `describe` command, docs/protocol.md):
    # (config, aggregate state) -> {"streams": {name: {...}}, "global": {...} | None}
    describe: Callable[[dict, dict], dict] | None = None
    read_options: list[click.Option] = field(default_factory=list)
    write_options: list[click.Option] = field(default_factory=list)
    help: str = ""
    # a source whose `read --follow` takes this signal as "look for changes now" (docs/protocol.md, "Waking
    # a following source"); its handler must be installed before the catalog is written
    wake_signal: str | None = None
