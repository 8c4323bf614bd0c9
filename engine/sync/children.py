"""Connector executables as child processes (I/O edge of `engine sync` and `engine check`).

- Commands are strings split with shlex (`--source "python -m source_stripe"`).
- Configs, states and catalogs reach a child as a path that never touches the disk: an in-memory file
  (`memfd`) passed as `/dev/fd/N`. Secrets therefore appear neither in files nor in `ps` output. A value
  not known yet when the child starts (the first attempt's state, still loading) is a pipe (`PipeArg`):
  the child starts up meanwhile and reads it when it arrives.
- A connector gets only what it needs of the engine's environment (`child_environment`): no variable
  holding a config secret (configs travel as files: `STRIPE_API_KEY`, `DATABASE_URL` are not needed), the
  source nothing of the database (`DATABASE_URL`, libpq's `PG*`), the destination nothing of Stripe
  (`STRIPE_*`). So the network-facing source never holds the database password, nor the destination
  the Stripe key.
- `Child` starts a process in its own process group (a terminal's Ctrl-C reaches only the engine, which
  then stops the source and lets the destination commit), collects its stderr in a thread (a bounded
  tail for error messages, each line passed to a callback, redacted) and stops the whole group.
- `run_child` runs a short command (`check`, `discover`, `state`) and returns its protocol messages.
"""
from __future__ import annotations

import io
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.adapters.base import who
from engine.adapters.protocols import SourceProtocol
from engine.sync.outcome import exit_text
from protocol.errors import ConfigError, ConnectorError
from protocol.jsonio import dumps
from protocol.reader import Line, iter_lines
from protocol.secrets import redact_text, registered_secrets
from protocol.state import normalize

STDERR_TAIL_LINES = 20
STDERR_LINE_CHARS = 2000


def split_command(cmd: str, option: str) -> list[str]:
    try:
        argv = shlex.split(cmd)
    except ValueError as exc:
        raise ConfigError(f"{option}: cannot parse command {cmd!r}: {exc}") from None
    if not argv:
        raise ConfigError(f"{option}: empty command")
    return argv


# Variables a connector of each role never sees (a name, or a prefix ending in "*").
WITHHELD = {"source": ("DATABASE_URL", "PG*"), "destination": ("STRIPE_*",)}
MIN_EMBEDDED_SECRET = 8  # a secret this long inside a value (a URL holding the password) hides it too


def child_environment(role: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a `role` connector: the engine's, without what `WITHHELD` names for the role
    and without any variable whose value is, or holds, a registered secret (pure but for `os.environ`)."""
    environ = os.environ if environ is None else environ
    names = [n for n in WITHHELD.get(role, ()) if not n.endswith("*")]
    prefixes = tuple(n[:-1] for n in WITHHELD.get(role, ()) if n.endswith("*"))
    secrets = registered_secrets()
    embedded = [s for s in secrets if len(s) >= MIN_EMBEDDED_SECRET]
    return {name: value for name, value in environ.items()
            if name not in names and not name.startswith(prefixes) and value not in secrets
            and not any(s in value for s in embedded)}


def resolve_command(cmd: str, option: str) -> list[str]:
    """Split a command; a bare default name not on PATH is looked up beside this Python (the venv)."""
    argv = split_command(cmd, option)
    if "/" not in argv[0] and shutil.which(argv[0]) is None:
        sibling = Path(sys.executable).parent / argv[0]
        if sibling.exists():
            argv[0] = str(sibling)
    return argv


class ArgFile:
    """JSON for a child's `--config/--state/--catalog`, as an in-memory file path `/dev/fd/N`."""

    def __init__(self, obj: Any, name: str = "arg"):
        data = dumps(obj)
        self.fd: int | None = None
        self.pass_fds: tuple[int, ...] = ()
        try:
            fd = os.memfd_create(f"stripe-sync-{name}")
        except (AttributeError, OSError):  # not Linux: inline JSON (visible in ps; configs only come here)
            self.path = data.decode()
            return
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        self.fd, self.path, self.pass_fds = fd, f"/dev/fd/{fd}", (fd,)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class PipeArg:
    """JSON for a child's argument that is not known yet: the read end of a pipe as `/dev/fd/N`. The
    child blocks reading it until `send(obj)` writes it and closes the pipe (from a thread: a big value
    fills the pipe until the child reads). `close()` without a send: the child reads an empty file
    (a usage error, never an empty state), so stop the child first."""

    def __init__(self, name: str = "arg"):
        self.name = name
        self._read, self._write = os.pipe()
        self.path, self.pass_fds = f"/dev/fd/{self._read}", (self._read,)

    def started(self) -> None:
        """The child has its copy of the read end."""
        self._close_read()

    def send(self, obj: Any) -> None:
        data, fd = dumps(obj), self._write
        self._write = -1

        def write() -> None:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            except OSError:
                pass  # the child is gone: it reads nothing
            finally:
                os.close(fd)
        threading.Thread(target=write, name=f"{self.name}-pipe", daemon=True).start()

    def _close_read(self) -> None:
        if self._read >= 0:
            os.close(self._read)
            self._read = -1

    def close(self) -> None:
        self._close_read()
        if self._write >= 0:
            os.close(self._write)
            self._write = -1


class Child:
    """One connector process: stdout piped, stdin piped or closed, stderr collected."""

    def __init__(self, name: str, argv: list[str], arg_files: Sequence[ArgFile | PipeArg],
                 stdin: bool = False, on_stderr: Callable[[str, str], None] | None = None):
        self.name = name
        self.tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.on_stderr = on_stderr
        pass_fds = tuple(fd for f in arg_files for fd in f.pass_fds)
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=pass_fds,
                                         process_group=0, env=child_environment(name))
        except OSError as exc:
            raise ConnectorError(f"{name}_failed" if name in ("source", "destination") else "internal_error",
                                 f"cannot start the {name} {argv[0]!r}: {exc.strerror}",
                                 hint="check the command (--source / --destination) and your PATH") from None
        self._stderr_thread = threading.Thread(target=self._read_stderr, name=f"{name}-stderr", daemon=True)
        self._stderr_thread.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in iter(self.proc.stderr.readline, b""):
            text = redact_text(raw.decode("utf-8", errors="replace").rstrip("\r\n"))[:STDERR_LINE_CHARS]
            if not text.strip():
                continue
            self.tail.append(text)
            if self.on_stderr is not None:
                self.on_stderr(self.name, text)

    def stderr_tail(self, lines: int = 5) -> str:
        self._stderr_thread.join(timeout=1.0)
        return " | ".join(list(self.tail)[-lines:])

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM the process group, SIGKILL it after `grace` seconds; returns the exit code."""
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            if self.wait(grace) is None:
                self._signal_group(signal.SIGKILL)
        elif grace > 0:
            self._signal_group(signal.SIGTERM)  # leftovers of the group, if any
        return self.wait(10.0)

    def send_signal(self, sig: int) -> bool:
        """Signal the process itself (not its group) while it runs; False when it has ended."""
        if self.proc.poll() is not None:
            return False
        try:
            self.proc.send_signal(sig)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> int | None:
        self._signal_group(signal.SIGKILL)
        return self.wait(10.0)


@dataclass
class ChildResult:
    code: int | None
    messages: list[dict]
    stderr: str
    timed_out: bool = False
    stdout: bytes = b""

    def error(self) -> dict | None:
        """The first trace error (or failed connection_status error) the child printed."""
        for msg in self.messages:
            if msg.get("type") == "trace" and msg["trace"].get("trace_type") == "error":
                return msg["trace"].get("error")
            status = msg.get("connection_status") if msg.get("type") == "connection_status" else None
            if isinstance(status, dict) and isinstance(status.get("error"), dict):
                return status["error"]
        return None

    def first(self, kind: str) -> dict | None:
        return next((m[kind] for m in self.messages if m.get("type") == kind
                     and isinstance(m.get(kind), dict)), None)


def run_child(name: str, argv: list[str], arg_files: list[ArgFile], timeout: float = 120.0) -> ChildResult:
    """Run a short connector command; parse the protocol messages it prints."""
    child = Child(name, argv, arg_files)
    timed_out: list[bool] = []

    def on_timeout() -> None:
        timed_out.append(True)
        child.kill()

    timer = threading.Timer(timeout, on_timeout)
    timer.start()
    try:
        assert child.proc.stdout is not None
        stdout = child.proc.stdout.read()  # short commands print little (a catalog at most)
        code = child.wait(timeout)
    finally:
        timer.cancel()
    msgs = [item.message for item in iter_lines(io.BytesIO(stdout)) if isinstance(item, Line)]
    return ChildResult(code, msgs, child.stderr_tail(), bool(timed_out), stdout)


def describe_failure(name: str, result: ChildResult) -> str:
    err = result.error()
    text = f"{name} {exit_text(result.code)}"
    if result.timed_out:
        text += " (timed out)"
    if err:
        text += f": [{err.get('code')}] {err.get('message')}"
    elif result.stderr:
        text += f": {result.stderr}"
    return text


RETRYABLE_CODES = frozenset({"network"})


def child_error(result: ChildResult, default_code: str, message: str) -> ConnectorError:
    """The error of a failed short command, keeping the code and retryability the child reported: a
    network or connection failure (code `network`, or `retryable: true`) stays retryable; a config the
    child refused (exit 2 with `invalid_config`) is a `ConfigError`, the engine's own usage error."""
    err = result.error() or {}
    code = err["code"] if isinstance(err.get("code"), str) else default_code
    if result.code == 2 and code == "invalid_config":
        raise ConfigError(message)
    retryable = err.get("retryable") is True or code in RETRYABLE_CODES
    return ConnectorError(code, message, retryable=retryable)


def optional_command(name: str, argv: list[str], files: list[ArgFile]) -> ChildResult | None:
    """Run a command a connector may lack (docs/protocol.md): its result, or None when it is not there
    (exit 2 without an error message: a click usage error, "No such command")."""
    result = run_child(name, argv, files, timeout=120.0)
    if result.code == 2 and result.error() is None:
        return None
    return result


def optional_object(name: str, argv: list[str], files: list[ArgFile], key: str) -> tuple[bool, dict | None]:
    """(supported, the JSON object it printed that has `key`) of an optional command (None: printed
    none, or failed: the caller shows what it has without it)."""
    result = optional_command(name, argv, files)
    if result is None:
        return False, None
    printed = next((m for m in reversed(result.messages) if isinstance(m.get(key), dict)), None)
    return True, printed if result.code == 0 else None


def destination_state(argv: list[str], config: ArgFile) -> tuple[bool, dict | None]:
    """(supported, state) from `<destination> state --config C`.

    Exit 0: supported, the printed object is the state. Exit 2 without an error message: the command
    does not exist (click usage error), so unsupported. Anything else is an error (ConnectorError).
    """
    result = optional_command("destination", argv + ["state", "--config", config.path], [config])
    if result is None:
        return False, None
    if result.code == 0:
        printed = next((m for m in reversed(result.messages) if "streams" in m or "global" in m), None)
        if printed is None and not result.messages:
            return True, None
        state = normalize(printed)
        if state is None:
            raise ConnectorError("destination_failed",
                                 "`destination state` printed no aggregate state object")
        return True, state
    raise child_error(result, "destination_failed",
                      "cannot load the confirmed state: " + describe_failure("`destination state`", result))


def discover(argv: list[str], config: ArgFile, protocol: SourceProtocol | None = None) -> dict:
    """The catalog payload from `<source> discover --config C` (or the command form of the source's
    protocol, its output translated to ours)."""
    protocol = protocol or SourceProtocol()
    name = who("source", protocol.name, argv)
    result = run_child("source", protocol.discover_argv(argv, config.path), [config])
    catalog, result.messages = protocol.discovered(result.stdout, name)
    if result.code != 0 or catalog is None or not isinstance(catalog.get("streams"), list):
        raise child_error(result, "source_failed",
                          "cannot list the source's streams: " + describe_failure(f"`{name} discover`",
                                                                                  result))
    return catalog


def singer_catalog_flag(argv: list[str]) -> str:
    """`--catalog`, or `--properties` for an older Singer tap whose `--help` offers only that."""
    result = run_child("source", argv + ["--help"], [], timeout=60.0)
    text = result.stdout.decode("utf-8", "replace") + result.stderr
    return "--properties" if "--properties" in text and "--catalog" not in text else "--catalog"
