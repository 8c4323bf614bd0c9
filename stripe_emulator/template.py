"""Byte templates: a fixture pre-serialized once, with holes for the fields that vary per object.

Rendering an object is then a ``b"".join`` of constant bytes and a few small serialized values, which
is what lets the emulator serve tens of thousands of objects per second without building dicts.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

import orjson

_ID_MARK = b"@@EMU_ID@@"
_SLOT_RE = re.compile(rb'"@@EMU_SLOT(\d+)@@"|@@EMU_ID@@')


class Raw(bytes):
    """A slot value that is already JSON (an embedded list rendered from its children's templates)."""


class ObjectTemplate:
    """Render objects of one type from its fixture; ``slots`` are top-level fields filled per object.

    Every occurrence of the fixture's own id (e.g. nested ``subscription`` back-references or URLs
    containing the id) is replaced by the new object's id.
    """

    def __init__(self, fixture: dict[str, Any], slots: Sequence[str]):
        self.slots = list(slots)
        base = copy.deepcopy(fixture)
        base.setdefault("id", None)
        example_id = base.get("id")
        for n, name in enumerate(self.slots):
            base[name] = f"@@EMU_SLOT{n}@@"
        if isinstance(example_id, str) and example_id:
            base["id"] = "@@EMU_ID@@"
            raw = orjson.dumps(base).replace(example_id.encode(), _ID_MARK)
        else:
            base["id"] = "@@EMU_ID@@"
            raw = orjson.dumps(base)
        self._parts: list[bytes | int] = []  # literal bytes, slot index, or -1 for the id
        pos = 0
        for m in _SLOT_RE.finditer(raw):
            self._parts.append(raw[pos : m.start()])
            self._parts.append(int(m.group(1)) if m.group(1) is not None else -1)
            pos = m.end()
        self._parts.append(raw[pos:])
        self.constants = {k: v for k, v in fixture.items() if k not in self.slots and k != "id"}

    def render(self, obj_id: str, values: Sequence[Any]) -> bytes:
        out: list[bytes] = []
        dumps = orjson.dumps
        id_bytes = obj_id.encode()
        for p in self._parts:
            if p.__class__ is bytes:
                out.append(p)  # type: ignore[arg-type]
            elif p == -1:
                out.append(id_bytes)
            else:
                v = values[p]  # type: ignore[index]
                out.append(v if v.__class__ is Raw else dumps(v))
        return b"".join(out)
