"""The client side (docs/temporal.md): `engine submit`, `engine resume` and `engine status --temporal`.

- `build_spec`: a `SyncSpec` from the options, refused when a config holds a secret (`secret_leaks`):
  a workflow's arguments are stored in its history, so only references go there.
- `submit`: signal-with-start. A new workflow starts (`SyncWorkflow`, or `PlatformWorkflow` for
  `--connected-accounts`); a running one with that id gets the spec as its `configure` signal (a
  parked one resumes with it). Workflow id = the name: one workflow per pipeline, per account.
- `resume`: the `resume` signal to parked workflows (by id, or every parked one of a name).
- `gather`: every workflow of a name (`<name>` and `<name>/...`) from Temporal's visibility list, with
  the status each keeps in its memo (no worker needed), and for those syncing now, the pending activity
  (`describe`): which worker runs it, its attempt, its last heartbeat's figures and last failure.
"""
from __future__ import annotations

import re
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.exceptions import ApplicationError

from engine.temporal.secrets import config_schema_name
from engine.temporal.spec import PlatformSpec, SyncSpec, bad_references
from engine.temporal.workflows import PlatformWorkflow, SyncWorkflow
from protocol.config import connector_config_schema
from protocol.errors import ConfigError
from protocol.jsonio import dumps, loads
from protocol.secrets import config_secret_values, guessed_secret_values, redact_text

DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 60}
DEFAULT_REFS = {"source-stripe": ("source.api_key", "api_key", "env:STRIPE_API_KEY"),
                "destination-postgres": ("destination.url", "url", "env:DATABASE_URL")}


def parse_duration(text: str, option: str) -> float:
    """`30s`, `5m`, `2h`, `7d`; a bare number is minutes (pure)."""
    match = DURATION_RE.match(text.strip())
    if not match:
        raise ConfigError(f"{option}: expected a duration such as 30s, 5m, 2h or 7d, got {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def secret_leaks(config: dict, cmd: str) -> list[str]:
    """Why `config` may not go into a workflow history: secret fields of its connector's schema, values
    of keys that look secret, anything the redaction patterns catch (a key, a URL's password). Pure."""
    problems = []
    schema_name = config_schema_name(cmd)
    if schema_name and config_secret_values(config, connector_config_schema(schema_name)):
        problems.append("it sets a field its schema marks secret")
    if guessed_secret_values(config):
        problems.append("a field whose name looks secret holds a value")
    text = dumps(config).decode()
    if redact_text(text) != text:
        problems.append("a value looks like a key or a URL with a password")
    return problems


def build_spec(name: str, source_cmd: str, destination_cmd: str, source_config: dict,
               destination_config: dict, secrets: dict[str, str], **schedule: Any) -> SyncSpec:
    for role, cmd, config in (("source", source_cmd, source_config),
                              ("destination", destination_cmd, destination_config)):
        problems = secret_leaks(config, cmd)
        if problems:
            raise ConfigError(f"the {role} config would put a secret into the workflow history: "
                              f"{'; '.join(problems)}",
                              hint=f"leave it out and pass a reference: --secret {role}.FIELD=env:NAME or "
                                   f"file:/path/on/the/workers.json#key")
        default = DEFAULT_REFS.get(config_schema_name(cmd) or "")
        if default and default[0] not in secrets and default[1] not in config:
            secrets = {**secrets, default[0]: default[2]}
    problems = bad_references(secrets)
    if problems:
        raise ConfigError("--secret: " + "; ".join(problems))
    return SyncSpec(name=name, source_cmd=source_cmd, destination_cmd=destination_cmd,
                    source_config=source_config, destination_config=destination_config, secrets=secrets,
                    account=source_config.get("account_id"), **schedule)


async def submit(client: Client, spec: SyncSpec | PlatformSpec, task_queue: str) -> WorkflowHandle:
    """Start the workflow, or hand a running one the new spec (see the module docstring)."""
    if isinstance(spec, PlatformSpec):
        return await client.start_workflow(PlatformWorkflow.run, args=[spec, None], id=spec.base.name,
                                           task_queue=task_queue, start_signal="resume")
    return await client.start_workflow(SyncWorkflow.run, args=[spec, None], id=spec.name,
                                       task_queue=task_queue, start_signal="configure",
                                       start_signal_args=[spec])


def name_query(name: str) -> str:
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'WorkflowId = "{quoted}" OR WorkflowId STARTS_WITH "{quoted}/"'


async def gather(client: Client, name: str, describe_limit: int = 200) -> list[dict]:
    """One row per workflow of `name` (see the module docstring), newest run of each id only."""
    rows: dict[str, dict] = {}
    async for wf in client.list_workflows(name_query(name)):
        if wf.id in rows:
            continue  # the list is newest first: an older run of the same id
        memo = await wf.memo()
        status: dict = memo["status"] if isinstance(memo.get("status"), dict) else {}
        rows[wf.id] = {"workflow": wf.id, "type": wf.workflow_type,
                       "execution": wf.status.name.lower() if wf.status else "unknown",
                       "started_at": wf.start_time.timestamp(), **status}
    syncing = [r for r in rows.values() if r["execution"] == "running" and r.get("phase") == "syncing"]
    for row in syncing[:describe_limit]:
        row["activity"] = await pending_activity(client.get_workflow_handle(row["workflow"]))
    return sorted(rows.values(), key=lambda r: r["workflow"])


async def pending_activity(handle: WorkflowHandle) -> dict | None:
    """Which worker runs the workflow's activity now, its attempt, its figures and its last failure."""
    description = await handle.describe()
    for act in description.raw_description.pending_activities:
        details: Any = None
        if act.heartbeat_details.payloads:
            try:
                details = loads(act.heartbeat_details.payloads[0].data)
            except ValueError:
                details = None
        return {"worker": act.last_worker_identity or None, "attempt": act.attempt,
                "state": PendingActivityState.Name(act.state).removeprefix("PENDING_ACTIVITY_STATE_").lower(),
                "heartbeat": details if isinstance(details, dict) else None,
                "last_heartbeat_at": act.last_heartbeat_time.ToDatetime().timestamp()
                if act.HasField("last_heartbeat_time") else None,
                "last_failure": act.last_failure.message or None}
    return None


async def resume(client: Client, ids: list[str]) -> None:
    for workflow_id in ids:
        await client.get_workflow_handle(workflow_id).signal("resume")


async def wait_result(handle: WorkflowHandle, timeout_s: float | None = None) -> tuple[bool, Any]:
    """(ok, the result or the failure's message) of a one-time workflow."""
    try:
        result = await handle.result(rpc_timeout=timedelta(seconds=timeout_s) if timeout_s else None)
    except Exception as exc:  # noqa: BLE001 - a failed workflow: its message is the answer
        cause = exc.cause if getattr(exc, "cause", None) else exc  # type: ignore[attr-defined]
        return False, cause.message if isinstance(cause, ApplicationError) else str(cause)
    return True, asdict(result) if hasattr(result, "__dataclass_fields__") else result


def is_running(execution: str) -> bool:
    return execution == WorkflowExecutionStatus.RUNNING.name.lower()
