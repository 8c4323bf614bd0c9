"""Child collections: the nested lists under a parent object (an invoice's lines, a subscription's items,
a customer's tax ids, a connected account's persons ...), generated lazily like top-level objects.

A ``Relation`` (one row of ``RELATIONS``) says what Stripe does with one nested list: its path, the child
object, which parent field embeds the first page (and whether only on ``expand[]``), the child's field
naming its parent, the order children are listed in, and the events a change sends.

A ``ChildSet`` holds one relation's children in one account scope. A parent generated at start-up has
``count(parent)`` generated children whose ids and JSON derive from (seed, parent id, position); nothing
is stored for them. A parent whose children changed at run time gets an explicit ordered list, and a
child created at run time is kept whole. So memory grows with what changed, never with the number of
generated children. Callers hold the world lock.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from .dataset import FieldGen
from .ids import IdStyle, seed_int
from .template import ObjectTemplate, Raw

# Stripe embeds "the 10 most recent reversals ... by default on the transfer object" (Stripe's API
# reference, List all reversals); every embedded list (lines, items, refunds ...) holds at most 10.
EMBED_LIMIT = 10


@dataclass(frozen=True)
class Relation:
    name: str  # the child stream's name (invoice_line_items): a resource name for dumps
    parent: str  # parent object type
    field: str  # the dataset's key for the number of children, and the embedding field
    path: (
        str  # the list endpoint; "{parent}" is the parent id (/v1/subscription_items lists by ?subscription=)
    )
    child: str  # child object type (its fixture)
    embed: bool  # the parent has a ``field`` list holding the first children
    embed_default: bool  # ... without expand[] (False: "This field is not included by default")
    backref: str | None  # the child's field naming the parent
    newest_first: bool  # listed newest first (else in the order they were added)
    default_count: int  # children of each generated parent when the dataset says nothing
    parent_event: str | None = None  # event about the parent when children change (invoice.updated)
    child_events: tuple[str, str] | None = None  # (created, deleted) event types about the child
    addable: bool = False
    removable: bool = False
    draft_only: bool = False  # changes only while the parent's status is "draft"
    paginated: bool = True  # False: one response holds all (capabilities take no limit or cursor)
    aliases: tuple[str, ...] = ()  # other list paths serving the same children
    other_children: tuple[str, ...] = ()  # further object types the list holds (added with that object)

    def url(self, parent_id: str) -> str:
        if "{parent}" in self.path:
            return self.path.replace("{parent}", parent_id)
        return f"{self.path}?{self.backref}={parent_id}"

    def list_url(self, parent_id: str) -> str:
        """The ``url`` of a page fetched from the nested endpoint (no query string)."""
        return self.path.replace("{parent}", parent_id)


# What each nested list does in Stripe (API reference pages of each object and its list endpoint):
# - invoice `lines`, subscription `items`, credit note `lines`, transfer `reversals`, application fee
#   `refunds` and account `external_accounts` are embedded; checkout session, payment link and quote
#   `line_items` and customer `tax_ids` are "not included by default" (expand[] includes them);
#   customer balance transactions, persons and capabilities are only listed.
# - Adding an invoice line is creating an invoice item on a draft invoice (invoiceitem.created);
#   "Deleting invoice items is only possible when they're not attached to invoices, or if it's attached
#   to a draft invoice" (Delete an invoice item). Items are added to and deleted from a subscription by
#   /v1/subscription_items; the subscription changes (customer.subscription.updated).
# - Tax ids send customer.tax_id.created|deleted, persons person.created|deleted, external accounts
#   account.external_account.created|deleted (Stripe's event types list). A balance transaction moves
#   the customer's balance (customer.updated); a reversal sends transfer.reversed, a fee refund
#   application_fee.refunded. Credit note lines, checkout session line items and capabilities cannot be
#   added or removed; Stripe has no event for a quote's line items changing.
RELATIONS: tuple[Relation, ...] = (
    Relation(
        "invoice_line_items",
        "invoice",
        "lines",
        "/v1/invoices/{parent}/lines",
        "line_item",
        True,
        True,
        None,
        False,
        1,
        parent_event="invoice.updated",
        addable=True,
        removable=True,
        draft_only=True,
    ),
    Relation(
        "subscription_items",
        "subscription",
        "items",
        "/v1/subscription_items",
        "subscription_item",
        True,
        True,
        "subscription",
        False,
        1,
        parent_event="customer.subscription.updated",
        addable=True,
        removable=True,
    ),
    Relation(
        "credit_note_line_items",
        "credit_note",
        "lines",
        "/v1/credit_notes/{parent}/lines",
        "credit_note_line_item",
        True,
        True,
        None,
        False,
        1,
    ),
    Relation(
        "checkout_session_line_items",
        "checkout.session",
        "line_items",
        "/v1/checkout/sessions/{parent}/line_items",
        "item",
        True,
        False,
        None,
        False,
        1,
    ),
    Relation(
        "payment_link_line_items",
        "payment_link",
        "line_items",
        "/v1/payment_links/{parent}/line_items",
        "item",
        True,
        False,
        None,
        False,
        1,
        parent_event="payment_link.updated",
        addable=True,
        removable=True,
    ),
    Relation(
        "quote_line_items",
        "quote",
        "line_items",
        "/v1/quotes/{parent}/line_items",
        "item",
        True,
        False,
        None,
        False,
        1,
        addable=True,
        removable=True,
        draft_only=True,
    ),
    Relation(
        "customer_tax_ids",
        "customer",
        "tax_ids",
        "/v1/customers/{parent}/tax_ids",
        "tax_id",
        True,
        False,
        "customer",
        True,
        0,
        child_events=("customer.tax_id.created", "customer.tax_id.deleted"),
        addable=True,
        removable=True,
    ),
    Relation(
        "customer_balance_transactions",
        "customer",
        "balance_transactions",
        "/v1/customers/{parent}/balance_transactions",
        "customer_balance_transaction",
        False,
        False,
        "customer",
        True,
        0,
        parent_event="customer.updated",
        addable=True,
    ),
    Relation(
        "transfer_reversals",
        "transfer",
        "reversals",
        "/v1/transfers/{parent}/reversals",
        "transfer_reversal",
        True,
        True,
        "transfer",
        True,
        0,
        parent_event="transfer.reversed",
        addable=True,
    ),
    Relation(
        "application_fee_refunds",
        "application_fee",
        "refunds",
        "/v1/application_fees/{parent}/refunds",
        "fee_refund",
        True,
        True,
        "fee",
        True,
        0,
        parent_event="application_fee.refunded",
        addable=True,
    ),
    Relation(
        "account_persons",
        "account",
        "persons",
        "/v1/accounts/{parent}/persons",
        "person",
        False,
        False,
        "account",
        True,
        0,
        child_events=("person.created", "person.deleted"),
        addable=True,
        removable=True,
        aliases=("/v1/accounts/{parent}/people",),
    ),
    Relation(
        "account_external_accounts",
        "account",
        "external_accounts",
        "/v1/accounts/{parent}/external_accounts",
        "bank_account",
        True,
        True,
        "account",
        True,
        0,
        child_events=("account.external_account.created", "account.external_account.deleted"),
        addable=True,
        removable=True,
        # "These may be bank accounts or cards" (the OpenAPI's ExternalAccountList): generated ones are
        # bank accounts, a card is added with {"object": "card"}
        other_children=("card",),
    ),
    Relation(
        "account_capabilities",
        "account",
        "capabilities",
        "/v1/accounts/{parent}/capabilities",
        "capability",
        False,
        False,
        "account",
        False,
        0,
        paginated=False,
    ),
)
BY_NAME = {r.name: r for r in RELATIONS}


def relations_of(obj: str) -> list[Relation]:
    return [r for r in RELATIONS if r.parent == obj]


def find_relation(obj: str, field: str) -> Relation | None:
    for r in RELATIONS:
        if r.parent == obj and (r.field == field or r.name == field):
            return r
    return None


@lru_cache(maxsize=4096)
def _parent_seed(parent: str) -> int:
    return seed_int(parent) & 0xFFFFFFFFFFFF


class ParentView:
    """What a ``ChildSet`` needs of its parents: whether one exists, its creation time, its generation
    index (None for a parent created at run time), and how many children a generated parent has."""

    def __init__(
        self,
        exists: Callable[[str], bool],
        ts: Callable[[str], int],
        index: Callable[[str], int | None],
        count: Callable[[str, int], int],
        all_ids: Callable[[], list[str]],
    ):
        self.exists, self.ts, self.index, self.count, self.all_ids = exists, ts, index, count, all_ids


class ChildSet:
    """One relation's children in one account scope (see the module docstring)."""

    def __init__(
        self,
        rel: Relation,
        fixture: dict[str, Any],
        parents: ParentView,
        livemode: bool,
        material: str,
        refs: dict[str, list[str]],
        now: int,
        fixed_ids: list[tuple[str, Any]] | None = None,
    ):
        self.rel, self.parents, self.material = rel, parents, material
        fx = copy.deepcopy(fixture)
        ts_field = "created" if "created" in fx else None
        self.ts_field = ts_field
        self.gen = FieldGen(
            rel.child, fx, ts_field, livemode, seed_int(material, rel.name, "fields"), refs, now
        )
        slots = list(self.gen.slots)
        if rel.backref and rel.backref not in slots:
            slots.append(rel.backref)
        self.fixed_ids = fixed_ids  # capabilities: (id, status) from the parent's capabilities hash
        if fixed_ids is not None and "status" not in slots:
            slots.append("status")
        self.slots = slots
        self.template = ObjectTemplate(fx, slots)
        self.style = IdStyle.from_example(fx.get("id"), rel.child)
        self.lists: dict[str, list[tuple[str, int | None]]] = {}  # parent -> [(child id, position|None)]
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}  # (parent, child id) -> a changed child
        self.bytes: dict[tuple[str, str], bytes] = {}
        self.deleted: list[tuple[str, str, int]] = []  # (parent, child id, deleted_at)
        self._index: dict[str, str] | None = None  # child id -> parent, built when first needed
        self.counter = 0

    # ---- generated children ------------------------------------------------------------------------
    def _generated_count(self, parent: str) -> int:
        if self.fixed_ids is not None:
            return len(self.fixed_ids)
        i = self.parents.index(parent)
        return 0 if i is None else self.parents.count(parent, i)

    def _gen_id(self, parent: str, k: int) -> str:
        if self.fixed_ids is not None:
            return self.fixed_ids[k][0]
        return self.style.make(f"{self.material}:{self.rel.name}:{parent}:{k}")

    def _values(self, parent: str, k: int, ts: int) -> list[Any]:
        vals = self.gen.values(_parent_seed(parent) * 4096 + k, ts)
        vals += [None] * (len(self.slots) - len(vals))
        if self.rel.backref:
            vals[self.slots.index(self.rel.backref)] = parent
        if self.fixed_ids is not None:
            vals[self.slots.index("status")] = self.fixed_ids[k][1]
        return vals

    def _render_gen(self, parent: str, cid: str, k: int) -> bytes:
        return self.template.render(cid, self._values(parent, k, self.parents.ts(parent) + k))

    # ---- reading -------------------------------------------------------------------------------
    def entries(self, parent: str) -> list[tuple[str, int | None]]:
        """(child id, generated position or None) in the order the children were added."""
        got = self.lists.get(parent)
        if got is not None:
            return got
        return [(self._gen_id(parent, k), k) for k in range(self._generated_count(parent))]

    def count(self, parent: str) -> int:
        got = self.lists.get(parent)
        return len(got) if got is not None else self._generated_count(parent)

    def listed(self, parent: str) -> list[tuple[str, int | None]]:
        e = self.entries(parent)
        return e[::-1] if self.rel.newest_first else e

    def window(self, parent: str, start: int, stop: int) -> list[tuple[str, int | None]]:
        """Positions [start, stop) in list order; for a generated parent only those ids are made."""
        got = self.lists.get(parent)
        if got is not None:
            return (got[::-1] if self.rel.newest_first else got)[start:stop]
        n = self._generated_count(parent)
        stop = min(stop, n)
        if start >= stop:
            return []
        ks = range(n - 1 - start, n - 1 - stop, -1) if self.rel.newest_first else range(start, stop)
        return [(self._gen_id(parent, k), k) for k in ks]

    def position(self, parent: str, cid: str) -> int | None:
        """Where a child is in list order, or None if it is not one of this parent's."""
        for n, (entry_id, _) in enumerate(self.listed(parent)):
            if entry_id == cid:
                return n
        return None

    def render(self, parent: str, entry: tuple[str, int | None]) -> bytes:
        cid, k = entry
        if k is None:
            return self.bytes[(parent, cid)]
        return self._render_gen(parent, cid, k)

    def get(self, parent: str, cid: str) -> dict[str, Any] | None:
        for entry in self.entries(parent):
            if entry[0] == cid:
                return orjson.loads(self.render(parent, entry))
        return None

    def page(
        self, parent: str, starting_after: str | None, ending_before: str | None, limit: int
    ) -> tuple[list[bytes], bool] | None:
        """One page in list order and ``has_more`` (Stripe's cursor semantics); None if a cursor is not
        a child of this parent."""
        total = self.count(parent)
        if not self.rel.paginated:
            start, stop = 0, total
        elif ending_before is not None:
            stop = self.position(parent, ending_before)
            if stop is None:
                return None
            start = max(stop - limit, 0)
        else:
            start = 0
            if starting_after is not None:
                pos = self.position(parent, starting_after)
                if pos is None:
                    return None
                start = pos + 1
            stop = start + limit
        chosen = [self.render(parent, e) for e in self.window(parent, start, stop)]
        has_more = start > 0 if ending_before is not None else stop < total
        return chosen, has_more and self.rel.paginated

    def embedded(self, parent: str) -> Raw:
        """The parent's list field: the first 10 children, ``has_more``, ``total_count``, ``url``."""
        total = self.count(parent)
        first = b",".join(self.render(parent, e) for e in self.window(parent, 0, EMBED_LIMIT))
        return Raw(
            b'{"object":"list","data":['
            + first
            + b'],"has_more":'
            + (b"true" if total > EMBED_LIMIT else b"false")
            + b',"total_count":'
            + str(total).encode()
            + b',"url":'
            + orjson.dumps(self.rel.url(parent))
            + b"}"
        )

    def embedded_dict(self, parent: str) -> dict[str, Any]:
        return orjson.loads(bytes(self.embedded(parent)))

    def parent_of(self, cid: str) -> str | None:
        """The parent of a child id (for /v1/subscription_items/{id}); builds an index on first use."""
        if self._index is None:
            index: dict[str, str] = {}
            for parent in self.parents.all_ids():
                for entry_id, _ in self.entries(parent):
                    index[entry_id] = parent
            self._index = index
        parent = self._index.get(cid)
        return parent if parent is not None and self.parents.exists(parent) else None

    # ---- changes -------------------------------------------------------------------------------
    def _materialize(self, parent: str) -> list[tuple[str, int | None]]:
        got = self.lists.get(parent)
        if got is None:
            got = self.lists[parent] = self.entries(parent)
        return got

    def add(self, parent: str, fields: dict[str, Any], now: int, shape: dict[str, Any] | None = None
            ) -> dict[str, Any]:
        """Add a child made of ``fields`` over a generated one (over ``shape``, an example of another
        object type the list holds, when given)."""
        entries = self._materialize(parent)
        self.counter += 1
        style = IdStyle.from_example(shape.get("id"), str(shape["object"])) if shape else self.style
        cid = fields.get("id") or style.make(f"{self.material}:{self.rel.name}:new:{self.counter}")
        if any(e[0] == cid for e in entries):
            raise ValueError(f"{self.rel.child} {cid} already exists on {parent}")
        base = copy.deepcopy(shape) if shape else orjson.loads(
            self.template.render(cid, self._values(parent, 10_000 + self.counter, now)))
        base.update(copy.deepcopy(fields))
        base["id"] = cid
        if self.rel.backref:
            base[self.rel.backref] = parent
        entries.append((cid, None))
        self._store(parent, base)
        if self._index is not None:
            self._index[cid] = parent
        return base

    def _store(self, parent: str, obj: dict[str, Any]) -> None:
        self.objects[(parent, obj["id"])] = obj
        self.bytes[(parent, obj["id"])] = orjson.dumps(obj)

    def remove(self, parent: str, cid: str, now: int) -> dict[str, Any]:
        entries = self._materialize(parent)
        for n, entry in enumerate(entries):
            if entry[0] == cid:
                obj = orjson.loads(self.render(parent, entry))
                del entries[n]
                self.objects.pop((parent, cid), None)
                self.bytes.pop((parent, cid), None)
                self.deleted.append((parent, cid, now))
                if self._index is not None:
                    self._index.pop(cid, None)
                return obj
        raise KeyError(cid)
