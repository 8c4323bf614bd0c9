"""Transport-neutral request and response values passed between the HTTP server and the handlers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: Mapping[str, str]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        v = self.headers.get(name)
        if v is None:
            lname = name.lower()
            for k, val in self.headers.items():
                if k.lower() == lname:
                    return val
        return v

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        return orjson.loads(self.body)

    def arg(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.query:
            if k == name:
                return v
        return default


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Iterable[bytes] | None = None  # streamed with chunked transfer-encoding when set
    drop: bool = False  # close the connection without answering
    delay: float = 0.0  # seconds to wait before answering


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, orjson.dumps(data), dict(headers or {}))
