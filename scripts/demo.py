"""The main job in one command (`./run demo`): a whole sync into PostgreSQL, then an incremental one.

With nothing given it starts the bundled Stripe emulator (the `demo` profile: ~69k objects across the
default streams, changes happening while the sync runs) and a throwaway PostgreSQL cluster, runs
`engine sync` with the live progress view, applies a few updates/deletes/creates, runs the incremental
sync that picks them up, then prints a summary table (stream, rows, deleted, seconds), checks every
table against the emulator's ground truth, and prints example SQL to paste into psql.

With STRIPE_API_KEY set it reads that Stripe account instead (no ground-truth check, no scripted
changes); with DATABASE_URL set it writes into that database instead of a throwaway one. The emulator's
data never mixes with yours: in your database it goes into a schema of the demo's own (`stripe_demo`,
marked with a comment, recreated on every run); a schema holding tables the demo did not make is
refused. Throwaway databases and demo schemas get no state file (`engine sync --no-state-file`), so no
message points at a file that is gone after the demo.

Stopping: SIGINT (Ctrl-C) or SIGTERM is passed on to `engine sync`, which runs in its own process group
(as do the emulator and PostgreSQL, so a Ctrl-C reaches the demo alone); once the engine has stopped
cleanly (the destination committed what it had), the emulator and the throwaway database are removed
and the demo exits 130 / 143. A second signal is passed on too (the engine then stops waiting for the
destination).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import psycopg2

from engine.progress_view import PROGRESS_MODES
from protocol.jsonio import loads
from protocol.secrets import redact_text, register_secret
from source_stripe.streams import registry

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEMO_MARK = "stripe-sync demo: emulator data, dropped and recreated by every ./run demo"


class Interrupted(Exception):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class Signals:
    """SIGINT/SIGTERM while `engine sync` runs are passed on to it (it stops cleanly, the demo waits for
    it); at any other time they interrupt the demo, whose cleanup then runs. During the cleanup they are
    ignored, so it always completes."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.engine: subprocess.Popen | None = None
        self.cleaning = False

    def __call__(self, signum: int, _frame: Any) -> None:
        self.signum = self.signum or signum
        if self.cleaning:
            return
        if self.engine is not None and self.engine.poll() is None:
            self.engine.send_signal(signum)
            return
        raise Interrupted(signum)

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self)


SIGNALS = Signals()


@dataclass
class SyncResult:
    code: int
    seconds: float
    eof: dict | None
    stream_seconds: dict[str, float] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)


def run_engine_sync(env: dict, args: list[str], progress: str) -> SyncResult:
    """Run `engine sync` in its own process group, showing its progress view on our stderr and reading
    its JSON output as it comes; a signal meanwhile is passed on to it (`Signals`)."""
    cmd = [str(BIN / "engine"), "sync", "--output", "json", "--progress", progress, *args]
    started, first_seen, done_at, errors, eof = time.monotonic(), {}, {}, [], None
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, cwd=REPO, process_group=0)
    SIGNALS.engine = proc
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            try:
                msg = loads(raw)
            except ValueError:
                continue
            if msg.get("type") == "eof":
                eof = msg["eof"]
            trace = msg.get("trace") or {}
            if trace.get("trace_type") == "error":
                errors.append(trace["error"])
            if trace.get("trace_type") == "stream_status":
                status = trace["stream_status"]
                now = time.monotonic()
                first_seen.setdefault(status["stream"], now)
                if status.get("status") in ("complete", "skipped"):
                    done_at[status["stream"]] = now
        code = proc.wait()
    finally:
        SIGNALS.engine = None
    if SIGNALS.signum is not None:
        raise Interrupted(SIGNALS.signum)
    seconds = {s: done_at[s] - first_seen[s] for s in done_at}
    return SyncResult(code, time.monotonic() - started, eof, seconds, errors)


def prepare_demo_schema(url: str, schema: str) -> None:
    """Make `schema` (and its live views) a fresh schema of the demo's own in the user's database: a
    schema the demo made before is recreated; one that holds tables the demo did not make is refused."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT obj_description(oid, 'pg_namespace'), (SELECT count(*) FROM pg_class c "
                    "WHERE c.relnamespace = n.oid) FROM pg_namespace n WHERE nspname = %s", (schema,))
        row = cur.fetchone()
        if row is not None and row[0] != DEMO_MARK and row[1] > 0:
            raise click.UsageError(
                f"schema {schema!r} in DATABASE_URL holds {row[1]} tables or other objects the demo did "
                "not make; the demo writes the emulator's data into a schema of its own: pass --schema with "
                f"a new name (e.g. --schema {schema}_2), or drop that schema")
        for name in (schema, f"{schema}_live"):
            cur.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        cur.execute(f'CREATE SCHEMA "{schema}"')
        cur.execute(f'COMMENT ON SCHEMA "{schema}" IS %s', (DEMO_MARK,))
    conn.close()


def table_counts(url: str, schema: str) -> dict[str, tuple[int, int]]:
    """Per table: (live rows, tombstoned rows)."""
    out = {}
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                    "AND table_type = 'BASE TABLE' AND table_name NOT LIKE '\\_%%' ORDER BY 1", (schema,))
        for (table,) in cur.fetchall():
            cur.execute(f'SELECT count(*) FILTER (WHERE _deleted_at IS NULL), count(*) FILTER '
                        f'(WHERE _deleted_at IS NOT NULL) FROM "{schema}"."{table}"')
            out[table] = cur.fetchone()
    conn.close()
    return out


def ground_truth_object(stream: str) -> Any:
    """How a dump entry of `stream` looks as a row: a child stream's entries are {"parent", "object"}, and
    the source adds the parent's id where Stripe's child object lacks it (line items' `invoice`)."""
    parent = registry()[stream].parent if stream in registry() else None
    if parent is None:
        return lambda entry: entry
    if not parent.added:
        return lambda entry: entry["object"]
    return lambda entry: {**entry["object"], parent.field: entry["parent"]}


def compare_with_truth(url: str, schema: str, emulator: Any, streams: list[str]) -> list[str]:
    """Streams whose live rows differ from the emulator's ground truth, object by object (empty = exact)."""
    mismatches = []
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for stream in streams:
            as_row = ground_truth_object(stream)
            truth = {o["id"]: o for o in map(as_row, emulator.client.dump(stream)["objects"])}
            cur.execute(f'SELECT id, _raw_data::text FROM "{schema}"."{stream}" WHERE _deleted_at IS NULL')
            got = {row_id: loads(raw) for row_id, raw in cur.fetchall()}
            missing, extra = truth.keys() - got.keys(), got.keys() - truth.keys()
            stale = [i for i in truth.keys() & got.keys() if truth[i] != got[i]]
            if missing or extra or stale:
                mismatches.append(f"{stream}: {len(missing)} missing, {len(extra)} extra, {len(stale)} stale")
    conn.close()
    return mismatches


def apply_changes(emulator: Any) -> dict[str, int]:
    """Scripted changes between the two syncs: updates, deletes and new objects."""
    client = emulator.client
    customers = client.dump("customers")["objects"][:40]
    for cust in customers[:20]:
        client.update("customers", cust["id"], {"metadata": {"demo": "updated"}, "name": "Updated Customer"})
    for cust in customers[20:30]:
        client.delete("customers", cust["id"])
    products = client.dump("products")["objects"][:5]
    for prod in products:
        client.delete("products", prod["id"])
    for i in range(25):
        client.create("customers", {"email": f"new-{i}@example.com", "name": f"New Customer {i}"})
    # children: an item removed from and one added to a subscription (customer.subscription.updated);
    # the incremental sync re-derives its items and tombstones the removed one
    for sub in client.dump("subscriptions")["objects"][-50:]:  # the oldest (new ones have no items yet)
        items = client.children("subscriptions", sub["id"], "items")
        if items:
            client.remove_child("subscriptions", sub["id"], "items", items[0]["id"])
            client.add_child("subscriptions", sub["id"], "items", quantity=3)
            break
    return {"updated": 21, "deleted": 16, "created": 26}


def print_summary(counts: dict[str, tuple[int, int]], first: SyncResult, second: SyncResult | None) -> None:
    rows = [(s, live, dead, first.stream_seconds.get(s, 0.0)) for s,
            (live, dead) in counts.items() if live or dead]
    click.echo("\n  stream                          rows   deleted   seconds")
    click.echo("  " + "-" * 56)
    for stream, live, dead, secs in sorted(rows, key=lambda r: -r[1]):
        click.echo(f"  {stream:<28} {live:>8,} {dead:>9,} {secs:>9.1f}")
    total = sum(r[1] for r in rows)
    click.echo("  " + "-" * 56)
    click.echo(f"  {'total':<28} {total:>8,}            {first.seconds:>7.1f}  (full sync)")
    if second is not None:
        click.echo(f"  {'incremental sync':<28} {'':>8}            {second.seconds:>7.1f}")


EXAMPLE_QUERIES = [
    ("Customers created per month (the live view: deleted rows left out, timestamps as timestamptz)",
     "SELECT to_char(date_trunc('month', created), 'YYYY-MM') AS month, count(*)\n"
     "  FROM {live}.customers GROUP BY 1 ORDER BY 1 DESC LIMIT 5;"),
    ("Charged amount by currency and status",
     "SELECT currency, status, count(*), round(sum(amount) / 100.0, 2) AS total\n"
     "  FROM {live}.charges GROUP BY 1, 2 ORDER BY 4 DESC LIMIT 5;"),
    ("Subscriptions with their customer's email (nested values are in _raw_data)",
     "SELECT s.id, s.status, c.email, s._raw_data->'items'->'data'->0->'price'->>'id' AS price\n"
     "  FROM {live}.subscriptions s JOIN {live}.customers c ON c.id = s.customer LIMIT 5;"),
    ("Invoices with their lines (the child table invoice_line_items, joined on its indexed invoice column)",
     "SELECT i.id, i.status, count(l.id) AS lines, sum(l.amount) AS amount\n"
     "  FROM {live}.invoices i JOIN {live}.invoice_line_items l ON l.invoice = i.id\n"
     "  GROUP BY i.id, i.status ORDER BY lines DESC, i.id LIMIT 5;"),
    ("What the incremental sync changed (the table keeps deleted rows, with _deleted_at)",
     "SELECT id, name, to_timestamp(_updated_at) AS updated, _deleted_at IS NOT NULL AS deleted\n"
     "  FROM {schema}.customers ORDER BY _synced_at DESC, id LIMIT 5;"),
]


def show_example_queries(url: str, schema: str) -> None:
    """Print each example query and its first rows, so they can be pasted into psql later."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for title, sql in EXAMPLE_QUERIES:
            sql = sql.format(schema=schema, live=f"{schema}_live")
            click.echo(f"-- {title}\n{sql}")
            try:
                cur.execute(sql)
            except psycopg2.Error as exc:
                conn.rollback()
                click.echo(f"   (query failed: {str(exc).strip()})\n")
                continue
            names = [d[0] for d in cur.description]
            click.echo("   " + " | ".join(names))
            for row in cur.fetchall():
                click.echo("   " + " | ".join("" if v is None else str(v) for v in row))
            click.echo("")
    conn.close()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--profile", type=click.Choice(["demo", "small"]), default="demo", show_default=True,
              help="Emulator dataset: demo (~69k objects) or small (a few hundred, seconds). Example: "
                   "--profile small")
@click.option("--schema", help="Postgres schema for the tables. Default: stripe, or stripe_demo when the "
                               "emulator's data goes into your DATABASE_URL. Example: --schema stripe")
@click.option("--progress", type=click.Choice(PROGRESS_MODES), default="auto", show_default=True,
              help="Progress view on stderr (as engine sync --progress): live on a terminal, plain lines "
                   "otherwise. Example: --progress plain")
@click.option("--incremental/--no-incremental", default=True, show_default=True,
              help="After the full sync, change some objects and run the incremental sync. "
                   "Example: --no-incremental")
@click.option("--rate", type=float, default=50.0, show_default=True,
              help="Requests per second against the emulator (real Stripe: the source's safe default). "
                   "Example: --rate 25")
def main(profile: str, schema: str | None, progress: str, incremental: bool, rate: float) -> None:
    """Sync Stripe (or the bundled emulator) into PostgreSQL and show the result.

    Examples: ./run demo;  ./run demo --profile small --progress plain;
    STRIPE_API_KEY=sk_test_... DATABASE_URL=postgresql://localhost/db ./run demo
    """
    SIGNALS.install()
    try:
        demo(profile, schema, progress, incremental, rate)
    except Interrupted as stop:
        name = signal.Signals(stop.signum).name
        click.echo(f"\ndemo: stopped by {name}; engine sync stopped first, then the demo cleaned up",
                   err=True)
        sys.exit(128 + stop.signum)


def demo(profile: str, schema: str | None, progress: str, incremental: bool, rate: float) -> None:
    real_key = os.environ.get("STRIPE_API_KEY")
    db_url = os.environ.get("DATABASE_URL")
    emulator = cluster = None
    env = dict(os.environ)
    try:
        if real_key:
            register_secret(real_key)
            click.echo("demo: STRIPE_API_KEY is set: syncing your Stripe account", err=True)
        else:
            from stripe_emulator import spawn_emulator
            # changes while the first sync runs: the incremental sync picks them up (without it, none)
            churn = {"rate": 2.0} if incremental else {}  # {}: none
            emulator = spawn_emulator({"profile": profile, "churn": churn}, new_session=True)
            env.update(STRIPE_API_KEY=emulator.api_key, STRIPE_BASE_URL=emulator.url)
            changing = ", changes every 0.5 s" if churn else ""
            click.echo(f"demo: Stripe emulator at {emulator.url} (profile {profile}{changing})", err=True)
        args: list[str] = []
        if db_url:
            register_secret(db_url)
            schema = schema or ("stripe" if real_key else "stripe_demo")
            if emulator is not None:
                prepare_demo_schema(db_url, schema)
                args.append("--no-state-file")  # the schema is recreated by the next demo
                click.echo(f"demo: writing the emulator's data into schema {schema} of DATABASE_URL "
                           f"{redact_text(db_url)} (the demo's own; recreated on every run)", err=True)
            else:
                click.echo(f"demo: writing into schema {schema} of DATABASE_URL {redact_text(db_url)}",
                           err=True)
        else:
            from throwaway_postgres import start_cluster
            cluster = start_cluster()
            db_url, schema = cluster.url, schema or "stripe"
            register_secret(db_url)
            env["DATABASE_URL"] = db_url
            args.append("--no-state-file")  # its state would describe a database removed at exit
            click.echo(f"demo: throwaway PostgreSQL at 127.0.0.1:{cluster.port} (removed at exit)", err=True)
        args += ["--schema", schema]
        if emulator is not None:
            args += ["--max-requests-per-second", f"{rate:g}"]

        click.echo("\n== Full sync ==", err=True)
        first = run_engine_sync(env, args, progress)
        if first.code != 0:
            fail(first, "full sync")
        second = None
        if incremental:
            if emulator is not None:
                emulator.client.stop_churn()
                changes = apply_changes(emulator)
                click.echo(f"\n== Incremental sync (after {changes['updated']} updates, "
                           f"{changes['deleted']} deletes, "
                           f"{changes['created']} new objects) ==", err=True)
            else:
                click.echo("\n== Incremental sync ==", err=True)
            second = run_engine_sync(env, args, progress)
            if second.code != 0:
                fail(second, "incremental sync")
        counts = table_counts(db_url, schema)
        print_summary(counts, first, second)
        if emulator is not None:
            emulator.client.stop_churn()
            streams = [s for s, (live, dead) in counts.items() if live or dead]
            mismatches = compare_with_truth(db_url, schema, emulator, streams)
            if mismatches:
                click.echo("\nMISMATCH against the emulator's ground truth: " + "; ".join(mismatches),
                           err=True)
                sys.exit(1)
            click.echo(f"\n  Every table equals the emulator's ground truth, object by object "
                       f"({len(streams)} streams checked).")
        where = "psql against your DATABASE_URL" if cluster is None else \
            "psql against your own database after a sync (the throwaway one is removed now)"
        click.echo(f"\nExample queries (run them in {where}):\n")
        show_example_queries(db_url, schema)
    finally:
        SIGNALS.cleaning = True
        if emulator is not None:
            emulator.stop()
        if cluster is not None:
            cluster.stop()


def fail(result: SyncResult, what: str) -> None:
    detail = "; ".join(f"[{e.get('code')}] {e.get('message')}" for e in result.errors[-3:])
    click.echo(redact_text(f"\ndemo: the {what} failed (exit {result.code}). {detail}"), err=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
