"""The state file of `engine sync` and the cumulative totals kept beside it.

The state file holds the last CONFIRMED aggregate state (`{"streams": ..., "global": ...}`), exactly
what `source read --state` takes, so it can be passed by hand too. Writes are atomic (temporary file
in the same directory, fsync, rename, fsync of the directory): a crash leaves the old or the new file,
never a torn one. Files are created with mode 0600. Totals of the runs of one sync (records, requests,
elapsed time, destination inserted/updated/deleted, runs) live in `<state file>.totals.json`; they
restart from zero after a run that completed the sync, while the history beside them (the last run's
end and status, when each stream last completed) stays.

The default state file is `$STRIPE_SYNC_STATE_DIR` (else `$XDG_STATE_HOME/stripe-sync`, else
`~/.local/state/stripe-sync`) / `<sync id>.json`, the sync id hashing the two commands and the
non-secret parts of the configs (database URL without its password, schema, base URL; never a secret).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from protocol.errors import ConfigError
from protocol.jsonio import JSONDecodeError, dumps, dumps_pretty, loads
from protocol.state import ZERO, Stats, normalize


@dataclass
class Totals:
    """Figures across the runs of one sync (they restart after a run that completed the sync), and its
    history, which does not restart: when the last run ended and how, and when each stream last
    completed without an error (Unix seconds; what `engine status` says)."""

    runs: int = 0
    records: int = 0
    requests: int = 0
    elapsed_ms: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    sync_complete: bool = False
    last_run_at: int = 0
    last_status: str = ""
    completed_at: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Any) -> Totals:
        if not isinstance(raw, dict):
            return cls()
        known: dict[str, Any] = {}
        for f in fields(cls):
            value = raw.get(f.name)
            if isinstance(value, (int, bool, str)) and type(value) is type(getattr(cls(), f.name)):
                known[f.name] = value
        if isinstance(raw.get("completed_at"), dict):
            known["completed_at"] = {k: v for k, v in raw["completed_at"].items()
                                     if isinstance(k, str) and type(v) is int}
        return cls(**known)

    def plus(self, records: int = 0, requests: int = 0, elapsed_ms: int = 0, stats: Stats = ZERO) -> Totals:
        """These totals with one run's figures added (pure)."""
        return replace(self, records=self.records + records, requests=self.requests + requests,
                       elapsed_ms=self.elapsed_ms + elapsed_ms, inserted=self.inserted + stats.inserted,
                       updated=self.updated + stats.updated, deleted=self.deleted + stats.deleted,
                       unchanged=self.unchanged + stats.unchanged,
                       completed_at=dict(self.completed_at))

    def restarted(self) -> Totals:
        """Zero figures for the next sync, the history kept (pure)."""
        return Totals(last_run_at=self.last_run_at, last_status=self.last_status,
                      completed_at=dict(self.completed_at))

    def ended(self, at: int, status: str, completed: list[str], sync_complete: bool) -> Totals:
        """These totals after a run that ended at `at` with `status`, `completed` its streams that
        completed without an error (pure)."""
        return replace(self, last_run_at=at, last_status=status, sync_complete=sync_complete,
                       completed_at={**self.completed_at, **{name: at for name in completed}})

    def to_dict(self) -> dict:
        return asdict(self)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("STRIPE_SYNC_STATE_DIR"):
        return Path(env["STRIPE_SYNC_STATE_DIR"])
    base = Path(env["XDG_STATE_HOME"]) if env.get("XDG_STATE_HOME") else Path.home() / ".local" / "state"
    return base / "stripe-sync"


def sync_id(identity: Any) -> str:
    """A stable id of one sync from a secret-free description of it (commands, hosts, schema)."""
    return hashlib.sha256(dumps(identity)).hexdigest()[:16]


class StateStore:
    """Reads and writes the state file and its totals file."""

    def __init__(self, path: Path):
        self.path = path
        self.totals_path = path.with_name(path.name + ".totals.json")

    def load(self) -> dict | None:
        """The saved aggregate state, None when there is no file; ConfigError when it is unreadable."""
        raw = self._read(self.path)
        if raw is None:
            return None
        state = normalize(raw)
        if state is None:
            raise ConfigError(f"state file {self.path}: expected {{\"streams\": {{...}}, \"global\": ...}}",
                              hint="fix or delete the file to start over")
        return state

    def save(self, state: dict) -> None:
        atomic_write(self.path, dumps_pretty(state).encode())

    def load_totals(self) -> Totals:
        try:
            return Totals.from_dict(self._read(self.totals_path))
        except ConfigError:
            return Totals()

    def save_totals(self, totals: Totals) -> None:
        atomic_write(self.totals_path, dumps_pretty(totals.to_dict()).encode())

    @staticmethod
    def _read(path: Path) -> Any:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        try:
            return loads(data)
        except JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON ({exc})",
                              hint="fix or delete the file to start over") \
                from None
