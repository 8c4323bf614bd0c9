"""A throwaway PostgreSQL 15 cluster for tests, benchmarks and the demo (needs the PG15 server binaries).

`start_cluster()` runs `initdb` in a fresh directory under /tmp, starts the server on a free loopback
port with password (scram) auth, and returns a `Cluster` with its `url` and `stop()`. `database_url()`
(benchmarks): DATABASE_URL when set, else such a cluster for the duration of the `with` block.
PostgreSQL refuses to run as root, so as root every server command runs as the `postgres` user via
`runuser`, in a directory that user owns (a root-only parent such as pytest's tmp dir would block it).
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/local/bin", "/usr/bin")


def _pg_bin(name: str) -> str:
    for d in PG_BIN_CANDIDATES:
        path = Path(d) / name
        if path.exists():
            return str(path)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"PostgreSQL binary {name!r} not found (install PostgreSQL 15 server binaries)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class Cluster:
    url: str
    port: int
    password: str
    base_dir: Path
    data_dir: Path

    def stop(self) -> None:
        subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_cluster(timeout_s: float = 60.0) -> Cluster:
    """Create and start a fresh cluster; the caller must `stop()` it."""
    base = Path(tempfile.mkdtemp(prefix="stripe-sync-pg-", dir="/tmp"))
    os.chmod(base, 0o755)
    data_dir, sock_dir = base / "data", base / "sock"
    sock_dir.mkdir()
    password = secrets.token_urlsafe(16)
    pwfile = base / "pw"
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(sock_dir, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
    init = subprocess.run(_as_postgres([
        _pg_bin("initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=scram-sha-256",
        f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C", "--no-sync"]), capture_output=True, text=True)
    pwfile.unlink()
    if init.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {init.stderr.strip()[-2000:]}")
    last_err = ""
    for _attempt in range(5):  # a port picked as free may be taken before the server binds it
        port = _free_port()
        opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sock_dir} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
                "-c shared_buffers=256MB")
        start = subprocess.run(_as_postgres([
            _pg_bin("pg_ctl"), "-D", str(data_dir), "-o", opts, "-l", str(base / "server.log"),
            "-w", "-t", str(int(timeout_s)), "start"]), capture_output=True, text=True)
        if start.returncode == 0:
            url = f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
            return Cluster(url, port, password, base, data_dir)
        log = base / "server.log"
        last_err = log.read_text()[-1500:] if log.exists() else start.stderr
        time.sleep(0.2)
    shutil.rmtree(base, ignore_errors=True)
    raise RuntimeError(f"PostgreSQL did not start: {last_err}")


@contextmanager
def database_url() -> Iterator[str]:
    """DATABASE_URL when set, else the url of a throwaway cluster stopped at the end of the block."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    with start_cluster() as cluster:
        yield cluster.url
