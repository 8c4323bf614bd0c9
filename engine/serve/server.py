"""`engine serve` as a process: uvicorn on a socket bound here (so `--port 0` works and the URL is known
before the first request), the source's wake signal read from its `spec`, a ready file for scripts.

Stopping (SIGINT/SIGTERM, handled by uvicorn) first cancels every running sync cleanly
(`Service.stop_all`), so each saves its state as `engine sync` does on Ctrl-C and the message streams
still open end with the run's `eof`; then uvicorn closes the connections and the process exits 0.
"""
from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

import uvicorn

from engine.serve.app import create_app
from engine.serve.service import ServeSettings, Service
from engine.sync.children import run_child
from engine.sync.state_store import atomic_write
from protocol.jsonio import dumps


def source_wake_signal(source_cmd: list[str]) -> int | None:
    """The signal the source's spec declares as its wake signal, or None (then it is never signalled)."""
    try:
        result = run_child("source", source_cmd + ["spec"], [], timeout=60.0)
    except Exception:  # noqa: BLE001 - a source that cannot say is one that is not woken
        return None
    spec = result.first("spec") if result.code == 0 else None
    name = spec.get("wake_signal") if spec else None
    try:
        return int(signal.Signals[name]) if isinstance(name, str) else None
    except KeyError:
        return None


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(False)
    return sock


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, service: Service):
        super().__init__(config)
        self.service = service

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await asyncio.to_thread(self.service.stop_all)  # before uvicorn waits for open responses to end
        await super().shutdown(sockets)


def serve(settings: ServeSettings, host: str, port: int, ready_file: Path | None = None,
          access_log: bool = False) -> None:
    if settings.wake_signal is None:
        settings.wake_signal = source_wake_signal(settings.source_cmd)
    service = Service(settings)
    sock = listen(host, port)
    bound = sock.getsockname()[1]
    url = f"http://{host if ':' not in host else f'[{host}]'}:{bound}"
    webhooks = "on" if service.gate is not None else "off (set STRIPE_WEBHOOK_SECRET)"
    wake = signal.Signals(settings.wake_signal).name if settings.wake_signal else "none"
    print(f"engine serve: listening on {url} (status page {url}/, webhooks {webhooks}, source wake signal "
          f"{wake})", file=sys.stderr, flush=True)
    if ready_file is not None:
        atomic_write(ready_file, dumps({"url": url}))
    config = uvicorn.Config(create_app(service), log_level="warning", access_log=access_log,
                            timeout_graceful_shutdown=30)
    for sig in (signal.SIGINT, signal.SIGTERM):  # uvicorn stops on them, then raises them again with
        signal.signal(sig, lambda *_: None)  # the handlers it found: a clean stop then exits 0
    _Server(config, service).run(sockets=[sock])
