"""`engine worker`: one worker process (docs/temporal.md). It polls a task queue of a Temporal server
for both workflows and activities; start as many as you like, on as many machines.

Before anything else the secret-looking variables leave the process environment (`WorkerSecrets`), so
no connector inherits them. SIGINT/SIGTERM shut it down: no new tasks are taken, running syncs stop
cleanly (the destination commits, the state is saved) and their activities fail as retryable, so
Temporal starts them again at once on another worker, from the confirmed state.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.service import TLSConfig
from temporalio.worker import Worker

from engine.temporal.activities import MIN_HEARTBEAT_INTERVAL_S, SyncActivities
from engine.temporal.secrets import WorkerSecrets
from engine.temporal.workflows import PlatformWorkflow, SyncWorkflow
from protocol.jsonio import dumps


def default_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def tls_options(env: Mapping[str, str]) -> tuple[bool | TLSConfig, str | None]:
    """(tls, api key) from the Temporal CLI's variables: TEMPORAL_API_KEY (Temporal Cloud; implies
    TLS), TEMPORAL_TLS_CERT + TEMPORAL_TLS_KEY (mTLS: paths), TEMPORAL_TLS_CA (a server CA: path),
    TEMPORAL_TLS=1 (TLS with the system's roots)."""
    api_key = env.get("TEMPORAL_API_KEY") or None
    cert, key, ca = (env.get(f"TEMPORAL_TLS_{n}") for n in ("CERT", "KEY", "CA"))
    if cert or key or ca:
        try:
            return TLSConfig(client_cert=Path(cert).read_bytes() if cert else None,
                             client_private_key=Path(key).read_bytes() if key else None,
                             server_root_ca_cert=Path(ca).read_bytes() if ca else None), api_key
        except OSError as exc:
            raise RuntimeError(f"cannot read a TEMPORAL_TLS_* file: {exc.filename}: {exc.strerror}") from None
    return bool(api_key) or env.get("TEMPORAL_TLS", "").lower() in ("1", "true"), api_key


async def connect(address: str, namespace: str, env: Mapping[str, str] | None = None) -> Client:
    """A client of the Temporal server at `address` (RuntimeError with a clear message when unreachable)."""
    tls, api_key = tls_options(os.environ if env is None else env)
    try:
        return await Client.connect(address, namespace=namespace, tls=tls, api_key=api_key)
    except Exception as exc:  # noqa: BLE001 - the SDK raises RuntimeError or its own connection errors
        raise RuntimeError(f"cannot reach Temporal at {address} (namespace {namespace}): {exc}") from None


async def run_worker(address: str, namespace: str, task_queue: str, max_concurrent: int, identity: str,
                     secrets: WorkerSecrets, sticky_timeout_s: float = 10.0,
                     ready_file: Path | None = None, verbose: bool = False) -> None:
    client = await connect(address, namespace, {**os.environ, **secrets.env})  # TEMPORAL_API_KEY was taken
    activities = SyncActivities(identity, secrets, max_concurrent, verbose=verbose)
    worker = Worker(client, task_queue=task_queue, workflows=[SyncWorkflow, PlatformWorkflow],
                    activities=[activities.sync, activities.list_accounts],
                    max_concurrent_activities=max_concurrent, identity=identity,
                    graceful_shutdown_timeout=timedelta(seconds=60),
                    sticky_queue_schedule_to_start_timeout=timedelta(seconds=sticky_timeout_s),
                    # every heartbeat the activity sends reaches the server (see activities.py)
                    max_heartbeat_throttle_interval=timedelta(seconds=MIN_HEARTBEAT_INTERVAL_S))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        print(f"worker: {identity} polling task queue {task_queue!r} at {address} (namespace {namespace}), "
              f"up to {max_concurrent} sync(s) at once", file=sys.stderr, flush=True)
        if ready_file is not None:
            ready_file.write_bytes(dumps({"identity": identity, "pid": os.getpid()}))
        await stop.wait()
        print(f"worker: {identity} shutting down (running syncs stop cleanly and resume elsewhere)",
              file=sys.stderr, flush=True)
    activities.executor.shutdown(wait=True)
