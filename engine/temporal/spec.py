"""What a Temporal workflow of stripe-sync carries, and the pure rules around it (docs/temporal.md).

- `SyncSpec`: one pipeline or one account: the two connector commands, their configs WITHOUT secrets,
  `secrets` (config field -> a reference the worker resolves: `env:NAME` or `file:PATH#KEY`), the
  streams, the schedule (`every_s`: incremental every N seconds, None: once; `sweep_every_s`: a run
  with `--sweep-deletes` when the last sweep is that old) and the activity's timeouts and retries.
  It goes into the workflow history as it is, so it must never hold a secret (`engine submit` refuses
  a config that does: `engine.temporal.client.secret_leaks`).
- `PlatformSpec`: a platform: the spec of its own account, and one child per connected account
  (`account_spec`: source config `account_id`, schema `<schema>_<account id>`, workflow id
  `<name>/<account id>`: Temporal runs one workflow per id, so two workers never write one account).
- `SyncOutcome`: what one sync activity reports (no secret: every text is redacted by the worker).

Pure: no I/O; the workflow sandbox imports this module.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

SYNC_ACTIVITY = "stripe_sync.sync"  # the activities' names (workflows refer to them by name)
LIST_ACCOUNTS_ACTIVITY = "stripe_sync.list_accounts"
DEFAULT_TASK_QUEUE = "stripe-sync"
DEFAULT_NAME = "stripe-sync"
WEEK_S = 7 * 24 * 3600
REFERENCE_RE = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:/[^#]+#[^#]+)$")
PLATFORM_CHILD = "platform"  # the id suffix of the platform's own account among its children


@dataclass
class SyncSpec:
    name: str  # the workflow id (a pipeline's name, `<platform>/<account id>` for an account)
    source_cmd: str = "source-stripe"
    destination_cmd: str = "destination-postgres"
    source_config: dict = field(default_factory=dict)  # no secrets: those are in `secrets`
    destination_config: dict = field(default_factory=dict)
    # "source.api_key" / "destination.url" -> "env:STRIPE_API_KEY" | "file:/etc/stripe-sync/keys.json#stripe"
    secrets: dict[str, str] = field(default_factory=dict)
    streams: list[str] | None = None
    every_s: float | None = None  # incremental every N seconds; None: one run, then the workflow ends
    sweep_every_s: float | None = WEEK_S  # a run with --sweep-deletes this often (scheduled only)
    heartbeat_timeout_s: float = 60.0
    start_to_close_timeout_s: float = 24 * 3600.0
    retry_initial_s: float = 10.0
    retry_max_s: float = 600.0
    retry_max_attempts: int = 10  # then the error is recorded and the next scheduled run tries again
    account: str | None = None  # the Stripe account it reads, when known (for status)


@dataclass
class PlatformSpec:
    base: SyncSpec  # the platform's own account; its name names the platform workflow
    include_platform: bool = True  # also sync the platform's own account (`<name>/platform`)
    accounts_stream: str = "accounts"  # the source stream whose records are the connected accounts
    relist_every_s: float | None = None  # scheduled: look for new accounts this often (default every_s)


@dataclass
class SyncOutcome:
    status: str  # succeeded | partial
    worker: str
    attempt: int
    records: int
    seconds: float
    mode: str  # sync | sweep
    not_synced: dict[str, str] = field(default_factory=dict)  # stream -> why (partial)
    summary: list[str] = field(default_factory=list)  # the engine's summary lines, redacted


@dataclass
class Status:
    """What a workflow says about itself (its query and its memo, which `engine status` reads)."""

    phase: str = "starting"  # syncing | waiting | parked | done | failed | stopped
    account: str | None = None
    schema: str | None = None
    runs: int = 0
    last_started_at: float | None = None
    last_success_at: float | None = None
    last_status: str | None = None  # succeeded | partial | failed
    last_error: str | None = None
    last_error_at: float | None = None
    parked_reason: str | None = None
    last_worker: str | None = None
    last_records: int = 0
    last_sweep_at: float | None = None
    next_run_at: float | None = None
    not_synced: dict[str, str] = field(default_factory=dict)


@dataclass
class Accounts:
    ids: list[str]
    worker: str


def account_spec(platform: PlatformSpec, account_id: str | None) -> SyncSpec:
    """The spec of one account of a platform (None: the platform's own account), pure.

    One schema per account (`<schema>_<account id>`), until the shared schema with `_account_id`
    (issue 16) is there."""
    base = platform.base
    schema = str(base.destination_config.get("schema") or "stripe")
    if account_id is None:
        return replace(base, name=f"{base.name}/{PLATFORM_CHILD}", account=base.account,
                       destination_config={**base.destination_config, "schema": schema})
    return replace(base, name=f"{base.name}/{account_id}", account=account_id,
                   source_config={**base.source_config, "account_id": account_id},
                   destination_config={**base.destination_config, "schema": f"{schema}_{account_id}"})


def bad_references(secrets: dict[str, str]) -> list[str]:
    """The entries of `secrets` that are no valid reference (`env:NAME`, `file:/abs/path#key`)."""
    problems = []
    for target, ref in sorted(secrets.items()):
        if target.split(".", 1)[0] not in ("source", "destination") or "." not in target:
            problems.append(f"{target}: the target is source.<field> or destination.<field>")
        elif not isinstance(ref, str) or not REFERENCE_RE.match(ref):
            problems.append(f"{target}: expected env:NAME or file:/absolute/path#key, got a value of "
                            f"{len(str(ref))} characters (a secret itself is never accepted)")
    return problems


def set_field(config: dict, dotted: str, value: Any) -> dict:
    """A copy of `config` with the field at `a.b.c` set (pure)."""
    head, _, rest = dotted.partition(".")
    if not rest:
        return {**config, head: value}
    inner = config.get(head)
    return {**config, head: set_field(inner if isinstance(inner, dict) else {}, rest, value)}
