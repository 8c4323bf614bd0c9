"""Run the emulator as a separate process (``python -m stripe_emulator``) and wait until it is
ready: ``with spawn_emulator({"profile": "small"}) as proc: proc.url, proc.client.dump(...)``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from .client import EmulatorClient


class EmulatorProcess:
    def __init__(self, proc: subprocess.Popen[bytes], info: dict[str, Any]):
        self.proc = proc
        self.url: str = info["url"]
        self.api_key: str = info["api_key"]
        self.info = info
        self.client = EmulatorClient(self.url, self.api_key)

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def spawn_emulator(
    config: dict[str, Any] | None = None, port: int = 0, timeout: float = 30.0, python: str | None = None,
    new_session: bool = False,
) -> EmulatorProcess:
    """Start ``python -m stripe_emulator`` with ``config`` and return once it serves requests.

    ``new_session``: run it in a session of its own, so a Ctrl-C at the terminal reaches only the caller,
    which stops the emulator (``.stop()``) when it is done with it."""
    fd, ready = tempfile.mkstemp(prefix="stripe-emulator-", suffix=".json")
    os.close(fd)
    os.unlink(ready)
    cmd = [
        python or sys.executable,
        "-m",
        "stripe_emulator",
        "--port",
        str(port),
        "--ready-file",
        ready,
    ]
    if config:
        cmd += ["--config", orjson.dumps(config).decode()]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=new_session)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"stripe emulator exited with {proc.returncode}: {err}")
            if os.path.exists(ready):
                try:
                    info = orjson.loads(Path(ready).read_bytes())
                except orjson.JSONDecodeError:
                    time.sleep(0.02)
                    continue
                return EmulatorProcess(proc, info)
            time.sleep(0.02)
        proc.kill()
        raise RuntimeError("stripe emulator did not start in time")
    finally:
        if os.path.exists(ready):
            os.unlink(ready)
