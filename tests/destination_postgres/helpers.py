"""Message builders and runners shared by the destination-postgres tests."""
from __future__ import annotations

from dataclasses import dataclass

from click.testing import CliRunner

from destination_postgres.cli import main
from protocol import messages
from protocol.jsonio import dumps, dumps_line, loads

T0 = 1_700_000_000


def catalog(**streams: dict) -> dict:
    """A catalog message; each keyword is a stream name -> its properties."""
    return messages.catalog(messages.catalog_stream(name, {"type": "object", "properties": props})
                            for name, props in streams.items())


def rec(stream: str, data: dict, updated_at: int = T0, deleted: bool = False) -> dict:
    return messages.record(stream, data, emitted_at=T0 * 1000, deleted=deleted, updated_at=updated_at)


def state(stream: str | None, data) -> dict:
    return messages.global_state(data) if stream is None else messages.stream_state(stream, data)


def encode(items) -> bytes:
    return b"".join(i if isinstance(i, bytes) else dumps_line(i) for i in items)


@dataclass
class Run:
    exit_code: int
    out: list[dict]
    stderr: str

    def of_type(self, kind: str) -> list[dict]:
        return [m[kind] for m in self.out if m.get("type") == kind]

    def states(self) -> list[dict]:
        return self.of_type("state")

    def errors(self) -> list[dict]:
        return [t["error"] for t in self.of_type("trace") if t["trace_type"] == "error"]


def run_cli(args: list[str], stdin: bytes = b"") -> Run:
    result = CliRunner().invoke(main, args, input=stdin)
    out = [loads(line) for line in result.stdout_bytes.splitlines() if line.strip()]
    return Run(result.exit_code, out, result.stderr)


def write(config: dict, items, *extra: str) -> Run:
    return run_cli(["write", "--config", dumps(config).decode(), *extra], encode(items))


def table(conn, schema: str, name: str, columns: str = "*") -> list[dict]:
    with conn.cursor() as cur:
        cur.execute(f'SELECT {columns} FROM "{schema}"."{name}" ORDER BY id')
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
