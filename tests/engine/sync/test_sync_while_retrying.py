"""`engine sync` with the real connectors while Stripe cannot be reached: every backoff of the source is
one line on the human output while it happens (`--progress plain`, and the live view on a terminal),
never a secret in it; and the connectors the engine started (read from /proc while they run) hold only
what they need of its environment: the source nothing of the database, the destination not the key."""
from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.engine.conftest import ROOT, child_env
from tests.engine.test_live_view_terminal import ESCAPES

KEY = "sk_test_whileRetrying0123456789abc"
PG_PASSWORD = "Pg-Pa55word-not-for-the-source"
PROXY_PASSWORD = "Pr0xy-Pa55word-in-the-url"
RETRY = re.compile(r"source: retrying GET /v1/account: network \(cannot reach 127\.0\.0\.1:\d+ "
                   r"\([^)]*\)\); retry (\d+) of 8 in \d+\.\ds")


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def sync_argv(pg_schema: str, tmp_path: Path, progress: str) -> tuple[list[str], dict]:
    # a base URL with a user-info (a proxy's credentials, not a field marked secret): never in a line
    argv = [sys.executable, "-m", "engine", "sync", "--stripe-base-url",
            f"http://proxy:{PROXY_PASSWORD}@127.0.0.1:{dead_port()}",
            "--schema", pg_schema, "--streams", "customers", "--progress", progress, "--output", "none"]
    return argv, {**child_env(), "STRIPE_API_KEY": KEY, "STRIPE_SYNC_STATE_DIR": str(tmp_path),
                  "PGPASSWORD": PG_PASSWORD}


def children(pid: int) -> dict[str, dict[str, str]]:
    """The running connectors of engine `pid` by role, each with the environment it was started with."""
    out: dict[str, dict[str, str]] = {}
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit():
                continue
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) != pid:  # its parent
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        command = b" ".join(argv)  # the default commands: `source-stripe read`, `destination-postgres write`
        role = "source" if b"source-stripe read" in command else \
            "destination" if b"destination-postgres write" in command else None
        if role:
            out[role] = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
    return out


def test_each_backoff_is_one_plain_line_while_it_happens_and_children_get_only_their_env(pg_url, pg_schema,
                                                                                         tmp_path):
    argv, env = sync_argv(pg_schema, tmp_path, "plain")
    env["DATABASE_URL"] = pg_url
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=ROOT, env=env, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    seen: dict[str, dict[str, str]] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len([x for x in lines if RETRY.search(x)]) < 3:
            seen.update(children(proc.pid))
            time.sleep(0.05)
        said = [line for line in list(lines) if RETRY.search(line)]
        assert [int(RETRY.search(line).group(1)) for line in said] == [1, 2, 3], "".join(lines)
        assert all(re.match(r"\[ *[\dhms:.]+\] warning: source: retrying", line) for line in said), said
        assert proc.poll() is None  # said while it happens: the source is still retrying
        seen.update(children(proc.pid))
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        reader.join(10)
    text = "".join(lines)
    assert code == 143, text
    assert "Traceback" not in text
    assert KEY not in text and PG_PASSWORD not in text and PROXY_PASSWORD not in text
    assert not urlsplit(pg_url).password or urlsplit(pg_url).password not in text
    source, destination = seen["source"], seen["destination"]
    assert source["PATH"] == destination["PATH"] == os.environ["PATH"]
    assert not [n for n in source if n.startswith("PG") or n in ("DATABASE_URL", "STRIPE_API_KEY")]
    db_password = urlsplit(pg_url).password or PG_PASSWORD
    assert db_password not in str(source) and PG_PASSWORD not in str(source) and KEY not in str(source)
    assert not [name for name in destination if name.startswith("STRIPE_")] and KEY not in str(destination)
    assert destination["PGPASSWORD"] == PG_PASSWORD and "DATABASE_URL" not in destination


def test_each_backoff_is_one_line_of_the_live_view_while_it_happens(pg_schema, tmp_path, pg_url):
    argv, env = sync_argv(pg_schema, tmp_path, "live")
    env.update(TERM="xterm-256color", DATABASE_URL=pg_url)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))  # no line wraps
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, cwd=ROOT,
                            env=env)
    os.close(slave)
    raw = b""
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(RETRY.findall(_plain(raw))) < 3:
            raw += os.read(master, 65536)
        assert proc.poll() is None, _plain(raw)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        try:
            while chunk := os.read(master, 65536):
                raw += chunk
        except OSError:  # EIO: the child closed the terminal
            pass
        os.close(master)
    text = _plain(raw)
    assert code == 143, text
    lines = [line for line in text.splitlines() if "retrying GET" in line]
    assert [int(m.group(1)) for m in map(RETRY.search, lines) if m][:3] == [1, 2, 3], text
    assert KEY not in text and PG_PASSWORD not in text and PROXY_PASSWORD not in text


def _plain(raw: bytes) -> str:
    """What the terminal shows, without its escapes."""
    return ESCAPES.sub("", raw.decode(errors="replace")).replace("\r", "")

