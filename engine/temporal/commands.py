"""The Temporal commands of the engine CLI (click only): `engine worker`, `engine submit`, `engine resume`,
and what `engine status --temporal` prints. docs/temporal.md explains them.

temporalio is imported only when one of them runs: without the `temporal` extra every other command
works, and these say how to install it (exit 2).
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from engine.temporal.spec import DEFAULT_NAME, DEFAULT_TASK_QUEUE
from protocol.config import load_json_arg
from protocol.errors import ConfigError
from protocol.jsonio import dumps
from protocol.secrets import redact_text

T = TypeVar("T")
DEFAULT_ADDRESS_HELP = ("Temporal frontend HOST:PORT (a cluster, Temporal Cloud, or `temporal server "
                        "start-dev`); also TEMPORAL_ADDRESS. Example: --temporal 127.0.0.1:7233")


def fail(text: str, code: int = 2, hint: str | None = None) -> None:
    click.echo(redact_text(f"engine: error: {text}"), err=True)
    if hint:
        click.echo(f"  hint: {hint}", err=True)
    exit_now(code)


def exit_now(code: int) -> None:
    """Exit without the interpreter's teardown: the SDK's Rust threads can abort a finalizing Python
    ("Fatal Python error: PyGILState_Release", temporalio/sdk-python issue #300, still open), which
    would turn a finished command into exit -6."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine; clear one-line errors for a missing SDK, a bad config, an unreachable server."""
    import asyncio  # noqa: PLC0415 - only the temporal commands need it (40 ms of every engine start)

    try:
        return asyncio.run(make())
    except ConfigError as exc:
        fail(f"[{exc.code}] {exc.message}", 2, exc.hint)
    except RuntimeError as exc:
        fail(str(exc), 1)
    raise AssertionError("unreachable")


def need_sdk() -> None:
    try:
        import temporalio  # noqa: F401
    except ImportError:
        fail("the Temporal commands need the temporal extra: pip install 'stripe-sync[temporal]'")


def temporal_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--temporal and --namespace (every command); `queue_option` adds --task-queue."""
    for option in reversed([
        click.option("--temporal", "address", envvar="TEMPORAL_ADDRESS", required=True, metavar="HOST:PORT",
                     help=DEFAULT_ADDRESS_HELP),
        click.option("--namespace", envvar="TEMPORAL_NAMESPACE", default="default", show_default=True,
                     help="Temporal namespace; also TEMPORAL_NAMESPACE. Example: --namespace prod"),
    ]):
        func = option(func)
    return func


queue_option = click.option("--task-queue", default=DEFAULT_TASK_QUEUE, show_default=True,
                            help="Task queue the workers poll and the workflows run on. "
                                 "Example: --task-queue syncs")


@click.command()
@temporal_options
@queue_option
@click.option("--max-concurrent-syncs", type=click.IntRange(min=1), default=4, show_default=True,
              help="Syncs this worker runs at once (each is a source and a destination process). "
                   "Example: --max-concurrent-syncs 8")
@click.option("--identity", help="This worker's name in status and history. Default: HOST:PID. "
                                 "Example: --identity worker-a")
@click.option("--sticky-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds a workflow task waits for this worker's cache before another worker takes it "
                   "(low values hand over faster after a crash). Example: --sticky-timeout 2")
@click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write {\"identity\", \"pid\"} here once polling. Example: --ready-file w1.json")
@click.option("--verbose", is_flag=True, help="Also log every sync's event lines (restarts, streams done, "
                                               "connector stderr), not only warnings. Example: --verbose")
def worker(address: str, namespace: str, task_queue: str, max_concurrent_syncs: int, identity: str | None,
           sticky_timeout: float, ready_file: Path | None, verbose: bool) -> None:
    """Run syncs for Temporal: poll a task queue for stripe-sync workflows and their sync activities.

    Secrets are read here, never sent through Temporal: environment variables (taken out of this
    process's environment at start, so connectors never see them) and files named by the workflows'
    references. Start as many workers as you like, on any machines. SIGTERM stops it cleanly.

    Example: STRIPE_API_KEY=sk_... DATABASE_URL=postgresql://... engine worker --temporal 127.0.0.1:7233
    """
    need_sdk()
    from engine.temporal.secrets import WorkerSecrets
    from engine.temporal.worker import default_identity, run_worker

    secrets = WorkerSecrets.from_environ()
    run_async(lambda: run_worker(address, namespace, task_queue, max_concurrent_syncs,
                                 identity or default_identity(), secrets, sticky_timeout, ready_file,
                                 verbose))
    exit_now(0)


def parse_secrets(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        target, sep, ref = value.partition("=")
        if not sep:
            raise ConfigError(f"--secret {value.split('=')[0]!r}: expected TARGET=REFERENCE, e.g. "
                              "source.api_key=env:STRIPE_API_KEY")
        out[target.strip()] = ref.strip()
    return out


def load_config(arg: str | None, option: str) -> dict:
    if arg is None:
        return {}
    config = load_json_arg(arg, option)
    if not isinstance(config, dict):
        raise ConfigError(f"{option}: expected a JSON object")
    return config


@click.command()
@temporal_options
@queue_option
@click.option("--name", default=DEFAULT_NAME, show_default=True,
              help="The workflow id: one workflow per name (per account with --connected-accounts: "
                   "NAME/ACCOUNT). Example: --name shop-eu")
@click.option("--source", "source_cmd", default="source-stripe", show_default=True,
              help="Source command as the workers run it. Example: --source 'python -m source_stripe'")
@click.option("--destination", "destination_cmd", default="destination-postgres", show_default=True,
              help="Destination command as the workers run it (it must keep the confirmed state: a `state` "
                   "command, as destination-postgres has). Example: --destination destination-postgres")
@click.option("--source-config", help="Source config WITHOUT secrets (path or inline JSON). Example: "
                                      "--source-config '{\"max_requests_per_second\": 20}'")
@click.option("--destination-config", help="Destination config WITHOUT secrets (path or inline JSON). "
                                           "Example: --destination-config '{\"batch_size\": 2000}'")
@click.option("--secret", "secret_refs", multiple=True, metavar="TARGET=REF",
              help="Where the workers find a secret field: env:NAME (their environment) or file:/path#key (a "
                   "JSON file on every worker, read at each run). Default for our connectors: "
                   "source.api_key=env:STRIPE_API_KEY and destination.url=env:DATABASE_URL. "
                   "Example: --secret source.api_key=file:/etc/stripe-sync/keys.json#shop")
@click.option("--stripe-base-url", envvar="STRIPE_BASE_URL",
              help="Stripe API base URL (e.g. an emulator); also STRIPE_BASE_URL. "
                   "Example: --stripe-base-url http://127.0.0.1:12111")
@click.option("--schema", help="Postgres schema (per account: SCHEMA_ACCOUNT). Default: the destination's "
                               "(stripe). Example: --schema stripe")
@click.option("--streams", help="Comma-separated streams. Example: --streams customers,charges")
@click.option("--connected-accounts", is_flag=True,
              help="A platform: one workflow per connected account (listed from the source's accounts "
                   "stream) plus one for the platform's own account. Example: --connected-accounts")
@click.option("--no-platform-account", is_flag=True,
              help="With --connected-accounts: only the connected accounts. Example: --no-platform-account")
@click.option("--every", help="Run incrementally this often (30s, 5m, 2h; a bare number is minutes); without "
                              "it the workflow runs once. Example: --every 5m")
@click.option("--sweep-every", default="7d", show_default=True,
              help="With --every: a run with --sweep-deletes this often (0: never). "
                   "Example: --sweep-every 1d")
@click.option("--heartbeat-timeout", default="60s", show_default=True,
              help="A worker silent this long is taken as dead: its sync restarts on another worker. "
                   "Example: --heartbeat-timeout 30s")
@click.option("--retry-initial", default="10s", show_default=True,
              help="First retry delay after a transient failure (doubling up to --retry-max). "
                   "Example: --retry-initial 30s")
@click.option("--retry-max", default="10m", show_default=True,
              help="Longest retry delay. Example: --retry-max 30m")
@click.option("--retry-attempts", type=click.IntRange(min=1), default=10, show_default=True,
              help="Attempts of one run on transient failures before it counts as failed. "
                   "Example: --retry-attempts 20")
@click.option("--wait", is_flag=True,
              help="Without --every: wait for the result, print it, exit 0 when every sync succeeded. "
                   "Example: --wait")
def submit(address: str, namespace: str, task_queue: str, name: str, source_cmd: str, destination_cmd: str,
           source_config: str | None, destination_config: str | None, secret_refs: tuple[str, ...],
           stripe_base_url: str | None, schema: str | None, streams: str | None, connected_accounts: bool,
           no_platform_account: bool, every: str | None, sweep_every: str, heartbeat_timeout: str,
           retry_initial: str, retry_max: str, retry_attempts: int, wait: bool) -> None:
    """Start (or update) the Temporal workflow of a sync: once, or on a schedule.

    A running workflow of the same name gets the new settings (a parked one resumes with them). No
    secret is sent: the workers resolve the references.

    Example: engine submit --temporal 127.0.0.1:7233 --schema stripe --every 5m --connected-accounts
    """
    need_sdk()
    from engine.temporal import client
    from engine.temporal.spec import PlatformSpec
    from engine.temporal.worker import connect

    def spec() -> Any:
        src = load_config(source_config, "--source-config")
        dst = load_config(destination_config, "--destination-config")
        if stripe_base_url:
            src["base_url"] = stripe_base_url
        if schema:
            dst["schema"] = schema
        sweep = client.parse_duration(sweep_every, "--sweep-every")
        base = client.build_spec(
            name, source_cmd, destination_cmd, src, dst, parse_secrets(secret_refs),
            streams=[s.strip() for s in streams.split(",") if s.strip()] if streams else None,
            every_s=client.parse_duration(every, "--every") if every else None, sweep_every_s=sweep or None,
            heartbeat_timeout_s=client.parse_duration(heartbeat_timeout, "--heartbeat-timeout"),
            retry_initial_s=client.parse_duration(retry_initial, "--retry-initial"),
            retry_max_s=client.parse_duration(retry_max, "--retry-max"), retry_max_attempts=retry_attempts)
        return PlatformSpec(base=base, include_platform=not no_platform_account) if connected_accounts \
            else base

    async def go() -> int:
        the_spec = spec()
        conn = await connect(address, namespace)
        handle = await client.submit(conn, the_spec, task_queue)
        click.echo(f"submitted workflow {handle.id} (run {handle.result_run_id}) on task queue "
                   f"{task_queue!r}")
        if not wait or every:
            return 0
        ok, result = await client.wait_result(handle)
        click.echo(dumps(result).decode() if ok else redact_text(f"failed: {result}"))
        return 0 if ok and not (isinstance(result, dict) and result.get("failed")) else 1

    exit_now(run_async(go))


@click.command()
@temporal_options
@click.argument("workflow_ids", nargs=-1)
@click.option("--name", help="Resume every parked workflow of this name (NAME and NAME/...). "
                             "Example: --name stripe-sync")
def resume(address: str, namespace: str, workflow_ids: tuple[str, ...],
           name: str | None) -> None:
    """Resume parked workflows (after fixing the key or config that parked them): they run again now.

    Example: engine resume --temporal 127.0.0.1:7233 stripe-sync/acct_1Abc
    """
    need_sdk()
    from engine.temporal import client
    from engine.temporal.worker import connect

    if not workflow_ids and not name:
        fail("name the workflows to resume, or pass --name to resume every parked one of a name")

    async def go() -> list[str]:
        conn = await connect(address, namespace)
        ids = list(workflow_ids)
        if name:
            ids += [r["workflow"] for r in await client.gather(conn, name, describe_limit=0)
                    if r.get("phase") == "parked" and client.is_running(r["execution"])]
        await client.resume(conn, ids)
        return ids

    ids = run_async(go)
    click.echo(f"resumed {len(ids)} workflow(s)" + (f": {', '.join(ids)}" if ids else ""))
    exit_now(0)


def temporal_status(address: str, namespace: str, name: str, fmt: str) -> None:
    """`engine status --temporal`: every workflow of `name`, from Temporal."""
    need_sdk()
    from engine.temporal import client
    from engine.temporal.report import status_lines
    from engine.temporal.worker import connect

    async def go() -> list[dict]:
        return await client.gather(await connect(address, namespace), name)

    rows = run_async(go)
    if fmt == "json":
        click.echo(dumps({"workflows": rows}).decode())
    else:
        for line in status_lines(rows, time.time()):
            click.echo(redact_text(line))
    exit_now(0)


COMMANDS = [worker, submit, resume]
