"""What `engine serve` does, apart from HTTP: its settings, the syncs it runs and the webhooks it takes.

- `ServeSettings`: the token, the webhook endpoint secret, the two connector commands, the environment
  the default configs come from (`STRIPE_API_KEY`, `DATABASE_URL`), limits.
- `Service.spec(request)`: a request's configs (given, else built from the server's environment like
  `engine sync` does: `engine.sync.configs`), their secrets registered for redaction at once, and the
  `SyncOptions` of the run: the same default state file as `engine sync` for the same sync.
- `Service.start(spec)`: a new `SyncJob`, refused (`Busy`) while another job of this server writes the
  same destination (command, database URL without password, schema). Another process writing it is
  caught by the destination itself: destination-postgres holds an advisory lock per schema and fails
  with a `conflict` error, which the HTTP layer turns into a 409 too (it waits for the job to be under
  way first).
- `Service.webhook(header, body)`: a verified, new event wakes the following syncs of its account (the
  source config's `account_id`, none for the key's own account). Events of another mode of the same
  account wake them too: an extra poll of `/v1/events` is harmless.
- The registry keeps every running job and the newest `max_finished` ended ones (memory stays bounded),
  and, per destination, when a sync of it last succeeded.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.processor import PipeOptions
from engine.serve.jobs import SyncJob, SyncSpec
from engine.serve.webhooks import Event, WebhookGate
from engine.sync import configs
from engine.sync.options import SyncOptions
from protocol.errors import ConfigError

MIN_TOKEN_CHARS = 16
SESSION_CONTEXT = b"stripe-sync status page session"


@dataclass
class ServeSettings:
    token: str
    source_cmd: list[str]
    destination_cmd: list[str]
    env: Mapping[str, str] = field(default_factory=dict)  # where STRIPE_API_KEY / DATABASE_URL come from
    webhook_secret: str | None = None
    stripe_base_url: str | None = None  # for the source config built from STRIPE_API_KEY
    schema: str = "stripe"  # for the destination config built from DATABASE_URL
    wake_signal: int | None = None  # the source's spec.wake_signal
    max_webhook_bytes: int = 1024 * 1024
    wake_debounce: float = 0.25
    start_wait: float = 30.0  # how long POST /v1/syncs waits for the run to be under way
    max_finished: int = 100
    progress_interval: float = 1.0

    def __post_init__(self) -> None:
        if len(self.token) < MIN_TOKEN_CHARS:
            raise ConfigError(f"STRIPE_SYNC_API_TOKEN is too short ({len(self.token)} characters; at least "
                              f"{MIN_TOKEN_CHARS})",
                              hint="e.g. STRIPE_SYNC_API_TOKEN=$(openssl rand -hex 32)")


@dataclass(frozen=True)
class SyncRequest:
    streams: list[str] | None = None
    follow: bool = False
    source_config: dict | None = None
    destination_config: dict | None = None
    schema: str | None = None


class Busy(Exception):
    def __init__(self, job: SyncJob):
        super().__init__(f"schema {job.spec.destination.get('schema', '?')!r} is already being synced by "
                         f"{job.id}")
        self.job = job


def _config(recipe: configs.ConfigRecipe, given: dict | None, env: Mapping[str, str],
            override: str | None) -> dict:
    """A connector config: the request's (with `override`), else built from the server's environment."""
    if given is None and not env.get(recipe.env):
        raise ConfigError(f"no {recipe.role}_config in the request, and the server has no {recipe.env}")
    if given is None:
        return configs.build_config(recipe, None, env, override)
    config = dict(given)
    if override:
        config[recipe.override] = override
    configs.register_all_secrets(config, recipe.schema)
    return config


def destination_key(command: list[str], destination: dict) -> tuple:
    """What two syncs must not write at once: the destination command and where it writes (pure)."""
    ident = configs.identity(destination)
    where = {k: ident[k] for k in ("url", "schema") if k in ident} or ident
    return (tuple(command[-1:]), tuple(sorted((k, str(v)) for k, v in where.items())))


class Service:
    def __init__(self, settings: ServeSettings):
        self.settings = settings
        self.gate = WebhookGate(settings.webhook_secret) if settings.webhook_secret else None
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, SyncJob] = OrderedDict()  # oldest first
        self._writing: dict[tuple, SyncJob] = {}  # destination key -> the running job writing it
        self._last_success: dict[tuple, float] = {}
        self._session = hmac.new(settings.token.encode(), SESSION_CONTEXT, hashlib.sha256).hexdigest()

    # ---- auth -------------------------------------------------------------------------------------
    def token_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.settings.token.encode())

    @property
    def session_cookie(self) -> str:
        """The status page's cookie value: derived from the token, not the token itself."""
        return self._session

    def session_ok(self, cookie: str | None) -> bool:
        return cookie is not None and hmac.compare_digest(cookie.encode(), self._session.encode())

    # ---- syncs ------------------------------------------------------------------------------------
    def spec(self, request: SyncRequest) -> SyncSpec:
        s = self.settings
        source = _config(configs.SOURCE, request.source_config, s.env,
                         s.stripe_base_url if request.source_config is None else None)
        destination = _config(configs.DESTINATION, request.destination_config, s.env,
                              request.schema or (s.schema if request.destination_config is None else None))
        options = SyncOptions(
            source_cmd=s.source_cmd, source_config=source, destination_cmd=s.destination_cmd,
            destination_config=destination,
            state_file=configs.default_state_file(s.source_cmd, source, s.destination_cmd, destination,
                                                  s.env),
            streams=request.streams, follow=request.follow,
            source_timeout=None if request.follow else 300.0,
            wake_signal=s.wake_signal if request.follow else None,
            pipe=PipeOptions(progress_interval=s.progress_interval))
        account = source.get("account_id")
        return SyncSpec(options, configs.identity(source), configs.identity(destination),
                        destination_key(s.destination_cmd, destination),
                        account if isinstance(account, str) else None)

    def start(self, spec: SyncSpec) -> SyncJob:
        with self._lock:
            busy = self._writing.get(spec.key)
            if busy is not None:
                raise Busy(busy)
            job = SyncJob(f"sync_{secrets.token_hex(6)}", spec, self._ended, self.settings.wake_debounce)
            self._writing[spec.key] = job
            self._jobs[job.id] = job
        job.start()
        return job

    def _ended(self, job: SyncJob) -> None:
        with self._lock:
            if self._writing.get(job.spec.key) is job:
                del self._writing[job.spec.key]
            if job.status == "succeeded":
                self._last_success[job.spec.key] = job.ended_at or time.time()
            ended = [j for j in self._jobs.values() if not j.running]
            for old in ended[:-self.settings.max_finished]:
                self._jobs.pop(old.id, None)

    def get(self, job_id: str) -> SyncJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[SyncJob]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._jobs.values()))

    def info(self, job: SyncJob) -> dict[str, Any]:
        return job.info(self._last_success.get(job.spec.key))

    def stop_all(self, timeout: float = 60.0) -> None:
        """Cancel every running job and wait for them (the server is shutting down)."""
        running = [j for j in self.jobs() if j.running]
        for job in running:
            job.cancel()
        deadline = time.monotonic() + timeout
        for job in running:
            job.join(max(0.0, deadline - time.monotonic()))

    # ---- webhooks ---------------------------------------------------------------------------------
    def wake(self, event: Event) -> int:
        """Wake the following syncs of the event's account; returns how many."""
        targets = [j for j in self.jobs() if j.running and j.spec.options.follow
                   and j.spec.account == event.account]
        for job in targets:
            job.wake()
        return len(targets)
