"""One resource's objects in one account scope: sorted (created, id) keys, overrides and deletions.

Generated objects exist only as a key and an index; their JSON is rendered from the template when
asked for, with embedded child lists (``embeds``: an invoice's ``lines``) rendered from their child
set. Objects created or updated at run time are kept whole (as dict and serialized bytes).
Callers hold the world lock around every method.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from .dataset import FieldGen
from .template import ObjectTemplate, Raw

Predicate = Callable[["ResourceStore", str], bool]


class ResourceStore:
    def __init__(
        self,
        obj: str,
        ts_field: str | None,
        template: ObjectTemplate,
        gen: FieldGen,
        keys: list[tuple[int, str]],
        prefix_style: Any,
    ):
        self.obj, self.ts_field, self.template, self.gen, self.style = (
            obj,
            ts_field,
            template,
            gen,
            prefix_style,
        )
        self.gen_index: dict[str, int] = {k[1]: i for i, k in enumerate(keys)}
        self.ts_by_id: dict[str, int] = {oid: ts for ts, oid in keys}
        self.keys: list[tuple[int, str]] = sorted(keys)
        self.overrides: dict[str, dict[str, Any]] = {}
        self.override_bytes: dict[str, bytes] = {}
        self.deleted: dict[str, int] = {}
        self.next_index = len(keys)
        self.version = 0  # bumped on every change (cheap change detection)
        self.embeds: list[tuple[int, Callable[[str], Raw]]] = []  # (slot, parent id -> its embedded list)

    # ---- reading ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, obj_id: object) -> bool:
        return obj_id in self.ts_by_id

    def render(self, obj_id: str) -> bytes:
        b = self.override_bytes.get(obj_id)
        if b is not None:
            return b
        values = self._values(self.gen_index[obj_id], self.ts_by_id[obj_id], obj_id)
        return self.template.render(obj_id, values)

    def _values(self, i: int, ts: int, obj_id: str) -> list[Any]:
        values = self.gen.values(i, ts)
        for slot, embed in self.embeds:
            values[slot] = embed(obj_id)
        return values

    def get(self, obj_id: str) -> dict[str, Any]:
        o = self.overrides.get(obj_id)
        if o is not None:
            return o
        return orjson.loads(self.render(obj_id))

    def field(self, obj_id: str, name: str) -> Any:
        o = self.overrides.get(obj_id)
        if o is not None:
            return o.get(name)
        if name == "id":
            return obj_id
        if name in self.gen.slots:
            return self.gen.value(self.gen_index[obj_id], self.ts_by_id[obj_id], name)
        return self.template.constants.get(name)

    def _pos(self, obj_id: str) -> int:
        return bisect_left(self.keys, (self.ts_by_id[obj_id], obj_id))

    def query(
        self,
        gte: int | None,
        lt: int | None,
        starting_after: str | None,
        ending_before: str | None,
        limit: int,
        pred: Predicate | None,
    ) -> tuple[list[str], bool]:
        """Ids of one page, newest first, and ``has_more`` (Stripe's semantics for both cursors)."""
        keys = self.keys
        lo = 0 if gte is None else bisect_left(keys, (gte,))
        hi = len(keys) if lt is None else bisect_left(keys, (lt,))
        if ending_before is not None:
            start = max(self._pos(ending_before) + 1, lo)
            if pred is None:
                end = min(start + limit, hi)
                ids = [keys[j][1] for j in range(end - 1, start - 1, -1)]
                return ids, end < hi
            found: list[str] = []
            for j in range(start, hi):
                oid = keys[j][1]
                if pred(self, oid):
                    found.append(oid)
                    if len(found) > limit:
                        break
            has_more = len(found) > limit
            return list(reversed(found[:limit])), has_more
        top = hi if starting_after is None else min(self._pos(starting_after), hi)
        if pred is None:
            stop = max(top - limit, lo)
            ids = [keys[j][1] for j in range(top - 1, stop - 1, -1)]
            return ids, stop > lo
        found = []
        for j in range(top - 1, lo - 1, -1):
            oid = keys[j][1]
            if pred(self, oid):
                found.append(oid)
                if len(found) > limit:
                    break
        return found[:limit], len(found) > limit

    def iter_ids(self) -> Iterator[str]:
        for _, oid in reversed(self.keys):
            yield oid

    # ---- writing ---------------------------------------------------------------------------------
    def new_base(self, obj_id: str, ts: int) -> dict[str, Any]:
        """A fresh object (fixture shape, varied fields) for an object created at run time."""
        i = self.next_index
        self.next_index += 1
        return orjson.loads(self.template.render(obj_id, self._values(i, ts, obj_id)))

    def put(self, obj: dict[str, Any], sort_ts: int) -> None:
        """Insert or replace a whole object (its sort key may change)."""
        oid = obj["id"]
        old_ts = self.ts_by_id.get(oid)
        if old_ts is not None and old_ts != sort_ts:
            del self.keys[bisect_left(self.keys, (old_ts, oid))]
            old_ts = None
        if old_ts is None:
            insort(self.keys, (sort_ts, oid))
            self.ts_by_id[oid] = sort_ts
        self.overrides[oid] = obj
        self.override_bytes[oid] = orjson.dumps(obj)
        self.deleted.pop(oid, None)
        self.version += 1

    def remove(self, obj_id: str, at: int) -> None:
        ts = self.ts_by_id.pop(obj_id)
        del self.keys[bisect_left(self.keys, (ts, obj_id))]
        self.overrides.pop(obj_id, None)
        self.override_bytes.pop(obj_id, None)
        self.deleted[obj_id] = at
        self.version += 1
