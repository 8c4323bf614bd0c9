"""Query-string validation for list, search and retrieve endpoints, with Stripe's error bodies.

``parse_list_params`` turns ``[(key, value), ...]`` into a ``ListParams`` or raises ``StripeError``:
unknown parameter (base name before ``[`` not declared), missing required parameter, bad ``limit``,
bad ``created`` filter, both cursors at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .catalog import Endpoint
from .errors import StripeError, invalid_integer, missing_parameter, unknown_parameter

CREATED_OPS = ("gt", "gte", "lt", "lte")


@dataclass
class ListParams:
    limit: int = 10
    gte: int | None = None
    lt: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    expand: list[str] = field(default_factory=list)
    filters: dict[str, str] = field(default_factory=dict)  # other declared params: name -> value
    lists: dict[str, list[str]] = field(default_factory=dict)  # array params: types[], ids[] ...
    page: str | None = None
    query: str | None = None


def base_name(key: str) -> str:
    return key.split("[", 1)[0]


def check_declared(pairs: Iterable[tuple[str, str]], declared: frozenset[str] | set[str]) -> None:
    for k, _ in pairs:
        b = base_name(k)
        if b not in declared:
            raise unknown_parameter(b)


def parse_int(param: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise invalid_integer(param, f"Invalid integer: {raw}") from None


def parse_list_params(pairs: list[tuple[str, str]], ep: Endpoint) -> ListParams:
    check_declared(pairs, ep.declared_params)
    present = {base_name(k) for k, _ in pairs}
    for r in ep.required_params:
        if r not in present:
            raise missing_parameter(r)
    p = ListParams()
    created: dict[str, int] = {}
    for k, v in pairs:
        b = base_name(k)
        if b == "limit":
            n = parse_int("limit", v)
            if n < 1:
                raise invalid_integer("limit", "This value must be greater than or equal to 1.")
            if n > 100:
                raise invalid_integer("limit", "This value must be less than or equal to 100.")
            p.limit = n
        elif b == "created" and ep.kind == "list":
            if k == "created":
                created["eq"] = parse_int("created", v)
            else:
                op = k[len("created[") : -1] if k.endswith("]") else ""
                if op not in CREATED_OPS or k != f"created[{op}]":
                    raise unknown_parameter(k)
                created[op] = parse_int(k, v)
        elif b in ("starting_after", "ending_before"):
            if v == "":
                continue
            setattr(p, b, v)
        elif b == "expand":
            if v:
                p.expand.append(v)
        elif b == "page" and ep.kind == "search":
            p.page = v or None
        elif b == "query" and ep.kind == "search":
            p.query = v
        elif k.endswith("[]") or (k[len(b) :].startswith("[") and k[len(b) + 1 : -1].isdigit()):
            p.lists.setdefault(b, []).append(v)
        else:
            p.filters[k] = v
    if p.starting_after and p.ending_before:
        raise StripeError(
            400,
            "You may only specify one of these parameters: ending_before, starting_after.",
            code="parameter_invalid",
        )
    if created:
        gte, lt = None, None
        if "eq" in created:
            gte, lt = created["eq"], created["eq"] + 1
        if "gt" in created:
            gte = max(gte if gte is not None else -(2**62), created["gt"] + 1)
        if "gte" in created:
            gte = max(gte if gte is not None else -(2**62), created["gte"])
        if "lt" in created:
            lt = min(lt if lt is not None else 2**62, created["lt"])
        if "lte" in created:
            lt = min(lt if lt is not None else 2**62, created["lte"] + 1)
        p.gte, p.lt = gte, lt
    return p
