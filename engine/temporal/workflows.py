"""The workflows (docs/temporal.md): deterministic code, no I/O; the activities do the work.

`SyncWorkflow` (type `StripeSync`): one pipeline or one account, workflow id = its name (for an account
`<platform>/<account id>`), so Temporal never runs two of one account at once. Each run is the `sync`
activity; then, when scheduled (`every_s`), it waits until the next run is due (a run with
`--sweep-deletes` once `sweep_every_s` passed since the last sweep), and continues as new before its
history grows long. How a run ended:
- a result (succeeded, or partial with the streams skipped named): recorded;
- a non-retryable failure (a global permanent error such as `auth_failed`): the workflow PARKS with the
  reason until the `resume` signal (after fixing the key) or `configure` (a new spec, as `engine
  submit` sends to a running workflow); no activity runs meanwhile, so no retry storm;
- retries exhausted on a transient error: recorded as the last error; the next scheduled run tries
  again (a one-time workflow fails with it).
Its `Status` is its `status` query and its memo (`engine status` reads memos: no worker needed).

`PlatformWorkflow` (type `StripeSyncPlatform`): lists the platform's connected accounts (activity
`list_accounts`) and runs one `SyncWorkflow` child per account (plus the platform's own account). Once:
it waits for them all and returns each one's status. Scheduled: the children run on their own
(abandoned on close) and it lists the accounts again every `relist_every_s` to start new ones.
"""
from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
)

with workflow.unsafe.imports_passed_through():
    from engine.temporal.spec import (
        LIST_ACCOUNTS_ACTIVITY,
        SYNC_ACTIVITY,
        Accounts,
        PlatformSpec,
        Status,
        SyncOutcome,
        SyncSpec,
        account_spec,
    )

HISTORY_EVENTS_LIMIT = 2_000  # continue as new beyond this (Temporal warns at 10,240 events)


def retry_policy(spec: SyncSpec) -> RetryPolicy:
    return RetryPolicy(initial_interval=timedelta(seconds=spec.retry_initial_s), backoff_coefficient=2.0,
                       maximum_interval=timedelta(seconds=spec.retry_max_s),
                       maximum_attempts=spec.retry_max_attempts)


def failure_text(err: BaseException) -> tuple[bool, str, str]:
    """(permanent, code, message) of an activity's or child's failure."""
    cause = err.cause if isinstance(err, (ActivityError, ChildWorkflowError)) and err.cause else err
    if isinstance(cause, ApplicationError):
        return cause.non_retryable, cause.type or "error", cause.message
    return False, type(cause).__name__, str(cause) or type(cause).__name__


class Parking:
    """The park-and-resume part shared by both workflows."""

    def __init__(self) -> None:
        self.resumed = False
        self.status = Status()

    def publish(self) -> None:
        workflow.upsert_memo({"status": asdict(self.status)})

    async def park(self, code: str, message: str) -> None:
        self.resumed = False
        now = workflow.now().timestamp()
        self.status.phase, self.status.parked_reason = "parked", f"[{code}] {message}"
        self.status.last_error, self.status.last_error_at, self.status.last_status = message, now, "failed"
        self.status.next_run_at = None
        self.publish()
        workflow.logger.warning("parked: %s (fix it, then signal resume or submit again)", message)
        await workflow.wait_condition(lambda: self.resumed)
        self.resumed = False
        self.status.parked_reason = None


@workflow.defn(name="StripeSync")
class SyncWorkflow(Parking):
    def __init__(self) -> None:
        super().__init__()
        self.spec: SyncSpec | None = None
        self.new_spec: SyncSpec | None = None
        self.run_now = False
        self.stopping = False

    @workflow.run
    async def run(self, spec: SyncSpec, carried: Status | None = None) -> Status:
        self.spec = spec
        self.status = carried or Status(account=spec.account, schema=spec.destination_config.get("schema"))
        while True:
            if self.stopping:
                return self._end("stopped")
            if self.new_spec is not None:
                self.spec, self.new_spec = self.new_spec, None
            result = await self._run_once()
            if result == "again":
                continue
            if self.spec.every_s is None:
                if result != "ok":
                    self._end("failed")
                    raise ApplicationError(f"{self.spec.name}: {self.status.last_error}", type="sync_failed",
                                           non_retryable=True)
                return self._end("done")
            await self._wait_next()
            if workflow.info().get_current_history_length() > HISTORY_EVENTS_LIMIT and not self.stopping:
                workflow.continue_as_new(args=[self.new_spec or self.spec, self.status])

    def _end(self, phase: str) -> Status:
        self.status.phase, self.status.next_run_at = phase, None
        self.publish()
        return self.status

    def _mode(self) -> str:
        spec, last = self.spec, self.status.last_sweep_at
        assert spec is not None
        due = spec.every_s is not None and spec.sweep_every_s is not None and last is not None \
            and workflow.now().timestamp() - last >= spec.sweep_every_s
        return "sweep" if due else "sync"

    async def _run_once(self) -> str:
        """One run: `ok`, `failed` (retries exhausted) or `again` (it was parked and resumed)."""
        spec, mode = self.spec, self._mode()
        assert spec is not None
        self.run_now = False  # this run is the one asked for
        now = workflow.now().timestamp()
        self.status.phase, self.status.last_started_at, self.status.next_run_at = "syncing", now, None
        self.publish()
        try:
            result: SyncOutcome = await workflow.execute_activity(
                SYNC_ACTIVITY, args=[spec, mode], result_type=SyncOutcome,
                start_to_close_timeout=timedelta(seconds=spec.start_to_close_timeout_s),
                heartbeat_timeout=timedelta(seconds=spec.heartbeat_timeout_s),
                retry_policy=retry_policy(spec))
        except ActivityError as err:
            permanent, code, message = failure_text(err)
            if permanent:
                if self.new_spec is None and not self.stopping:  # else: a new spec came meanwhile, try it
                    await self.park(code, message)
                return "again"
            self.status.last_status, self.status.last_error = "failed", f"[{code}] {message}"
            self.status.last_error_at = workflow.now().timestamp()
            return "failed"
        done = workflow.now().timestamp()
        s = self.status
        s.runs += 1
        s.last_status, s.last_worker, s.last_records, s.not_synced = (result.status, result.worker,
                                                                     result.records, result.not_synced)
        if result.status == "succeeded":
            s.last_success_at = done
        else:
            s.last_error = "not synced: " + "; ".join(f"{k} {v}" for k, v in result.not_synced.items())
            s.last_error_at = done
        if mode == "sweep" or s.last_sweep_at is None:
            s.last_sweep_at = done  # the first run lists everything: the sweeps start from there
        return "ok"

    async def _wait_next(self) -> None:
        assert self.spec is not None and self.spec.every_s is not None
        self.status.phase = "waiting"
        self.status.next_run_at = workflow.now().timestamp() + self.spec.every_s
        self.publish()
        try:
            await workflow.wait_condition(lambda: self.run_now or self.new_spec is not None or self.stopping,
                                          timeout=timedelta(seconds=self.spec.every_s))
        except TimeoutError:
            pass
        self.run_now = False

    @workflow.signal
    def resume(self) -> None:
        """After fixing what parked it (a key, a config): run again now."""
        self.resumed = self.status.phase == "parked"

    @workflow.signal
    def configure(self, spec: SyncSpec) -> None:
        """A new spec (what `engine submit` sends to a running workflow): used from the next run on, which
        starts now; a parked workflow resumes with it."""
        self.new_spec, self.run_now = spec, True
        self.resumed = self.status.phase == "parked"

    @workflow.signal
    def run_soon(self) -> None:
        """Start the next scheduled run now."""
        self.run_now = True

    @workflow.signal
    def stop(self) -> None:
        """End the workflow after the run in progress (a parked one ends now)."""
        self.stopping = True
        self.resumed = self.status.phase == "parked"

    @workflow.query
    def current(self) -> Status:
        return self.status


@workflow.defn(name="StripeSyncPlatform")
class PlatformWorkflow(Parking):
    def __init__(self) -> None:
        super().__init__()
        self.started: set[str] = set()
        self.results: dict[str, dict] = {}

    @workflow.run
    async def run(self, platform: PlatformSpec, started: list[str] | None = None) -> dict:
        self.started = set(started or [])  # children started by earlier runs of this workflow id
        base = platform.base
        self.status = Status(account=base.account, schema=base.destination_config.get("schema"))
        while True:
            accounts = await self._list(platform)
            ids: list[str | None] = ([None] if platform.include_platform else []) + list(accounts.ids)
            self.status.phase, self.status.last_worker = "syncing", accounts.worker
            self.status.runs += 1
            self.publish()
            if base.every_s is None:
                return await self._once(platform, ids)
            for account in ids:
                await self._start(platform, account)
            self.status.phase = "waiting"
            self.status.last_success_at = workflow.now().timestamp()
            interval = platform.relist_every_s or base.every_s
            self.status.next_run_at = workflow.now().timestamp() + interval
            self.publish()
            await workflow.sleep(interval)
            if workflow.info().get_current_history_length() > HISTORY_EVENTS_LIMIT:
                workflow.continue_as_new(args=[platform, sorted(self.started)])

    async def _list(self, platform: PlatformSpec) -> Accounts:
        while True:
            try:
                return await workflow.execute_activity(
                    LIST_ACCOUNTS_ACTIVITY, args=[platform.base, platform.accounts_stream],
                    result_type=Accounts,
                    start_to_close_timeout=timedelta(hours=1), retry_policy=retry_policy(platform.base))
            except ActivityError as err:
                _, code, message = failure_text(err)
                await self.park(code, message)  # permanent, or retries exhausted: a person must look

    async def _start(self, platform: PlatformSpec, account: str | None) -> None:
        spec = account_spec(platform, account)
        if spec.name in self.started:
            return
        try:
            await workflow.start_child_workflow(SyncWorkflow.run, args=[spec, None], id=spec.name,
                                                parent_close_policy=workflow.ParentClosePolicy.ABANDON)
        except WorkflowAlreadyStartedError:
            pass  # it runs already (started by an earlier run of this workflow)
        self.started.add(spec.name)

    async def _once(self, platform: PlatformSpec, ids: list[str | None]) -> dict:
        async def child(account: str | None) -> None:
            spec = account_spec(platform, account)
            try:
                status = await workflow.execute_child_workflow(SyncWorkflow.run, args=[spec, None],
                                                               id=spec.name)
                self.results[spec.name] = {"phase": status.phase, "worker": status.last_worker,
                                           "records": status.last_records, "last_error": status.last_error}
            except (ChildWorkflowError, WorkflowAlreadyStartedError) as err:
                _, code, message = failure_text(err)
                self.results[spec.name] = {"phase": "failed", "last_error": f"[{code}] {message}"}

        await asyncio.gather(*(child(a) for a in ids))
        failed = sorted(k for k, v in self.results.items() if v["phase"] != "done")
        self.status.phase = "failed" if failed else "done"
        self.status.last_status = "failed" if failed else "succeeded"
        if failed:
            self.status.last_error = f"{len(failed)} of {len(ids)} account(s) failed: " \
                                     f"{', '.join(failed[:10])}"
        else:
            self.status.last_success_at = workflow.now().timestamp()
        self.publish()
        return {"accounts": self.results, "failed": failed}

    @workflow.signal
    def resume(self) -> None:
        self.resumed = self.status.phase == "parked"

    @workflow.query
    def current(self) -> Status:
        return self.status
