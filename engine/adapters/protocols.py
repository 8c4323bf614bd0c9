"""How the connectors of each protocol are invoked (pure; docs/third-party.md, "Command forms").

A `SourceProtocol` builds a source's `read` and `discover` command lines, turns our catalog and
aggregate state into what that command takes (`catalog_arg`, `state_arg`), parses what `discover`
printed and makes the translator for its output (None for ours: no translation, the fast path). A
`DestinationProtocol` builds the `write` command and makes the translator for the destination's
input and output. The commands, per protocol:

    native   read: S read --config C --state S [--catalog K]   discover: S discover --config C
             write: D write --config C
    airbyte  read: S read --config C --catalog K [--state S]   discover: S discover --config C
             write: D write --config C --catalog K   (K: the configured catalog)
    singer   read: S --config C --catalog K [--state S]         discover: S --config C --discover
             write: D --config C

An older Singer tap takes `--properties K` instead of `--catalog K` (`SingerSource(catalog_flag=...)`).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from engine.adapters import airbyte, singer
from engine.adapters.base import DestinationTranslator, ForeignMessageError, SourceTranslator
from protocol.jsonio import JSONDecodeError, loads
from protocol.reader import Line, iter_lines

SOURCE_PROTOCOLS = ("native", "airbyte", "singer")
DESTINATION_PROTOCOLS = ("native", "airbyte", "singer")


def _file_lines(stdout: bytes) -> list[dict]:
    return [item.message for item in iter_lines(io.BytesIO(stdout)) if isinstance(item, Line)]


@dataclass(frozen=True)
class SourceProtocol:
    name: str = "native"

    @property
    def foreign(self) -> bool:
        return self.name != "native"

    def read_argv(self, cmd: list[str], config: str, catalog: str | None, state: str | None) -> list[str]:
        argv = cmd + ["read", "--config", config]
        if state is not None:
            argv += ["--state", state]
        return argv + (["--catalog", catalog] if catalog is not None else [])

    def discover_argv(self, cmd: list[str], config: str) -> list[str]:
        return cmd + ["discover", "--config", config]

    def catalog_arg(self, streams: list[dict]) -> Any:
        return {"streams": streams}

    def state_arg(self, aggregate: dict) -> Any:
        return aggregate

    def translator(self, who: str, streams: list[str]) -> SourceTranslator | None:
        return None

    def discovered(self, stdout: bytes, who: str) -> tuple[dict | None, list[dict]]:
        """Our catalog payload from what `discover` printed (None: no catalog in it), and all it printed
        as our messages (its errors explain a failure; for `check`, its connection status)."""
        translator = self.translator(who, [])
        ours: list[dict] = []
        for msg in _file_lines(stdout):
            try:
                ours += translator.translate(msg) if translator is not None else [msg]
            except ForeignMessageError:
                continue
        catalog = next((m["catalog"] for m in ours if m.get("type") == "catalog"
                        and isinstance(m.get("catalog"), dict)), None)
        return catalog, ours


@dataclass(frozen=True)
class AirbyteSource(SourceProtocol):
    name: str = "airbyte"

    def read_argv(self, cmd: list[str], config: str, catalog: str | None, state: str | None) -> list[str]:
        assert catalog is not None  # an Airbyte read always takes a configured catalog
        return cmd + ["read", "--config", config, "--catalog", catalog] + (
            ["--state", state] if state is not None else [])

    def catalog_arg(self, streams: list[dict]) -> Any:
        return airbyte.configured_catalog(streams)

    def state_arg(self, aggregate: dict) -> Any:
        return airbyte.state_input(aggregate)

    def translator(self, who: str, streams: list[str]) -> SourceTranslator | None:
        return airbyte.SourceTranslator(who, streams)


@dataclass(frozen=True)
class SingerSource(SourceProtocol):
    name: str = "singer"
    catalog_flag: str = "--catalog"  # or "--properties" (older taps)

    def read_argv(self, cmd: list[str], config: str, catalog: str | None, state: str | None) -> list[str]:
        assert catalog is not None  # a tap selects streams only through its catalog
        return cmd + ["--config", config, self.catalog_flag, catalog] + (
            ["--state", state] if state is not None else [])

    def discover_argv(self, cmd: list[str], config: str) -> list[str]:
        return cmd + ["--config", config, "--discover"]

    def catalog_arg(self, streams: list[dict]) -> Any:
        return singer.tap_catalog(streams)

    def state_arg(self, aggregate: dict) -> Any:
        return singer.state_input(aggregate)

    def translator(self, who: str, streams: list[str]) -> SourceTranslator | None:
        return singer.SourceTranslator(who, streams)

    def discovered(self, stdout: bytes, who: str) -> tuple[dict | None, list[dict]]:
        try:
            return singer.to_catalog(loads(stdout)), []  # one JSON document, often pretty-printed
        except (JSONDecodeError, ForeignMessageError):
            return None, []


@dataclass(frozen=True)
class DestinationProtocol:
    name: str = "native"

    @property
    def foreign(self) -> bool:
        return self.name != "native"

    @property
    def needs_catalog(self) -> bool:
        """Whether `write` takes the catalog on its command line (so it must be known first)."""
        return False

    def write_argv(self, cmd: list[str], config: str, catalog: str | None) -> list[str]:
        return cmd + ["write", "--config", config]

    def catalog_arg(self, streams: list[dict]) -> Any:
        return {"streams": streams}

    def translator(self, who: str) -> DestinationTranslator | None:
        return None


@dataclass(frozen=True)
class AirbyteDestination(DestinationProtocol):
    name: str = "airbyte"

    @property
    def needs_catalog(self) -> bool:
        return True

    def write_argv(self, cmd: list[str], config: str, catalog: str | None) -> list[str]:
        assert catalog is not None
        return cmd + ["write", "--config", config, "--catalog", catalog]

    def catalog_arg(self, streams: list[dict]) -> Any:
        return airbyte.configured_catalog(streams)

    def translator(self, who: str) -> DestinationTranslator | None:
        return airbyte.DestinationWriter(who)


@dataclass(frozen=True)
class SingerDestination(DestinationProtocol):
    name: str = "singer"

    def write_argv(self, cmd: list[str], config: str, catalog: str | None) -> list[str]:
        return cmd + ["--config", config]

    def translator(self, who: str) -> DestinationTranslator | None:
        return singer.TargetWriter(who)


def source_protocol(name: str, singer_catalog_flag: str = "--catalog") -> SourceProtocol:
    if name == "airbyte":
        return AirbyteSource()
    if name == "singer":
        return SingerSource(catalog_flag=singer_catalog_flag)
    return SourceProtocol()


def destination_protocol(name: str) -> DestinationProtocol:
    return {"airbyte": AirbyteDestination(), "singer": SingerDestination()}.get(name, DestinationProtocol())


def detect(msg: dict) -> str:
    """`airbyte`, `singer` or `native` for a source's first message (auto-detection in pipe mode)."""
    if airbyte.is_airbyte(msg):
        return "airbyte"
    if singer.is_singer(msg):
        return "singer"
    return "native"


def native_catalog(catalog: dict | None) -> tuple[dict | None, str | None]:
    """A `--catalog` as our catalog payload, and the protocol whose shape it had (None: ours)."""
    if catalog is None:
        return None, None
    if airbyte.is_catalog(catalog):
        return airbyte.to_catalog(catalog), "airbyte"
    if singer.is_catalog(catalog):
        return singer.to_catalog(catalog), "singer"
    return catalog, None
