"""The parameters of a list, search or retrieve request, checked like Stripe checks them.

``parse_list_params(pairs, endpoint)`` decodes the query string, checks every parameter against the
endpoint's OpenAPI schemas (``validation.check_params``) and returns a ``ListParams``; on top of the
schemas it applies the rules the schemas do not say: ``limit`` is 1..100 and the two cursors exclude
each other. ``parse_retrieve_params`` does the same for a GET of one object and returns its ``expand``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .catalog import Endpoint
from .errors import StripeError, invalid_integer
from .querystring import decode
from .validation import check_params

UNBOUNDED = 2**62


@dataclass
class ListParams:
    limit: int = 10
    gte: int | None = None
    lt: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    expand: list[str] = field(default_factory=list)
    filters: dict[str, str] = field(default_factory=dict)  # other scalars, flattened: "a[b]" -> "value"
    lists: dict[str, list[str]] = field(default_factory=dict)  # array params: types[], ids[] ...
    page: str | None = None
    query: str | None = None


def parse_list_params(pairs: list[tuple[str, str]], ep: Endpoint) -> ListParams:
    values = check_params(decode(pairs), ep.query_schemas, ep.required_params)
    p = ListParams()
    for name, v in values.items():
        if name == "limit":
            if v < 1:
                raise invalid_integer("limit", "This value must be greater than or equal to 1.")
            if v > 100:
                raise invalid_integer("limit", "This value must be less than or equal to 100.")
            p.limit = v
        elif name == "created" and ep.kind == "list":
            p.gte, p.lt = created_range(v)
        elif name in ("starting_after", "ending_before", "page", "query"):
            setattr(p, name, v)
        elif name == "expand":
            p.expand = v
        elif isinstance(v, list):
            p.lists[name] = [_text(x) for x in v]
        else:
            p.filters.update(_flatten(name, v))
    if p.starting_after and p.ending_before:
        raise StripeError(
            400,
            "You may only specify one of these parameters: ending_before, starting_after.",
            code="parameter_invalid",
        )
    return p


def parse_retrieve_params(pairs: list[tuple[str, str]], query_schemas: dict[str, Any]) -> list[str]:
    return check_params(decode(pairs), query_schemas, ()).get("expand", [])


def created_range(v: int | dict[str, int]) -> tuple[int | None, int | None]:
    """``created`` (one second) or ``created[gt|gte|lt|lte]`` as a half-open range [gte, lt)."""
    if isinstance(v, int):
        return v, v + 1
    gte, lt = None, None
    if "gt" in v:
        gte = v["gt"] + 1
    if "gte" in v:
        gte = max(gte if gte is not None else -UNBOUNDED, v["gte"])
    if "lt" in v:
        lt = v["lt"]
    if "lte" in v:
        lt = min(lt if lt is not None else UNBOUNDED, v["lte"] + 1)
    return gte, lt


def _text(v: Any) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def _flatten(name: str, v: Any) -> dict[str, str]:
    if isinstance(v, dict):
        out: dict[str, str] = {}
        for k, sub in v.items():
            out.update(_flatten(f"{name}[{k}]", sub))
        return out
    return {name: _text(v)}
