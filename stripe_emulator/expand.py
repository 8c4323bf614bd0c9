"""``expand[]``: which paths Stripe accepts, and inlining the objects they name.

A path is dot-separated fields, each expandable on the schema reached so far (Stripe's
``x-expandableFields``, generated into ``data/expandable.json``: schema -> field -> schemas it leads
to). A list or search result has one expandable field, ``data``; ``expand[]=data`` alone is a no-op.
Stripe's answers (400, ``invalid_request_error``, no ``param`` or ``code``):

- "This property cannot be expanded (metadata)." (quoted in Valour-Software/Valour#1533; on a list,
  gitpod-io/gitpod#13035 shows the body without param or code);
- on a list, a field of the items without ``data.``: "This property cannot be expanded (product). You may
  want to try expanding 'data.product' instead." (stripe/stripe-dotnet#1351, stripe/stripe-python#316);
- more than four levels: "You cannot expand more than 4 levels of a property." (stripe/stripe-java#2011).

``expand_object`` replaces ids by (copies of) the objects a ``lookup`` finds; ids it cannot find stay ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

from .errors import StripeError

MAX_LEVELS = 4


class ExpandRules:
    def __init__(self, graph: dict[str, dict[str, list[str]]]):
        self.graph = graph

    def reaches(self, schemas: Iterable[str], fields: list[str]) -> bool:
        current = set(schemas)
        for name in fields:
            steps = [self.graph.get(s, {}).get(name) for s in current]
            if all(step is None for step in steps):
                return False
            current = {target for step in steps if step for target in step}
        return True

    def check(self, paths: list[str], schemas: Iterable[str], listing: bool) -> None:
        """Raise Stripe's error for the first path that cannot be expanded on these objects (``listing``:
        on a list of them, where paths start with ``data``)."""
        schemas = tuple(schemas)
        for path in paths:
            fields = path.split(".")
            if len(fields) > MAX_LEVELS:
                raise StripeError(400, "You cannot expand more than 4 levels of a property.")
            if listing and fields[0] == "data":
                fields = fields[1:]
            elif listing:
                hint = (
                    f" You may want to try expanding 'data.{path}' instead."
                    if self.reaches(schemas, fields)
                    else ""
                )
                raise StripeError(400, f"This property cannot be expanded ({path}).{hint}")
            if not self.reaches(schemas, fields):
                raise StripeError(400, f"This property cannot be expanded ({path}).")


def expand_object(
    obj: dict[str, Any], paths: list[str], lookup: Callable[[str], dict[str, Any] | None]
) -> dict[str, Any]:
    """A copy of ``obj`` with the ids along each path replaced by their objects."""
    obj = orjson.loads(orjson.dumps(obj))
    for path in paths:
        _expand_path(obj, path.split("."), lookup)
    return obj


def _expand_path(obj: Any, parts: list[str], lookup: Callable[[str], dict[str, Any] | None]) -> None:
    if not isinstance(obj, dict) or not parts:
        return
    name, rest = parts[0], parts[1:]
    v = obj.get(name)
    if isinstance(v, str):
        target = lookup(v)
        if target is not None:  # a copy: expanding further must not change the stored object
            obj[name] = v = orjson.loads(orjson.dumps(target))
    if rest:
        if isinstance(v, dict) and v.get("object") == "list":
            for item in v.get("data", []):
                _expand_path(item, rest, lookup)
        else:
            _expand_path(v, rest, lookup)
