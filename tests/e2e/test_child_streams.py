"""Acceptance (issue 14): child streams (invoice lines, subscription items ...) are complete past the
first page, removed children are tombstoned, nested endpoints are called only where needed, and a
SIGKILL while children are paged loses and duplicates nothing.

Real processes end to end: the Stripe emulator over HTTP, `python -m engine sync` spawning the source
and the destination, a real PostgreSQL. Each table is compared with the emulator's ground truth
(`dump("invoice_line_items")`: every child of every live parent) object by object.
"""
from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time

import psycopg2
import pytest

from source_stripe.streams import registry
from stripe_emulator import start_emulator
from tests.e2e.test_completeness import ROOT, Sync, assert_rows_equal
from tests.e2e.test_sync_kill import children_of, wait_gone

# child stream -> (parent stream (also the emulator's resource), the parent's list field, parent column)
CHILDREN = {
    "invoice_line_items": ("invoices", "lines", "invoice"),
    "subscription_items": ("subscriptions", "items", "subscription"),
    "credit_note_line_items": ("credit_notes", "lines", "credit_note"),
    "transfer_reversals": ("transfers", "reversals", "transfer"),
    "application_fee_refunds": ("application_fees", "refunds", "fee"),
    "checkout_session_line_items": ("checkout_sessions", "line_items", "checkout_session"),
    "payment_link_line_items": ("payment_links", "line_items", "payment_link"),
    "quote_line_items": ("quotes", "line_items", "quote"),
    "customer_tax_ids": ("customers", "tax_ids", "customer"),
    "customer_balance_transactions": ("customers", "balance_transactions", "customer"),
}
SIZES = [0, 3, 10, 250, 11, 1, 100, 2]  # children of the parents, in turn
EMBEDDED = ["invoice_line_items", "subscription_items", "credit_note_line_items", "transfer_reversals",
            "application_fee_refunds"]
NOT_EMBEDDED = ["checkout_session_line_items", "payment_link_line_items", "quote_line_items",
                "customer_tax_ids", "customer_balance_transactions"]


def dataset(streams: list[str], parents: int = 8) -> dict:
    """Each parent stream of `streams` with `parents` objects whose children take SIZES in turn."""
    out: dict = {}
    for child in streams:
        resource, field, _ = CHILDREN[child]
        entry = out.setdefault(resource, {"count": parents, "children": {}})
        entry["children"][field] = SIZES
    return out


def streams_of(children: list[str]) -> list[str]:
    return sorted({CHILDREN[c][0] for c in children}) + children


def truth(emu, child: str) -> tuple[dict[str, dict], set[str]]:
    """Live children (with the parent column the source adds) and the ids of removed ones."""
    parent = registry()[child].parent
    assert parent is not None and parent.field == CHILDREN[child][2]
    dump = emu.dump(child)
    live = {e["object"]["id"]: {**e["object"], parent.field: e["parent"]} if parent.added else e["object"]
            for e in dump["objects"]}
    return live, {d["id"] if "id" in d else d["object"]["id"] for d in dump.get("deleted", [])}


def assert_children_exact(sync: Sync, child: str) -> None:
    live, deleted = truth(sync.emu, child)
    assert_rows_equal(child, live, sync.table(child), deleted)


def nested_requests(emu, child: str) -> int:
    parent, field, _ = CHILDREN[child]
    if child == "subscription_items":
        return len(emu.requests(path="/v1/subscription_items"))
    prefix = {"invoices": "/v1/invoices/", "credit_notes": "/v1/credit_notes/", "transfers": "/v1/transfers/",
              "application_fees": "/v1/application_fees/", "checkout_sessions": "/v1/checkout/sessions/",
              "payment_links": "/v1/payment_links/", "quotes": "/v1/quotes/",
              "customers": "/v1/customers/"}[parent]
    named = {"customer_tax_ids": "tax_ids", "customer_balance_transactions": "balance_transactions"}
    suffix = "/" + named.get(child, field)
    return sum(1 for e in emu.requests(path=prefix + "*") if e["path"].endswith(suffix))


def expected_nested(sizes: list[int], embedded: bool) -> int:
    """Requests a parent's children cost: none when the first 10 are embedded and complete, else one per
    100 children (at least one)."""
    if embedded:
        return sum(math.ceil(n / 100) for n in sizes if n > 10)
    return sum(max(1, math.ceil(n / 100)) for n in sizes)


@pytest.fixture
def child_world(pg_url, pg_schema, tmp_path):
    def make(children: list[str], parents: int = 8) -> Sync:
        emu = stack.enter_context(start_emulator({"dataset": dataset(children, parents), "seed": 14}))
        return Sync(emu, pg_url, pg_schema, tmp_path / "state.json")

    import contextlib
    with contextlib.ExitStack() as stack:
        yield make


def test_every_child_of_every_parent_once_with_nested_requests_only_past_a_full_embedded_page(child_world):
    children = EMBEDDED + NOT_EMBEDDED
    sync = child_world(children)
    run = sync.sync(streams=streams_of(children))
    for child in children:
        assert_children_exact(sync, child)
        parent, field, _ = CHILDREN[child]
        sizes = [len(sync.emu.children(parent, p["id"], field)) for p in sync.emu.dump(parent)["objects"]]
        assert sorted(sizes) == sorted(SIZES), (child, sizes)
        got, want = nested_requests(sync.emu, child), expected_nested(sizes, child in EMBEDDED)
        print(f"{child}: {sum(sizes)} children of {len(sizes)} parents, {got} nested requests")
        assert got == want, f"{child}: {got} nested requests, expected {want}"
    with __import__("psycopg2").connect(sync.pg_url) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT i.id, count(l.id) FROM \"{sync.schema}\".invoices i LEFT JOIN "
                    f"\"{sync.schema}\".invoice_line_items l ON l.invoice = i.id GROUP BY i.id")
        assert sorted(n for _, n in cur.fetchall()) == sorted(SIZES)
        cur.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
                    (sync.schema, "invoice_line_items"))
        assert any("(invoice)" in r[0] for r in cur.fetchall())
    assert "invoice_line_items" in run.stderr  # the progress names the child streams


def by_size(emu, child: str) -> dict[int, str]:
    """Parent id by its number of children (SIZES are distinct but for 0/..., first one wins)."""
    resource, field, _ = CHILDREN[child]
    out: dict[int, str] = {}
    for p in emu.dump(resource)["objects"]:
        out.setdefault(len(emu.children(resource, p["id"], field)), p["id"])
    return out


def test_added_and_removed_children_reach_the_tables_incrementally_removed_ones_tombstoned(child_world):
    children = ["invoice_line_items", "subscription_items", "customer_tax_ids", "transfer_reversals"]
    sync = child_world(children)
    streams = streams_of(children)
    sync.sync(streams=streams)
    emu = sync.emu
    removed: dict[str, set[str]] = {c: set() for c in children}

    def remove(child: str, parent: str, ids: list[str]) -> None:
        resource, field, _ = CHILDREN[child]
        for cid in ids:
            emu.remove_child(resource, parent, field, cid)
            removed[child].add(cid)

    inv = by_size(emu, "invoice_line_items")
    for n in (250, 3, 11):  # lines change only on drafts ("invoice.updated" carries the new lines)
        emu.update("invoices", inv[n], status="draft")
    lines = {n: [c["id"] for c in emu.children("invoices", inv[n], "lines")] for n in (250, 3, 11)}
    remove("invoice_line_items", inv[250], [lines[250][0], lines[250][120], lines[250][-1]])
    emu.add_child("invoices", inv[250], "lines", amount=4200)
    remove("invoice_line_items", inv[3], lines[3])  # all of them: an empty list, embedded
    remove("invoice_line_items", inv[11], lines[11][:1])  # 10 left: the embedded list is complete again
    subs = by_size(emu, "subscription_items")
    items = {n: [c["id"] for c in emu.children("subscriptions", subs[n], "items")] for n in (250, 10)}
    remove("subscription_items", subs[250], items[250][100:105])
    emu.add_child("subscriptions", subs[250], "items", quantity=7)
    remove("subscription_items", subs[10], items[10][4:5])
    cus = by_size(emu, "customer_tax_ids")
    tax_ids = [c["id"] for c in emu.children("customers", cus[3], "tax_ids")]
    remove("customer_tax_ids", cus[3], tax_ids[:2])  # customer.tax_id.deleted: the child itself
    emu.add_child("customers", cus[0], "tax_ids", value="DE123456789", type="eu_vat")
    trs = by_size(emu, "transfer_reversals")
    emu.add_child("transfers", trs[10], "reversals", amount=100)  # transfer.reversed, 11: paged
    emu.clear_requests()

    run = sync.sync(streams=streams)
    for child in children:
        assert_children_exact(sync, child)
        tombstoned = {k for k, (_, d, _) in sync.table(child).items() if d is not None}
        assert tombstoned == removed[child], (child, sorted(tombstoned ^ removed[child])[:5])
    assert "full sync" not in run.stderr
    # the incremental run re-listed no parent (new objects only) and paged only the changed parents'
    # children whose lists are longer than the embedded 10
    assert nested_requests(emu, "invoice_line_items") == 3  # 250 - 3 + 1 = 248 lines: 3 pages
    assert nested_requests(emu, "subscription_items") == 3  # 250 - 5 + 1 = 246 items
    assert nested_requests(emu, "transfer_reversals") == 1  # 11 reversals

    # a deleted parent's children are all tombstoned with it
    emu.update("invoices", inv[10], status="draft")
    ten = {c["id"] for c in emu.children("invoices", inv[10], "lines")}
    emu.delete("invoices", inv[10])
    sync.sync(streams=streams)
    assert_children_exact(sync, "invoice_line_items")
    rows = sync.table("invoice_line_items")
    assert all(rows[i][1] is not None for i in ten)


KILL_AT = (5, 70, 120)  # nested list requests served when the engine is killed


def test_sigkill_while_children_are_paged_then_rerun_is_exact(pg_url, pg_schema, tmp_path):
    children = ["invoice_line_items", "subscription_items"]
    config = {"dataset": {"invoices": {"count": 400, "children": {"lines": [250, 3, 3, 3, 3, 0, 3, 3, 3, 3]}},
                          "subscriptions": {"count": 60, "children": {"items": [250, 11, 0]}}},
              "seed": 15, "faults": {"latency": {"ms": 15}}}
    with start_emulator(config) as emu:
        sync = Sync(emu, pg_url, pg_schema, tmp_path / "state.json")
        argv = [sys.executable, "-m", "engine", "sync", *sync.common, "--streams",
                ",".join(streams_of(children)), "--output", "json"]
        orphans: list[int] = []
        confirmed = []
        for n, at in enumerate(KILL_AT):
            if n == 2:  # a change between two killed runs: removed children must still be tombstoned
                synced = sync.table("invoice_line_items")  # a line the killed runs already wrote, if any
                inv = next((raw["invoice"] for raw, _, _ in synced.values()),
                           by_size(emu, "invoice_line_items")[250])
                emu.update("invoices", inv, status="draft")
                gone = emu.children("invoices", inv, "lines")[0]["id"]
                was_synced = gone in synced
                emu.remove_child("invoices", inv, "lines", gone)
            emu.clear_requests()
            with open(tmp_path / f"run{n}.err", "wb") as err:
                proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
                kids: set[int] = set()
                deadline = time.time() + 120
                while proc.poll() is None and time.time() < deadline:
                    kids.update(children_of(proc.pid))
                    served = sum(1 for e in emu.requests(path="/v1/*")
                                 if e["path"].endswith("/lines") or e["path"] == "/v1/subscription_items")
                    if served >= at:
                        proc.send_signal(signal.SIGKILL)
                        break
                    time.sleep(0.01)
                proc.wait(timeout=30)
                assert proc.returncode == -signal.SIGKILL, f"run {n} ended before its kill"
                orphans.extend(kids)
            assert not wait_gone(orphans, 60), "orphaned connectors did not end after the engine was killed"
            confirmed.append(sum(len(sync.table(c)) for c in children))
        time.sleep(1.1)
        final = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert final.returncode == 0, final.stderr
        assert json.loads(final.stdout.splitlines()[-1])["eof"]["status"] == "succeeded"
        for child in children:
            assert_children_exact(sync, child)
        tombstoned = {k for k, (_, d, _) in sync.table("invoice_line_items").items() if d is not None}
        assert tombstoned == ({gone} if was_synced else set())
        print(f"killed after {KILL_AT} nested requests; child rows written before each rerun: {confirmed}; "
              f"the removed line was synced before: {was_synced}")


def test_persons_of_connected_accounts_are_a_child_stream_of_accounts(pg_url, pg_schema, tmp_path):
    accounts = {"acct_1ChildA000000000": 250, "acct_1ChildB000000000": 3, "acct_1ChildC000000000": 0}
    config = {"connected_accounts": {a: {"children": {"persons": n}} for a, n in accounts.items()},
              "seed": 16}
    with start_emulator(config) as emu:
        sync = Sync(emu, pg_url, pg_schema, tmp_path / "state.json")
        sync.sync(streams=["accounts", "account_persons"])
        live = {e["object"]["id"]: e["object"] for e in emu.dump("account_persons")["objects"]}
        rows = {k: raw for k, (raw, d, _) in sync.table("account_persons").items() if d is None}
        assert rows == live and len(live) == 253
        assert len(emu.requests(path="/v1/accounts/*")) == 3 + 1 + 1  # one per account, 3 for 250 persons


def test_capabilities_and_external_accounts_of_connected_accounts(pg_url, pg_schema, tmp_path):
    """Capability ids (`card_payments`) repeat across accounts: keyed by (account, parent, id), each
    account's are stored. External accounts mix bank accounts and cards in one table, `object` kept."""
    accounts = {"acct_1ChildA000000000": 150, "acct_1ChildB000000000": 2, "acct_1ChildC000000000": 0}
    config = {"connected_accounts": {a: {"children": {"external_accounts": n}} for a, n in accounts.items()},
              "seed": 16}
    with start_emulator(config) as emu:
        cards = [emu.add_child("accounts", a, "external_accounts", object="card")["object"]
                 for a in list(accounts)[1:]]
        sync = Sync(emu, pg_url, pg_schema, tmp_path / "state.json")
        sync.sync(streams=["accounts", "account_capabilities", "account_external_accounts"])

        caps = emu.dump("account_capabilities")["objects"]
        live = {(e["parent"], e["object"]["id"]): e["object"] for e in caps}
        with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
            cur.execute(f'SELECT account, id, _raw_data FROM "{pg_schema}".account_capabilities '
                        "WHERE _deleted_at IS NULL")
            rows = {(a, i): raw for a, i, raw in cur.fetchall()}
        assert rows == live
        assert {a for a, i in rows if i == "card_payments"} == set(accounts)

        live = {e["object"]["id"]: e["object"] for e in emu.dump("account_external_accounts")["objects"]}
        synced = {k: raw for k, (raw, d, _) in sync.table("account_external_accounts").items() if d is None}
        assert synced == live and len(live) == 150 + 2 + 2
        assert {c["id"]: synced[c["id"]]["object"] for c in cards} == {c["id"]: "card" for c in cards}
        assert {o["object"] for o in synced.values()} == {"bank_account", "card"}
        # capabilities: one unpaged request per account; external accounts 2 + 1 + 1 pages of 100
        nested = [r["path"].rsplit("/", 1)[-1] for r in emu.requests(path="/v1/accounts/*")]
        assert (nested.count("capabilities"), nested.count("external_accounts"), len(nested)) == (3, 4, 7)
