"""The activities a worker runs (docs/temporal.md): `sync` (one pipeline's or one account's sync) and
`list_accounts` (a platform's connected accounts).

`sync` runs `engine.sync.run.SyncRun`, the code of `engine sync`, in a thread of the worker: the same
connectors, the same confirmed state and the same tables. There is no state file: the destination's
confirmed state (`<destination> state`) is where every attempt starts, on whichever worker, so a retry
after a worker died resumes where the dead one's last commit left it. While the run goes on the
activity heartbeats figures only (records, confirmed states, streams done: never a text, so never a
secret), three per heartbeat timeout (`heartbeat_interval_s`); the worker lets each through at once
(`MIN_HEARTBEAT_INTERVAL_S` as its throttle: the SDK's own, 0.8 x the timeout, would leave one heartbeat
per timeout and a 20% margin). A Temporal cancellation (the workflow's, a lost heartbeat, a worker
shutting down) stops the run cleanly, like Ctrl-C: the destination commits what it has, the state is saved.

How a run ended becomes what Temporal does next (`outcome`):
- succeeded, or partial because streams failed with a permanent stream error (skipped for this run:
  named in `not_synced`): a result; the workflow records it and goes on;
- a global permanent error (`engine.sync.restart.PERMANENT_CODES`: auth_failed, invalid_config,
  state_mismatch, also from the destination), or a config error: a non-retryable `ApplicationError`
  whose type is the error code: the workflow parks with that reason, nothing retries;
- anything else (network, rate limits beyond the engine's own restarts, a conflicting writer, a crash):
  a retryable `ApplicationError`, retried by Temporal with backoff (the workflow's retry policy).
Every text that leaves the worker is redacted.
"""
from __future__ import annotations

import asyncio
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from engine.processor import PipeOptions
from engine.sync.children import ArgFile, Child, resolve_command
from engine.sync.options import SyncOptions
from engine.sync.restart import PERMANENT_CODES, Failure
from engine.sync.run import SyncRun
from engine.temporal.secrets import WorkerSecrets
from engine.temporal.spec import LIST_ACCOUNTS_ACTIVITY, SYNC_ACTIVITY, Accounts, SyncOutcome, SyncSpec
from protocol.errors import ConfigError
from protocol.jsonio import JSONDecodeError, loads
from protocol.reader import Line, iter_lines
from protocol.secrets import redact_text

MIN_HEARTBEAT_INTERVAL_S = 0.2


def heartbeat_interval_s(heartbeat_timeout_s: float) -> float:
    """How often the sync activity heartbeats: three times per timeout, at most every 10 s."""
    return max(MIN_HEARTBEAT_INTERVAL_S, min(10.0, heartbeat_timeout_s / 3))


class MessageTap:
    """`SyncRun`'s `out`: keeps the global errors and the `eof` of the (already redacted) messages."""

    def __init__(self) -> None:
        self.errors: list[dict] = []
        self.eof: dict | None = None
        self.summary: list[str] = []
        self._partial = b""

    def write(self, data: bytes) -> int:
        *lines, self._partial = (self._partial + bytes(data)).split(b"\n")
        for line in lines:
            try:
                msg = loads(line) if line.strip() else None
            except JSONDecodeError:
                continue
            if not isinstance(msg, dict):
                continue
            error = msg["trace"].get("error") if msg.get("type") == "trace" else None
            if isinstance(error, dict) and error.get("scope") == "global":
                self.errors.append(error)
            elif msg.get("type") == "eof" and isinstance(msg.get("eof"), dict):
                self.eof = msg["eof"]
        return len(data)

    def flush(self) -> None:
        pass

    def report(self, text: str) -> None:
        self.summary.extend(redact_text(text).splitlines())


class HeartbeatView:
    """`SyncRun`'s view: the newest progress figures, for heartbeats; warnings go to the worker's log."""

    def __init__(self, name: str, verbose: bool = False) -> None:
        self.name, self.verbose = name, verbose
        self.snapshot: dict = {}

    def event(self, text: str, level: str = "info") -> None:
        if level != "info" or self.verbose:
            print(redact_text(f"worker: {self.name}: {text}"), file=sys.stderr, flush=True)

    def update(self, snapshot: dict) -> None:
        self.snapshot = snapshot

    def close(self, snapshot: dict) -> None:
        self.snapshot = snapshot

    def details(self) -> dict:
        s = self.snapshot
        streams = s.get("streams") or {}
        return {"records": s.get("record_count", 0), "confirmed_states": s.get("confirmed_state_count", 0),
                "streams_done": sum(1 for v in streams.values() if v.get("status") == "complete"),
                "streams": len(streams), "attempts": s.get("generation", 0)}


def not_synced(eof: dict | None) -> dict[str, str]:
    """Streams of an eof's final progress that errored or did not finish, with their latest error."""
    streams = ((eof or {}).get("progress") or {}).get("streams") or {}
    out = {}
    for name, info in sorted(streams.items()):
        errors = info.get("errors") or []
        if errors or info.get("status") not in ("complete", "skipped"):
            latest = errors[-1] if errors else {}
            out[name] = f"[{latest.get('code', 'incomplete')}] {latest.get('message', info.get('status'))}"
    return out


def outcome(code: int, tap: MessageTap, spec: SyncSpec, mode: str, worker: str, attempt: int,
            seconds: float, permanent_failure: Failure | None = None) -> SyncOutcome:
    """The activity's result for a run that ended with exit `code`, or the ApplicationError to raise.

    Permanent: the engine gave up on a failure it classes permanent (`permanent_failure`: a global
    error that is not retryable, a usage error of the source), or a global error carries a permanent
    code (the destination's `auth_failed` too, or a failure before the sync proper began)."""
    eof = tap.eof or {}
    records = int((eof.get("progress") or {}).get("record_count") or 0)
    result = SyncOutcome(status="succeeded", worker=worker, attempt=attempt, records=records,
                         seconds=round(seconds, 3), mode=mode, summary=tap.summary[-6:])
    if code == 0:
        return result
    permanent = next((e for e in tap.errors if e.get("code") in PERMANENT_CODES), None)
    if permanent is None and permanent_failure is not None and permanent_failure.permanent:
        permanent = {"code": permanent_failure.code, "message": permanent_failure.message}
    if permanent is not None:
        raise ApplicationError(redact_text(f"{spec.name}: [{permanent['code']}] {permanent.get('message')}"),
                               type=str(permanent["code"]), non_retryable=True)
    if eof.get("status") == "partial" and not tap.errors:
        result.status, result.not_synced = "partial", not_synced(eof)
        return result
    last = tap.errors[-1] if tap.errors else {"code": "source_failed", "message": " | ".join(tap.summary)}
    raise ApplicationError(redact_text(f"{spec.name}: [{last.get('code')}] {last.get('message')}"),
                           type=str(last.get("code") or "sync_failed"))


def config_failure(spec: SyncSpec, exc: ConfigError) -> ApplicationError:
    """A usage error (a bad config or secret reference): permanent, so the workflow parks with it."""
    return ApplicationError(redact_text(f"{spec.name}: [{exc.code}] {exc.message}"), type=exc.code,
                            non_retryable=True)


class SyncActivities:
    """The activities of one worker process; `identity` names the worker in results and status."""

    def __init__(self, identity: str, secrets: WorkerSecrets, max_concurrent: int,
                 progress_interval: float = 1.0, verbose: bool = False):
        self.identity, self.secrets, self.progress_interval = identity, secrets, progress_interval
        self.verbose = verbose
        self.executor = ThreadPoolExecutor(max_concurrent, thread_name_prefix="sync")

    def options(self, spec: SyncSpec, mode: str) -> SyncOptions:
        source, destination = self.secrets.configs(spec)
        return SyncOptions(source_cmd=resolve_command(spec.source_cmd, "source_cmd"), source_config=source,
                           destination_cmd=resolve_command(spec.destination_cmd, "destination_cmd"),
                           destination_config=destination, state_file=None, streams=spec.streams,
                           sweep_deletes=mode == "sweep",
                           pipe=PipeOptions(progress_interval=self.progress_interval))

    @activity.defn(name=SYNC_ACTIVITY)
    async def sync(self, spec: SyncSpec, mode: str) -> SyncOutcome:
        info = activity.info()
        started = time.monotonic()
        try:
            options = self.options(spec, mode)
        except ConfigError as exc:
            raise config_failure(spec, exc) from None
        tap, view = MessageTap(), HeartbeatView(spec.name, self.verbose)
        run = SyncRun(options, tap, view, tap.report)  # type: ignore[arg-type]  # a BinaryIO enough for it
        log(f"{spec.name}: {mode} attempt {info.attempt} started")
        future = asyncio.get_running_loop().run_in_executor(self.executor, run.run)
        interval = heartbeat_interval_s(spec.heartbeat_timeout_s)
        try:
            while not future.done():
                activity.heartbeat(view.details())
                await asyncio.wait({future}, timeout=interval)
                if activity.is_worker_shutdown() and not future.done():
                    run.stop(signal.SIGTERM)
                    await asyncio.shield(future)
                    raise ApplicationError(f"{spec.name}: the worker {self.identity} shut down; the sync "
                                           "resumes from the confirmed state on a worker",
                                           type="worker_shutdown")
        except asyncio.CancelledError:
            run.stop(signal.SIGTERM)
            await stopped(future)
            log(f"{spec.name}: {mode} attempt {info.attempt} cancelled; the state is saved")
            raise
        try:
            code = future.result()
        except ConfigError as exc:
            raise config_failure(spec, exc) from None
        except Exception as exc:  # noqa: BLE001 - a bug: a clear, redacted, retryable error (not a traceback)
            raise ApplicationError(redact_text(f"{spec.name}: [internal_error] {type(exc).__name__}: {exc}"),
                                   type="internal_error") from None
        try:
            result = outcome(code, tap, spec, mode, self.identity, info.attempt, time.monotonic() - started,
                             run.session.gave_up_on if run.session is not None else None)
        except ApplicationError as exc:
            log(f"{spec.name}: {mode} attempt {info.attempt} failed: {exc.message}")
            raise
        log(f"{spec.name}: {mode} attempt {info.attempt} {result.status}: {result.records:,} records in "
            f"{result.seconds:.1f}s")
        return result

    @activity.defn(name=LIST_ACCOUNTS_ACTIVITY)
    async def list_accounts(self, spec: SyncSpec, stream: str) -> Accounts:
        try:
            source, _ = self.secrets.configs(spec)
        except ConfigError as exc:
            raise config_failure(spec, exc) from None
        loop = asyncio.get_running_loop()
        ids = await loop.run_in_executor(self.executor, read_ids, spec, source, stream)
        log(f"{spec.name}: {len(ids)} connected account(s) listed")
        return Accounts(ids=ids, worker=self.identity)


async def stopped(future: asyncio.Future) -> None:
    """Wait for a stopped run to end, whatever cancels us meanwhile."""
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            continue
        except Exception:  # noqa: BLE001 - its end is all we wait for
            return


def read_ids(spec: SyncSpec, source_config: dict, stream: str) -> list[str]:
    """The ids of the records of `stream` (the platform's `accounts`) from `<source> read --catalog`
    (memory: the ids only; a global error of the source becomes the activity's error)."""
    config = ArgFile(source_config, "source-config")
    catalog = ArgFile({"streams": [{"name": stream}]}, "catalog")
    try:
        argv = resolve_command(spec.source_cmd, "source_cmd")
        child = Child("source", argv + ["read", "--config", config.path, "--catalog", catalog.path],
                      [config, catalog])
        ids, errors = [], []
        assert child.proc.stdout is not None
        for item in iter_lines(child.proc.stdout):
            if not isinstance(item, Line):
                continue
            msg: dict[str, Any] = item.message
            if msg.get("type") == "record" and msg["record"].get("stream") == stream:
                oid = (msg["record"].get("data") or {}).get("id")
                if isinstance(oid, str):
                    ids.append(oid)
            elif msg.get("type") == "trace" and isinstance(msg["trace"].get("error"), dict):
                errors.append(msg["trace"]["error"])
        code = child.wait(60.0)
    finally:
        config.close()
        catalog.close()
    if code != 0 or errors:
        err = errors[-1] if errors else {"code": "source_failed",
                                         "message": f"the source exited with {code}: {child.stderr_tail()}"}
        raise ApplicationError(redact_text(f"{spec.name}: cannot list the accounts: [{err.get('code')}] "
                                           f"{err.get('message')}"), type=str(err.get("code")),
                               non_retryable=err.get("code") in PERMANENT_CODES)
    return sorted(set(ids))


def log(text: str) -> None:
    print(redact_text(f"worker: {text}"), file=sys.stderr, flush=True)
