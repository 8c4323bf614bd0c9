"""The destination's options, made from a config already validated against
`specs/connectors/destination-postgres.json` (defaults applied by protocol.config.load_config)."""
from __future__ import annotations

from dataclasses import dataclass

from protocol.errors import ConfigError
from destination_postgres.identifiers import MAX_IDENTIFIER_BYTES


@dataclass(frozen=True)
class Options:
    url: str
    schema: str = "stripe"
    batch_size: int = 5000
    batch_bytes: int = 16 * 1024 * 1024
    hard_delete: bool = False
    retries: int = 4  # reconnect attempts after a lost connection, and replays of a failed transaction
    lock_wait_seconds: float = 10.0
    connect_timeout: int = 10
    max_commit_delay: float = 1.0  # longest a checkpoint waits for more input before being committed


def options_from_config(config: dict) -> Options:
    schema = config.get("schema", "stripe")
    if "\x00" in schema or len(schema.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise ConfigError(f"--config: schema: must be at most {MAX_IDENTIFIER_BYTES} bytes without NUL")
    return Options(
        url=config["url"], schema=schema, batch_size=config.get("batch_size", 5000),
        batch_bytes=config.get("batch_bytes", 16 * 1024 * 1024), hard_delete=config.get("hard_delete", False),
        retries=config.get("retries", 4), lock_wait_seconds=config.get("lock_wait_seconds", 10.0),
        connect_timeout=config.get("connect_timeout", 10))
