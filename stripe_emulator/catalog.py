"""The API surface the emulator serves, loaded from ``data/endpoints.json``, ``data/expandable.json`` and
``data/fixtures.json``.

The files are generated from Stripe's OpenAPI description by scripts/generate_stripe_specs.py; this
module only reads them. It maps request paths to endpoints (with each endpoint's query parameter schemas
and the schemas its objects have), resource names (stream names like ``customers``, paths like
``/v1/customers`` or object names like ``customer``) to object types, and holds each object's fixture,
the known API versions and which fields of which schema can be expanded.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

DEFAULT_DATA_DIR = Path(__file__).resolve().parent / "data"
PAGINATION = frozenset({"limit", "starting_after", "ending_before", "expand"})
EXPAND_ONLY = {"expand": {"type": "array", "items": {"type": "string"}}}


def stream_name(path: str) -> str:
    """``/v1/checkout/sessions`` -> ``checkout_sessions`` (the design's stream naming)."""
    return (
        path[len("/v1/") :].replace("/", "_")
        if path.startswith("/v1/")
        else path.strip("/").replace("/", "_")
    )


@dataclass(frozen=True)
class Retrieve:
    """A GET of one object: its query parameter schemas and the schemas the object may have."""

    query_schemas: dict[str, Any]
    schemas: tuple[str, ...]


@dataclass(frozen=True)
class Endpoint:
    """One GET list (or search) endpoint."""

    path: str
    object: str
    declared_params: frozenset[str]
    required_params: tuple[str, ...]
    created_filter: bool
    timestamp_field: str | None
    deletable: bool
    kind: str = "list"  # "list" or "search"
    query_schemas: dict[str, Any] = field(default_factory=dict)  # parameter name -> OpenAPI schema
    schema: str | None = None  # component schema of the listed objects
    retrieve: Retrieve | None = None  # GET <path>/{id}, when Stripe has it

    @property
    def name(self) -> str:
        return stream_name(self.path)


@dataclass
class Catalog:
    api_version: str
    endpoints: dict[str, Endpoint]
    retrieve_endpoints: dict[str, str]
    fixtures: dict[str, dict[str, Any]]
    retrieve_details: dict[str, Retrieve] = field(default_factory=dict)  # singleton path -> its GET
    api_versions: frozenset[str] = frozenset()
    expandable: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # schema -> field -> schemas
    nested: dict[str, Endpoint] = field(default_factory=dict)  # path shape /v1/invoices/{}/lines -> endpoint
    nested_retrieve: dict[str, str] = field(default_factory=dict)  # list path shape -> its child's GET path
    primary: dict[str, Endpoint] = field(default_factory=dict)  # object type -> its main list endpoint
    names: dict[str, str] = field(default_factory=dict)  # resource name / path / object -> object type

    def __post_init__(self) -> None:
        by_object: dict[str, list[Endpoint]] = {}
        for ep in self.endpoints.values():
            by_object.setdefault(ep.object, []).append(ep)
        for obj, eps in by_object.items():
            lists = [e for e in eps if e.kind == "list"] or eps
            natural = obj.replace(".", "_") + "s"
            lists.sort(key=lambda e: (e.name != natural, len(e.path), e.path))
            self.primary[obj] = lists[0]
        for ep in self.endpoints.values():
            if ep.kind == "list":
                self.names.setdefault(ep.name, ep.object)
                self.names.setdefault(ep.path, ep.object)
        for obj, ep in self.primary.items():
            self.names[ep.name] = obj
            self.names[ep.path] = obj
            self.names.setdefault(obj, obj)

    def resolve(self, resource: str) -> str:
        """Object type for a resource name (``customers``), a path (``/v1/customers``) or an object name."""
        obj = self.names.get(resource) or self.names.get(resource.rstrip("/"))
        if obj is None:
            raise KeyError(f"unknown resource {resource!r}")
        return obj

    def endpoint_for(self, obj: str) -> Endpoint:
        return self.primary[obj]

    def timestamp_field(self, obj: str) -> str | None:
        ep = self.primary.get(obj)
        if ep is not None:
            return ep.timestamp_field
        fx = self.fixtures.get(obj, {})
        return "created" if "created" in fx else None

    def deletable(self, obj: str) -> bool:
        ep = self.primary.get(obj)
        return bool(ep and ep.deletable)

    def fixture(self, obj: str) -> dict[str, Any]:
        fx = self.fixtures.get(obj)
        if fx is None:
            fx = {"id": None, "object": obj, "created": 1234567890, "livemode": False, "metadata": {}}
        return fx


def path_shape(path: str) -> str:
    """``/v1/invoices/{invoice}/lines`` -> ``/v1/invoices/{}/lines`` (path parameter names dropped)."""
    return re.sub(r"\{[^/}]*\}", "{}", path)


def _nested(path: str, raw: dict[str, Any]) -> Endpoint:
    first = {"object": raw["objects"][0], "schema": raw["schemas"][0], "timestamp_field": None}
    return _endpoint(path, {**raw, **first})


def _endpoint(path: str, raw: dict[str, Any]) -> Endpoint:
    created = bool(raw.get("created_filter"))
    declared = raw.get("declared_params")
    if declared is None:
        declared = set(PAGINATION) | ({"created"} if created else set())
    kind = "search" if path.endswith("/search") else "list"
    ts = raw.get("timestamp_field", "created")
    schemas = raw.get("query_schemas") or {p: {} for p in declared}
    return Endpoint(
        path=path,
        object=raw["object"],
        declared_params=frozenset(declared),
        required_params=tuple(raw.get("required_params") or ()),
        created_filter=created,
        timestamp_field=ts,
        deletable=bool(raw.get("deletable")),
        kind=kind,
        query_schemas=schemas,
        schema=raw.get("schema"),
        retrieve=_retrieve(raw["retrieve"]) if raw.get("retrieve") else None,
    )


def _retrieve(raw: dict[str, Any]) -> Retrieve:
    return Retrieve(raw.get("query_schemas") or EXPAND_ONLY, tuple(raw.get("schemas") or ()))


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("STRIPE_EMULATOR_DATA_DIR")
    return Path(env) if env else DEFAULT_DATA_DIR


def load_catalog(directory: str | os.PathLike[str] | None = None) -> Catalog:
    d = data_dir(directory)
    try:
        ep_raw = orjson.loads((d / "endpoints.json").read_bytes())
        fx_raw = orjson.loads((d / "fixtures.json").read_bytes())
        expandable = orjson.loads((d / "expandable.json").read_bytes())["schemas"]
    except FileNotFoundError as e:
        raise RuntimeError(
            f"stripe emulator data missing: {e.filename} (generated from Stripe's OpenAPI; "
            "set data_dir or STRIPE_EMULATOR_DATA_DIR)"
        ) from e
    fixtures = fx_raw.get("objects") or fx_raw.get("resources") or {}
    endpoints = {
        p: _endpoint(p, r)
        for p, r in ep_raw.get("list_endpoints", {}).items()
        if "{" not in p and isinstance(r, dict) and r.get("object")
    }
    retrieve = dict(ep_raw.get("retrieve_endpoints") or {})
    retrieve.setdefault("/v1/account", "account")
    details = ep_raw.get("retrieve_details") or {}
    nested_raw = ep_raw.get("nested_endpoints") or {}
    api_version = ep_raw.get("api_version", "2023-08-16")
    return Catalog(
        api_version=api_version,
        endpoints=endpoints,
        retrieve_endpoints=retrieve,
        fixtures=fixtures,
        retrieve_details={p: _retrieve(details.get(p) or {"schemas": [obj]}) for p, obj in retrieve.items()},
        api_versions=frozenset(ep_raw.get("api_versions") or [api_version]),
        expandable=expandable,
        nested={path_shape(p): _nested(p, r) for p, r in nested_raw.items()},
        nested_retrieve={
            path_shape(p): r["retrieve"]["path"] for p, r in nested_raw.items() if r.get("retrieve")
        },
    )
