"""Child streams: the nested lists under a parent object (invoice lines, subscription items ...), complete.

Whenever a parent object is read (a backfill page, an event), each selected child stream of its stream is
re-derived: from the parent's embedded list when that list is complete (`has_more` false: no request),
else by paging the nested endpoint from its start (`limit=100`, `starting_after`) through the shared
client (one rate budget, retries, counted in `request_count`). A child stream its parent does not embed
(checkout session line items, a customer's tax ids) costs one request per parent.

The children of one parent go out as a parent-scoped snapshot (docs/protocol.md, "Snapshots and delete
sweeps"): `begin` {kind `parent`, parent {stream, id}, field}, the child records (each carrying the parent
id in `field`), then `end` with `as_of`: the complete set of that parent's children as of that second,
so the destination tombstones the rows of that parent it did not receive (a line deleted from a draft,
a subscription item removed). A parent that is gone (its `*.deleted` event, or a 404 while its children
are paged) gets the same markers around no children.

Nothing here keeps state: a parent's children are read before its page (or event) is emitted and go out
with it, before the checkpoint that covers the parent, so a crash while children are paged re-reads that
page from the previous checkpoint (checkpoints stay value snapshots; nothing lost, nothing twice in a
table). Memory holds one parent page's children.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from protocol import messages
from protocol import snapshot as snap
from source_stripe.client import StripeClient
from source_stripe.errors import StripeAPIError
from source_stripe.streams import Stream

MAX_RESTARTS = 3  # a parent's listing restarted after its cursor child was removed meanwhile


@dataclass
class Children:
    """The complete set of one parent's children of one child stream, as of `as_of`."""

    stream: Stream
    parent_id: str
    objects: list[dict]
    as_of: int | None  # the second the set is complete as of (a list page's snapshot time, an event's)
    versions: list[int | None]  # `updated_at` of each object


def embedded_list(stream: Stream, parent: dict) -> list[dict] | None:
    """The parent's embedded list of `stream` when it is complete, else None (not embedded, has_more)."""
    assert stream.parent is not None
    field = stream.parent.embedded
    value = parent.get(field) if field else None
    if not isinstance(value, dict) or value.get("has_more") or not isinstance(value.get("data"), list):
        return None
    return [c for c in value["data"] if isinstance(c, dict)]


def page_children(client: StripeClient, stream: Stream, parent_id: str) -> tuple[list[dict], list[int | None],
                                                                                   int | None] | None:
    """All children of a parent from its nested endpoint: (objects, versions, as_of), or None when the
    parent is gone (404 on the list itself). Restarts from the top when a cursor child vanished."""
    assert stream.parent is not None
    path = stream.parent.list_path(stream.path, parent_id)
    extra = {stream.parent.param: parent_id} if stream.parent.param else {}
    for _ in range(MAX_RESTARTS + 1):
        objects: list[dict] = []
        versions: list[int | None] = []
        as_of: int | None = None
        cursor: str | None = None
        try:
            while True:
                params = {**stream.list_params(starting_after=cursor), **extra}
                page = client.get(path, params, expect_list=True)
                if as_of is None:
                    as_of = page.snapshot_time
                data = [c for c in page.data if isinstance(c, dict) and c.get("id")]
                objects += data
                versions += [page.snapshot_time] * len(data)
                if not page.has_more or not data:
                    return objects, versions, as_of
                if data[-1]["id"] == cursor:
                    raise StripeAPIError(502, f"{stream.name}: the cursor of {parent_id}'s children did not "
                                         "advance", path=path)
                cursor = data[-1]["id"]
        except StripeAPIError as err:
            if err.is_missing_cursor:
                continue  # the cursor child was removed while paging: list this parent again
            if err.status == 404 and cursor is None:
                return None  # the parent itself is gone (deleted since it was listed)
            raise
    raise StripeAPIError(502, f"{stream.name}: {parent_id}'s children kept changing while they were paged",
                         path=path)


def read_children(client: StripeClient, stream: Stream, parent: dict, as_of: int | None) -> Children:
    """The children of one parent object read at `as_of` (the page's snapshot time, the event's second)."""
    assert stream.parent is not None
    parent_id = str(parent["id"])
    embedded = embedded_list(stream, parent)
    if embedded is not None:
        return Children(stream, parent_id, embedded, as_of, [as_of] * len(embedded))
    paged = page_children(client, stream, parent_id)
    if paged is None:
        return Children(stream, parent_id, [], as_of, [])
    objects, versions, paged_as_of = paged
    return Children(stream, parent_id, objects, paged_as_of if paged_as_of is not None else as_of, versions)


def gone(stream: Stream, parent_id: str, as_of: int | None) -> Children:
    """No children: the parent was deleted."""
    return Children(stream, parent_id, [], as_of, [])


def child_messages(children: Children, emitted_at: int | None = None) -> list[dict]:
    """`begin`, the child records (with the parent id in the parent field), `end` with `as_of`."""
    stream, parent = children.stream, children.stream.parent
    assert parent is not None
    name = stream.name
    scope = snap.parent_scope(parent.stream, children.parent_id, parent.field).to_wire()
    snapshot_id = f"{name}:{children.parent_id}@{children.as_of}"
    emitted_at = emitted_at or messages.now_ms()
    out = [messages.snapshot(name, snap.BEGIN, snapshot_id, scope)]
    for obj, version in zip(children.objects, children.versions, strict=True):
        if parent.added or obj.get(parent.field) is None:
            obj = {**obj, parent.field: children.parent_id}
        out.append(messages.record(name, obj, emitted_at=emitted_at, updated_at=version))
    out.append(messages.snapshot(name, snap.END, snapshot_id, as_of=children.as_of))
    return out


def for_parents(client: StripeClient, streams: Iterable[Stream], parents: Iterable[dict], as_of: int | None
                ) -> list[Children]:
    """Every selected child stream's children of each parent (requests only where needed)."""
    return [read_children(client, s, p, as_of) for p in parents if isinstance(p, dict) and p.get("id")
            for s in streams]
