"""The HTTP layer: a stdlib ``ThreadingHTTPServer`` speaking HTTP/1.1 keep-alive, routing ``/_emulator``
to the control API and everything else to the Stripe API, writing each response in one send.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .wire import Request, Response

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Request Failed",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
STATIC_HEADERS = b"Server: nginx\r\nCache-Control: no-cache, no-store\r\nAccess-Control-Allow-Origin: *\r\n"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet; the request log has it
        pass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_GET

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        req = Request(
            self.command, unquote(url.path), parse_qsl(url.query, keep_blank_values=True), self.headers, body
        )
        app = self.server.app
        if req.path == "/_emulator" or req.path.startswith("/_emulator/"):
            resp = app.control_api.handle(req)
        else:
            resp = app.api.handle(req)
        if resp.delay > 0:
            time.sleep(resp.delay)
        if resp.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._write(resp)

    def _write(self, resp: Response) -> None:
        head = [
            f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Unknown')}\r\n".encode(),
            f"Date: {formatdate(self.server.app.clock.now_float(), usegmt=True)}\r\n".encode(),
            STATIC_HEADERS,
        ]
        headers = {"Content-Type": "application/json", **resp.headers}
        if self.close_connection or (self.headers.get("Connection", "").lower() == "close"):
            self.close_connection = True
            headers["Connection"] = "close"
        else:
            headers["Connection"] = "keep-alive"
        if resp.chunks is not None:
            headers["Transfer-Encoding"] = "chunked"
        else:
            headers["Content-Length"] = str(len(resp.body))
        for k, v in headers.items():
            head.append(f"{k}: {v}\r\n".encode("latin-1", "replace"))
        head.append(b"\r\n")
        w = self.wfile
        if resp.chunks is None:
            w.write(b"".join(head) + (b"" if self.command == "HEAD" else resp.body))
            return
        w.write(b"".join(head))
        for chunk in resp.chunks:
            if chunk:
                w.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        w.write(b"0\r\n\r\n")


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], app: Any):
        self.app = app
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conns_lock:
            (self._conns.add if alive else self._conns.discard)(conn)

    def close_all(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)
