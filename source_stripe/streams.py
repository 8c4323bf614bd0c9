"""The stream registry: rows of `source_stripe/streams.json` (generated) turned into `Stream` values.

A stream is data, not a subclass: its path, list object type, timestamp field, whether the list takes a
`created` filter, the query parameters the endpoint declares and the fixed ones we always send
(`status=all` for subscriptions, `type=card` for payment methods). How a stream is read follows from
that row (see `Stream.mode`):

- `"time"`: the list takes `created[gte]/created[lt]`: time windows, split and paged in parallel.
- `"cursor"`: paginated but no `created` filter: paged in full by `starting_after`, one page at a time.
- `"single"`: not paginated: one request returns the whole list.
- `"child"`: a nested list under a parent stream's objects (invoice lines, subscription items): read
  with its parent, never alone (`Parent`; `children.py`).

`catalog_streams` builds the catalog entries `discover` and `read` print; `streams_table` the table
`source-stripe streams` prints.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from protocol import messages
from protocol.errors import ConfigError
from protocol.jsonio import loads

REGISTRY_PATH = Path(__file__).resolve().parent / "streams.json"
PAGE_LIMIT = 100


@dataclass(frozen=True)
class Parent:
    """How a child stream hangs off its parent stream: `field` is the child's property naming the parent
    (`added`: the source sets it, Stripe's object lacks it), `embedded` the parent's property holding the
    first page of children (None: not embedded, one request per parent), `param` the query parameter that
    names the parent when the list path has no `{parent}` part (`/v1/subscription_items?subscription=`),
    `ids_unique` false when the children's ids repeat across parents (capabilities: `card_payments`), so
    the parent is part of the key."""

    stream: str
    field: str
    added: bool
    embedded: str | None
    param: str | None
    ids_unique: bool = True

    def list_path(self, path: str, parent_id: str) -> str:
        return path if self.param else re.sub(r"\{[^/}]+\}", parent_id, path)


@dataclass(frozen=True)
class Stream:
    name: str
    path: str
    object: str
    timestamp_field: str | None
    created_filter: bool
    paginated: bool
    declared_params: frozenset[str]
    fixed_params: dict = field(default_factory=dict, hash=False, compare=False)
    default: bool = True
    note: str | None = None
    optional: bool = False  # not default, read when named (a child stream costing a request per parent)
    parent: Parent | None = None
    objects: tuple[str, ...] = ()  # every object type a polymorphic list holds (bank_account, card)

    @property
    def object_types(self) -> tuple[str, ...]:
        return self.objects or (self.object,)

    @property
    def primary_key(self) -> list[list[str]]:
        if self.parent is not None and not self.parent.ids_unique:
            return [[ACCOUNT_FIELD], [self.parent.field], ["id"]]
        return PRIMARY_KEY

    @property
    def mode(self) -> str:
        if self.parent is not None:
            return "child"
        if not self.paginated:
            return "single"
        return "time" if self.created_filter else "cursor"

    def accepts(self, param: str) -> bool:
        return param in self.declared_params

    def list_params(self, *, gte: int | None = None, lt: int | None = None, starting_after: str | None = None,
                    ending_before: str | None = None, limit: int = PAGE_LIMIT) -> dict[str, str | int]:
        """Query parameters of one list request, restricted to what the endpoint declares."""
        params: dict[str, str | int] = dict(self.fixed_params)
        if self.accepts("limit"):
            params["limit"] = limit
        if gte is not None and self.created_filter:
            params["created[gte]"] = gte
        if lt is not None and self.created_filter:
            params["created[lt]"] = lt
        if starting_after is not None and self.accepts("starting_after"):
            params["starting_after"] = starting_after
        if ending_before is not None and self.accepts("ending_before"):
            params["ending_before"] = ending_before
        return params

    def matches_fixed_params(self, obj: dict) -> bool:
        """Whether an object (from an event) belongs to this stream's filtered list (`type=card`...).

        `status=all` is Stripe's "no status filter", so it never excludes anything."""
        for key, value in self.fixed_params.items():
            if value == "all":
                continue
            if key in obj and obj[key] != value:
                return False
        return True


def _stream_from_row(row: dict) -> Stream:
    return Stream(name=row["name"], path=row["path"], object=row["object"],
                  timestamp_field=row.get("timestamp_field"), created_filter=bool(row.get("created_filter")),
                  paginated=bool(row.get("paginated", True)),
                  declared_params=frozenset(row.get("declared_params") or ()),
                  fixed_params=dict(row.get("fixed_params") or {}), default=bool(row.get("default")),
                  note=row.get("note"), optional=bool(row.get("optional")),
                  parent=Parent(**row["parent"]) if row.get("parent") else None,
                  objects=tuple(row.get("objects") or ()))


@lru_cache(maxsize=1)
def registry() -> dict[str, Stream]:
    """Every stream of the registry by name (default and non-default)."""
    data = loads(REGISTRY_PATH.read_bytes())
    return {row["name"]: _stream_from_row(row) for row in data["streams"]}


def registry_api_version() -> str:
    return loads(REGISTRY_PATH.read_bytes())["api_version"]


def default_streams() -> list[Stream]:
    return [s for s in registry().values() if s.default]


def select_streams(names: Iterable[str] | None) -> list[Stream]:
    """The streams to read: `names` in registry order, or every default stream when `names` is None.

    Raises ConfigError naming each unknown stream, and each non-default one with the reason it is off."""
    if names is None:
        return default_streams()
    wanted = list(dict.fromkeys(names))
    reg = registry()
    problems = []
    for name in wanted:
        stream = reg.get(name)
        if stream is None:
            problems.append(f"{name}: unknown stream")
        elif not stream.default and not stream.optional:
            problems.append(f"{name}: not readable by this source ({stream.note or 'not a default stream'})")
    if problems:
        raise ConfigError("streams: " + "; ".join(problems),
                          hint="run `source-stripe discover --config ...` for the list of streams")
    chosen = set(wanted)
    for name in wanted:
        parent = reg[name].parent
        if parent is not None and parent.stream not in chosen:
            problems.append(f"{name}: read with its parent stream {parent.stream}, which is not selected")
    if problems:
        raise ConfigError("streams: " + "; ".join(problems), hint="add the parent streams to streams")
    return [s for s in reg.values() if s.name in chosen]


def children_of(streams: Iterable[Stream]) -> dict[str, list[Stream]]:
    """The selected child streams by parent stream name."""
    out: dict[str, list[Stream]] = {}
    for s in streams:
        if s.parent is not None:
            out.setdefault(s.parent.stream, []).append(s)
    return out


def stream_schema(name: str) -> dict:
    from specs import STRIPE_DIR

    return loads((STRIPE_DIR / f"{name}.json").read_bytes())


ACCOUNT_FIELD = "_account_id"  # the account an object was read from: added to every record's data
PRIMARY_KEY = [[ACCOUNT_FIELD], ["id"]]  # ids are unique per account only (docs/source-stripe.md, Connect)


def catalog_entry(stream: Stream, legacy_account: str | None = None) -> dict:
    """The catalog entry of one stream (docs/protocol.md, `catalog`). `legacy_account`: the account of a
    state made before records carried `_account_id` (its rows get it: `primary_key_defaults`)."""
    schema = stream_schema(stream.name)
    schema = {**schema, "properties": {**(schema.get("properties") or {}), ACCOUNT_FIELD: {
        "type": "string", "description": "The Stripe account the object was read from (acct_...)."}}}
    entry = messages.catalog_stream(
        stream.name, schema, primary_key=stream.primary_key,
        cursor_field=[stream.timestamp_field] if stream.timestamp_field else [],
        supports_time_range=stream.created_filter,
        metadata={"path": stream.path, "object": stream.object, "sync_mode": stream.mode,
                  **({} if stream.default else {"default": False}),
                  **({"parent": {"stream": stream.parent.stream, "field": stream.parent.field}}
                     if stream.parent else {})})
    if legacy_account:
        entry["primary_key_defaults"] = {ACCOUNT_FIELD: legacy_account}
    return entry


def catalog_streams(streams: Iterable[Stream], legacy_account: str | None = None) -> list[dict]:
    return [catalog_entry(s, legacy_account) for s in streams]


def object_to_stream(streams: Iterable[Stream]) -> dict[str, Stream]:
    """Map an API object type (`customer`, `subscription`) to the selected stream that lists it. Child
    streams whose objects do not name their parent (line items: the source adds the parent) are left out:
    an event about such an object could not be placed under its parent."""
    out: dict[str, Stream] = {}
    for s in streams:
        if s.parent is None or not s.parent.added:
            for obj in s.object_types:
                out.setdefault(obj, s)
    return out


MODE_WORDS = {"time": "time windows on created; new objects read incrementally",
              "cursor": "cursor; re-read in full every run", "single": "one request; re-read every run",
              "child": "with its parent (embedded list; nested endpoint past the first page)"}


def streams_table(streams: Iterable[Stream]) -> list[str]:
    """A readable table of streams: name, how it is read, whether it is read by default (or why not)."""
    rows = [(s.name, MODE_WORDS[s.mode], "yes") if s.default else
            (s.name, "with its parent, one request per parent", f"when named: {s.note}") if s.optional else
            (s.name, "not read", f"no: {s.note or 'not a default stream'}") for s in streams]
    heads = ("stream", "how it is read", "default")
    widths = [max(len(r[i]) for r in [heads, *rows]) for i in range(2)]
    return [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}".rstrip() for a, b, c in [heads, *rows]]
