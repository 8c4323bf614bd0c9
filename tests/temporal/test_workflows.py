"""The workflows' decisions on a real dev server, with scripted activities in place of the syncs (the
acceptance tests run the real ones): transient failures retried, partial runs recorded, permanent
errors parked until `configure`/`resume`, schedules with sweeps, `stop`, exhausted retries."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import pytest

pytest.importorskip("temporalio")

from temporalio import activity  # noqa: E402
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from engine.temporal.spec import (
    LIST_ACCOUNTS_ACTIVITY,
    SYNC_ACTIVITY,
    Accounts,
    PlatformSpec,
    SyncOutcome,
    SyncSpec,
)
from engine.temporal.workflows import PlatformWorkflow, SyncWorkflow
from tests.temporal.conftest import run

SCRIPTS: dict[str, list[str]] = {}
CALLS: list[tuple[str, str, int, list | None]] = []


@activity.defn(name=SYNC_ACTIVITY)
async def scripted_sync(spec: SyncSpec, mode: str) -> SyncOutcome:
    script = SCRIPTS[spec.name.split("/")[0]]
    step = script[min(len([c for c in CALLS if c[0] == spec.name]), len(script) - 1)]
    CALLS.append((spec.name, mode, activity.info().attempt, spec.streams))
    if step == "transient":
        raise ApplicationError("connection reset", type="network")
    if step == "auth":
        raise ApplicationError(
            "[auth_failed] Invalid API Key provided: sk_test_****", type="auth_failed", non_retryable=True
        )
    status = "partial" if step == "partial" else "succeeded"
    return SyncOutcome(
        status=status,
        worker="scripted",
        attempt=activity.info().attempt,
        records=3,
        seconds=0.01,
        mode=mode,
        not_synced={"issuing_cards": "[permission_denied] no access"} if step == "partial" else {},
    )


@activity.defn(name=LIST_ACCOUNTS_ACTIVITY)
async def scripted_accounts(spec: SyncSpec, stream: str) -> Accounts:
    return Accounts(ids=["acct_1A", "acct_1B"], worker="scripted")


def spec(name: str, **kw) -> SyncSpec:
    return SyncSpec(
        name=name,
        destination_config={"schema": "s"},
        retry_initial_s=0.05,
        retry_max_s=0.1,
        heartbeat_timeout_s=5,
        **kw,
    )


async def with_worker(server, body):
    client = await server.client()
    queue = f"wf-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[SyncWorkflow, PlatformWorkflow],
        activities=[scripted_sync, scripted_accounts],
    ):
        return await body(client, queue)


def fresh(script: list[str]) -> str:
    name = f"wf-{uuid.uuid4().hex[:8]}"
    SCRIPTS[name] = script
    return name


def calls(name: str) -> list[tuple]:
    return [c for c in CALLS if c[0].split("/")[0] == name]


def test_transient_failures_are_retried_by_temporal_and_a_partial_run_is_recorded(dev_server):
    name, partial = fresh(["transient", "transient", "ok"]), fresh(["partial"])

    async def body(client, queue):
        done = await client.execute_workflow(
            SyncWorkflow.run, args=[spec(name), None], id=name, task_queue=queue
        )
        part = await client.execute_workflow(
            SyncWorkflow.run, args=[spec(partial), None], id=partial, task_queue=queue
        )
        return done, part

    done, part = run(lambda: with_worker(dev_server, body))
    assert [c[2] for c in calls(name)] == [1, 2, 3] and done.phase == "done" and done.runs == 1
    assert done.last_status == "succeeded" and done.last_success_at
    assert part.phase == "done" and part.last_status == "partial" and part.last_success_at is None
    assert "issuing_cards [permission_denied] no access" in part.last_error


def test_exhausted_retries_fail_a_one_time_workflow_with_the_last_error(dev_server):
    name = fresh(["transient"])

    async def body(client, queue):
        try:
            await client.execute_workflow(
                SyncWorkflow.run, args=[spec(name, retry_max_attempts=3), None], id=name, task_queue=queue
            )
        except WorkflowFailureError as exc:
            return exc.cause
        return None

    cause = run(lambda: with_worker(dev_server, body))
    assert isinstance(cause, ApplicationError) and "[network] connection reset" in cause.message
    assert len(calls(name)) == 3


def test_a_permanent_error_parks_until_configure_brings_a_new_spec(dev_server):
    name = fresh(["auth", "ok"])

    async def body(client, queue):
        handle = await client.start_workflow(
            SyncWorkflow.run, args=[spec(name), None], id=name, task_queue=queue
        )
        deadline = asyncio.get_running_loop().time() + 30  # parks at once; 30 s for a loaded machine
        while asyncio.get_running_loop().time() < deadline:
            status = await handle.query(SyncWorkflow.current)
            if status.phase == "parked":
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # no retry meanwhile
        parked = await handle.query(SyncWorkflow.current)
        n = len(calls(name))
        await handle.signal(SyncWorkflow.configure, replace(spec(name), streams=["customers"]))
        return parked, n, await handle.result()

    parked, n, result = run(lambda: with_worker(dev_server, body))
    assert parked.phase == "parked" and parked.parked_reason.startswith("[auth_failed]") and n == 1
    assert result.phase == "done" and calls(name)[-1][3] == ["customers"]  # the new spec ran


def test_a_schedule_runs_again_sweeps_when_due_and_stops_on_signal(dev_server):
    name = fresh(["ok"])

    async def body(client, queue):
        handle = await client.start_workflow(
            SyncWorkflow.run,
            args=[spec(name, every_s=0.2, sweep_every_s=2.5), None],
            id=name,
            task_queue=queue,
        )
        while len(calls(name)) < 7:
            await asyncio.sleep(0.05)
        waiting = await handle.query(SyncWorkflow.current)
        await handle.signal(SyncWorkflow.stop)
        return waiting, await handle.result()

    waiting, result = run(lambda: with_worker(dev_server, body))
    modes = [c[1] for c in calls(name)]
    assert modes[0] == "sync" and "sweep" in modes[1:] and "sync" in modes[1:]
    assert result.phase == "stopped" and result.runs >= 7 and waiting.phase in ("waiting", "syncing")


def test_a_platform_runs_one_child_per_account_and_its_own(dev_server):
    name = fresh(["ok"])

    async def body(client, queue):
        return await client.execute_workflow(
            PlatformWorkflow.run, args=[PlatformSpec(base=spec(name)), None], id=name, task_queue=queue
        )

    result = run(lambda: with_worker(dev_server, body))
    assert set(result["accounts"]) == {f"{name}/acct_1A", f"{name}/acct_1B", f"{name}/platform"}
    assert result["failed"] == [] and {c[0] for c in calls(name)} == set(result["accounts"])


def test_a_scheduled_platform_starts_each_child_once_and_relists(dev_server):
    name = fresh(["ok"])

    async def body(client, queue):
        platform = PlatformSpec(base=spec(name, every_s=0.3, sweep_every_s=None))
        handle = await client.start_workflow(
            PlatformWorkflow.run, args=[platform, None], id=name, task_queue=queue
        )
        children = [f"{name}/acct_1A", f"{name}/acct_1B", f"{name}/platform"]
        try:
            while True:
                status = await handle.query(PlatformWorkflow.current)
                runs = {c: len([x for x in calls(name) if x[0] == c]) for c in children}
                if status.runs >= 3 and min(runs.values()) >= 2:
                    break
                await asyncio.sleep(0.1)
            described = [await client.get_workflow_handle(c).describe() for c in children]
            return status, [d.status.name for d in described]
        finally:
            await handle.terminate()
            for child in children:
                await client.get_workflow_handle(child).terminate()

    status, states = run(lambda: with_worker(dev_server, body))
    assert status.phase in ("waiting", "syncing") and status.runs >= 3  # listed again, children kept
    assert states == ["RUNNING"] * 3  # one workflow per account, each on its own schedule
