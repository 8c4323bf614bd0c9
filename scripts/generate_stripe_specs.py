#!/usr/bin/env python3
"""Generate stripe-sync's Stripe stream data from Stripe's OpenAPI description.

Role: the only code in the project that reads `../shared/stripe-openapi/` (Stripe's OpenAPI 3 spec for
API version 2023-08-16, its example objects and the table of GET list endpoints). It writes the
generated files that the project commits and reads at run time, so users' clones never need
`../shared`:

  specs/stripe/<stream>.json                    JSON Schema (draft 2020-12) of each stream, top-level
                                                properties only
  source_stripe/streams.json                    the stream registry the source reads (paths, declared
                                                query parameters, quirks as data)
  stripe_emulator/data/endpoints.json           list and retrieve endpoints for the Stripe emulator, and
                                                the nested lists under a parent (invoice lines ...)
  stripe_emulator/data/fixtures.json            one example object per object type, for the emulator
  stripe_emulator/data/expandable.json          which fields of which object can be expanded, for the
                                                emulator's expand[] checks

Output is deterministic (sorted keys, stable order, trailing newline): re-running it gives no diff.
Stdlib only.

    python scripts/generate_stripe_specs.py [--shared ../shared] [--out-root <repo>]
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
API_VERSION = "2023-08-16"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
MAX_ENUM = 20
MAX_DESCRIPTION = 200
TYPE_ORDER = ["string", "integer", "number", "boolean", "object", "array", "null"]
KEPT_FORMATS = {"unix-time", "decimal"}

# Streams a default sync does not read, and why. Rows of endpoints.tsv with scope
# top_level_requires_param are off by default too (see stream_note()).
DEFAULT_OFF = {
    "/v1/balance/history": "duplicate of balance_transactions (older alias of /v1/balance_transactions)",
    "/v1/linked_accounts": (
        "duplicate of financial_connections_accounts (older alias of /v1/financial_connections/accounts)"
    ),
    "/v1/invoices/upcoming/lines": "preview of the next invoice, computed on request and not persisted",
    "/v1/credit_notes/preview/lines": "preview of a credit note, computed on request and not persisted",
    "/v1/test_helpers/test_clocks": "test mode only",
    "/v1/events": (
        "read by the incremental sync for updates and deletes, not a table stream; "
        "Stripe keeps events 30 days"
    ),
}
# endpoints.tsv flags that must be handled by DEFAULT_OFF (so a new flag cannot slip into a default sync).
FLAGS_NEEDING_DEFAULT_OFF = {"preview_computed_not_persisted", "test_mode_only", "retention_30d"}

# Query parameters the source always sends, per path. Keys must be declared by the endpoint.
FIXED_PARAMS = {
    # Without status, Stripe lists only subscriptions that are not canceled.
    "/v1/subscriptions": {"status": "all"},
    "/v1/payment_methods": {"type": "card"},
}
EXTRA_NOTES = {
    "/v1/payment_methods": (
        "Stripe's list requires customer or type (older API versions; type is optional in 2023-08-16); "
        "only card payment methods are synced. This top-level list returns PaymentMethods for Treasury "
        "flows: ones attached to customers are listed per customer "
        "(/v1/customers/{customer}/payment_methods, not synced)"
    ),
}

# Nested lists read as child streams (docs/source-stripe.md, "Child streams"): list path -> (stream name,
# the parent's list path). Everything else is derived from the OpenAPI (`child_stream_rows`): the parent
# property that embeds the first page (a `required` list property of the parent's schema holding the
# child schema: present without expand[]), the child's property naming its parent (else one the source
# adds, named after the parent object), the endpoint's parameters. `/v1/subscription_items` is a top-level
# path that lists one parent's children by a required `subscription` parameter.
CHILD_STREAMS = {
    "/v1/invoices/{invoice}/lines": ("invoice_line_items", "/v1/invoices"),
    "/v1/subscription_items": ("subscription_items", "/v1/subscriptions"),
    "/v1/credit_notes/{credit_note}/lines": ("credit_note_line_items", "/v1/credit_notes"),
    "/v1/checkout/sessions/{session}/line_items": ("checkout_session_line_items", "/v1/checkout/sessions"),
    "/v1/payment_links/{payment_link}/line_items": ("payment_link_line_items", "/v1/payment_links"),
    "/v1/quotes/{quote}/line_items": ("quote_line_items", "/v1/quotes"),
    "/v1/customers/{customer}/tax_ids": ("customer_tax_ids", "/v1/customers"),
    "/v1/customers/{customer}/balance_transactions": ("customer_balance_transactions", "/v1/customers"),
    "/v1/transfers/{id}/reversals": ("transfer_reversals", "/v1/transfers"),
    "/v1/application_fees/{id}/refunds": ("application_fee_refunds", "/v1/application_fees"),
    "/v1/accounts/{account}/persons": ("account_persons", "/v1/accounts"),
    "/v1/accounts/{account}/capabilities": ("account_capabilities", "/v1/accounts"),
    "/v1/accounts/{account}/external_accounts": ("account_external_accounts", "/v1/accounts"),
}
# Child streams whose ids repeat across parents: keyed by (account, parent, id), not (account, id).
# A capability's id is its name: "id: The identifier for the capability", example `"id": "card_payments"`
# (https://stripe.com/docs/api/capabilities, the Capability object; the OpenAPI's capability.id has no
# prefix), so two connected accounts listed by one platform both have a `card_payments`.
CHILD_IDS_PER_PARENT = {"account_capabilities"}
# Why a child stream is not read by default: its parent does not embed it, so it costs one request per
# parent on every read of the parent (and cursor parents are re-read in full every run). Name it in
# `streams` to read it. Embedded lists cost a request only for a parent with more than 10 children.
CHILD_NOT_EMBEDDED_NOTE = (
    "not embedded in its parent: one request per {parent} on every read of {parent_stream}; "
    "name it in streams to read it"
)

# ---------------------------------------------------------------------------------------------- inputs

def load_inputs(shared: Path) -> tuple[dict, list[dict], dict]:
    base = shared / "stripe-openapi"
    spec = json.loads((base / "spec3.json").read_text(encoding="utf-8"))
    with open(base / "endpoints.tsv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    fixtures = json.loads((base / "fixtures3.json").read_text(encoding="utf-8"))["resources"]
    version = spec["info"]["version"]
    if version != API_VERSION:
        raise SystemExit(f"spec3.json is API version {version}, expected {API_VERSION}")
    return spec, rows, fixtures


def stream_name(path: str) -> str:
    assert path.startswith("/v1/"), path
    return path[len("/v1/"):].replace("/", "_")


def query_params(op: dict) -> list[dict]:
    return [p for p in op.get("parameters", []) if p.get("in") == "query"]


def list_item_schema_name(op: dict) -> str | None:
    """Component schema name of a list (or search) response's items, or None for other responses."""
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    props = schema.get("properties", {})
    if "data" not in props or props.get("object", {}).get("enum") not in (["list"], ["search_result"]):
        return None
    ref = props["data"]["items"].get("$ref")
    if ref is None:
        raise SystemExit(f"polymorphic list items not supported: {op['operationId']}")
    return ref.rsplit("/", 1)[-1]


def object_name(schemas: dict, name: str) -> str:
    enum = schemas[name]["properties"]["object"]["enum"]
    assert len(enum) == 1, (name, enum)
    return enum[0]


def timestamp_field(schema: dict) -> str | None:
    props = schema.get("properties", {})
    for field in ("created", "date"):
        if field in props:
            return field
    return None


def deletable(paths: dict, path: str) -> bool:
    """DELETE on `<path>/{id}` answers with a `deleted_*` object. (DELETE /v1/subscriptions/{id} cancels:
    it answers with the subscription, which stays listed, so subscriptions are not deletable.)"""
    pattern = re.compile(re.escape(path) + r"/\{[^/}]+\}")
    for p, ops in paths.items():
        if pattern.fullmatch(p) and "delete" in ops:
            schema = ops["delete"]["responses"]["200"]["content"]["application/json"]["schema"]
            if schema.get("$ref", "").rsplit("/", 1)[-1].startswith("deleted_"):
                return True
    return False


# ----------------------------------------------------------------------------------------- type mapping

def resolve(spec: dict, ref: str) -> dict:
    assert ref.startswith("#/components/schemas/"), ref
    return spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def json_types(spec: dict, schema: dict, seen: frozenset = frozenset()) -> set[str] | None:
    """JSON types a value of this OpenAPI schema may have; None means unconstrained."""
    if "$ref" in schema:
        ref = schema["$ref"]
        if ref in seen:
            return {"object"}
        target = resolve(spec, ref)
        types = json_types(spec, target, seen | {ref})
        if types is None and "properties" in target:
            types = {"object"}
        if types is not None and schema.get("nullable"):
            types = types | {"null"}
        return types
    types: set[str] = set()
    constrained = False
    if "type" in schema:
        types.add(schema["type"])
        constrained = True
    for key in ("anyOf", "oneOf"):
        if key in schema:
            for member in schema[key]:
                member_types = json_types(spec, member, seen)
                if member_types is None:
                    return None
                types |= member_types
            constrained = True
    if "allOf" in schema:
        for member in schema["allOf"]:
            member_types = json_types(spec, member, seen)
            if member_types is not None:
                types = member_types if not constrained else (types & member_types)
                constrained = True
    if not constrained:
        if "properties" in schema or "additionalProperties" in schema:
            return {"object"} | ({"null"} if schema.get("nullable") else set())
        return None
    if schema.get("nullable"):
        types.add("null")
    return types


def property_schema(spec: dict, schema: dict) -> dict:
    """Top-level property of a stream schema: its types, and a short enum or a kept format."""
    out: dict = {}
    types = json_types(spec, schema)
    if types is not None:
        unknown = types - set(TYPE_ORDER)
        assert not unknown, unknown
        out["type"] = [t for t in TYPE_ORDER if t in types]
    fmt = schema.get("format")
    if fmt in KEPT_FORMATS:
        out["format"] = fmt
    enum = schema.get("enum")
    # Enums marked x-stripeBypassValidation may gain values without notice: not kept.
    bypass = schema.get("x-stripeBypassValidation")
    if enum and len(enum) <= MAX_ENUM and not bypass and "anyOf" not in schema:
        values = list(enum)
        if schema.get("nullable") and None not in values:
            values.append(None)
        out["enum"] = values
    return out


def short_description(text: str | None, fallback: str) -> str:
    text = text or ""
    text = re.sub(r"<[^>]+>", "", text)                       # HTML tags
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)      # markdown links -> their text
    text = text.split("\n\n", 1)[0]
    text = " ".join(text.split())
    match = re.search(r"^(.+?[.!?])(\s|$)", text)
    sentence = match.group(1) if match else text
    if not sentence:
        return fallback
    if len(sentence) > MAX_DESCRIPTION:
        sentence = sentence[: MAX_DESCRIPTION - 3].rsplit(" ", 1)[0] + "..."
    return sentence


def merged_property(a: dict, b: dict) -> dict:
    """A property of two object schemas (bank_account and card): both types, both enums if both have one."""
    if a == b:
        return a
    out: dict = {}
    if "type" in a and "type" in b:
        out["type"] = [t for t in TYPE_ORDER if t in a["type"] or t in b["type"]]
    if "enum" in a and "enum" in b:
        out["enum"] = a["enum"] + [v for v in b["enum"] if v not in a["enum"]]
    return out


def stream_schema(spec: dict, name: str, schema_name: str, also: tuple[str, ...] | list[str] = ()) -> dict:
    """The stream schema of an object schema; with `also`, of every one of them (a polymorphic list):
    each property of any, typed to fit all that have it."""
    schemas = spec["components"]["schemas"]
    schema = schemas[schema_name]
    obj = object_name(schemas, schema_name)
    assert "id" in schema["properties"], schema_name
    properties = {p: property_schema(spec, s) for p, s in schema["properties"].items()}
    for other in also:
        for p, s in schemas[other]["properties"].items():
            prop = property_schema(spec, s)
            properties[p] = merged_property(properties[p], prop) if p in properties else prop
    return {
        "$schema": SCHEMA_DIALECT,
        "title": name,
        "description": short_description(schema.get("description"), f"A Stripe {obj} object."),
        "type": "object",
        "properties": dict(sorted(properties.items())),
        "required": ["id"],
        "additionalProperties": True,
        "x-stripe-object": obj,
        "x-timestamp-field": timestamp_field(schema),
    }


# ------------------------------------------------------------------------------------------- fixtures

def id_prefix(obj: str, fixtures: dict) -> str:
    """Id prefix of an object type, inferred from the examples of its family; "obj_" if unknown."""
    for key in (obj, f"deleted_{obj}"):
        example = fixtures.get(key)
        if example and isinstance(example.get("id"), str) and "_" in example["id"]:
            return example["id"].split("_", 1)[0] + "_"
    # Another example referring to it by field name: {"customer": "cus_..."}.
    field = obj.rsplit(".", 1)[-1]
    for key in sorted(fixtures):
        value = fixtures[key].get(field)
        if isinstance(value, str) and re.fullmatch(r"[a-z]+_[A-Za-z0-9]+", value):
            return value.split("_", 1)[0] + "_"
    return "obj_"


def synthesize(stream_spec: dict, fixtures: dict) -> dict:
    """A minimal example object that validates against a generated stream schema."""
    obj = stream_spec["x-stripe-object"]
    example: dict = {}
    for prop, schema in stream_spec["properties"].items():
        types = schema.get("type", ["string"])
        if "enum" in schema:
            example[prop] = schema["enum"][0]
        elif schema.get("format") == "unix-time" or prop == "created":
            example[prop] = 1692144000                           # 2023-08-16T00:00:00Z
        elif "string" in types:
            example[prop] = "100.0" if schema.get("format") == "decimal" else f"{prop} example"
        elif "integer" in types:
            example[prop] = 0
        elif "number" in types:
            example[prop] = 0.0
        elif "boolean" in types:
            example[prop] = False
        elif "object" in types:
            example[prop] = {}
        elif "array" in types:
            example[prop] = []
        else:
            example[prop] = None
    example["id"] = id_prefix(obj, fixtures) + "example0001"
    example["object"] = obj
    return example


# ------------------------------------------------------------------------------- emulator strictness

# What the emulator needs to check a query parameter like Stripe does: shape, type, enum, required.
QUERY_SCHEMA_KEYS = (
    "type", "format", "enum", "items", "properties", "required", "anyOf", "additionalProperties",
)


def compact_schema(schema: dict) -> dict:
    """A query parameter's schema without descriptions, titles and SDK hints."""
    out: dict = {}
    for key in QUERY_SCHEMA_KEYS:
        if key not in schema:
            continue
        value = schema[key]
        if key == "properties":
            value = {name: compact_schema(s) for name, s in sorted(value.items())}
        elif key == "anyOf":
            value = [compact_schema(s) for s in value]
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            value = compact_schema(value)
        out[key] = value
    assert "$ref" not in schema, "query parameter schemas are inline in Stripe's spec"
    return out


def query_schemas(params: list[dict]) -> dict:
    return {p["name"]: compact_schema(p["schema"]) for p in sorted(params, key=lambda p: p["name"])}


def response_schemas(op: dict) -> list[str]:
    """Component schema names a GET answers with (several when it may answer a deleted stub)."""
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    members = schema.get("anyOf", [schema])
    return sorted(m["$ref"].rsplit("/", 1)[-1] for m in members if "$ref" in m)


def retrieve_by_id(paths: dict, path: str) -> dict | None:
    """The `GET <path>/{id}` operation under a list path: its query parameters and response schemas."""
    pattern = re.compile(re.escape(path) + r"/\{[^/}]+\}")
    for p in sorted(paths):
        if pattern.fullmatch(p) and "get" in paths[p]:
            op = paths[p]["get"]
            return {"query_schemas": query_schemas(query_params(op)), "schemas": response_schemas(op)}
    return None


def nested_list_endpoints(spec: dict) -> dict:
    """Every GET list path under a parent object (`/v1/invoices/{invoice}/lines`): the parent's path
    parameter, the item object(s) (several for a polymorphic list such as external accounts), the query
    parameter schemas, and the `GET <path>/{id}` of one child where Stripe has it. For the emulator."""
    paths = spec["paths"]
    schemas = spec["components"]["schemas"]
    out = {}
    for path in sorted(paths):
        op = paths[path].get("get")
        if op is None or not path.startswith("/v1/") or "{" not in path:
            continue
        content = op["responses"]["200"]["content"].get("application/json", {})
        props = content.get("schema", {}).get("properties", {})
        if "data" not in props or props.get("object", {}).get("enum") != ["list"]:
            continue
        items = props["data"]["items"]
        names = sorted(m["$ref"].rsplit("/", 1)[-1] for m in items.get("anyOf", [items]) if "$ref" in m)
        params = query_params(op)
        path_params = [p["name"] for p in op.get("parameters", []) if p.get("in") == "path"]
        # GET of one child; its parent parameter may be named otherwise (/v1/transfers/{transfer}/...).
        shape = re.sub(r"\{[^/}]+\}", "{}", path) + "/{}"
        child_path = next(
            (p for p in sorted(paths) if re.sub(r"\{[^/}]+\}", "{}", p) == shape and "get" in paths[p]), None
        )
        child = None
        if child_path is not None:
            child_op = paths[child_path]["get"]
            child = {
                "path": child_path,
                "query_schemas": query_schemas(query_params(child_op)),
                "schemas": response_schemas(child_op),
            }
        out[path] = {
            "path_params": path_params,
            "objects": [object_name(schemas, n) for n in names],
            "schemas": names,
            "declared_params": sorted(p["name"] for p in params),
            "required_params": sorted(p["name"] for p in params if p.get("required")),
            "query_schemas": query_schemas(params),
            "retrieve": child,
        }
    return out


def child_stream_rows(spec: dict, registry_rows: list[dict]) -> tuple[list[dict], dict]:
    """Registry rows and stream schemas of the child streams (`CHILD_STREAMS`), derived from the spec."""
    paths, schemas = spec["paths"], spec["components"]["schemas"]
    by_path = {r["path"]: r for r in registry_rows}
    rows, specs = [], {}
    for path, (name, parent_path) in sorted(CHILD_STREAMS.items(), key=lambda kv: kv[1][0]):
        op = paths[path]["get"]
        content = op["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["data"]
        # A polymorphic list (external accounts: "These may be bank accounts or cards", the OpenAPI's
        # ExternalAccountList, items anyOf bank_account | card; https://stripe.com/docs/api/external_accounts)
        # is one stream of every item schema; each record keeps its `object`.
        refs = content["items"].get("anyOf", [content["items"]])
        item_schemas = [ref["$ref"].rsplit("/", 1)[-1] for ref in refs]
        child_schema = item_schemas[0]
        parent_row = by_path[parent_path]
        assert parent_row["default"], f"{name}: its parent {parent_path} is not a default stream"
        parent_schema = list_item_schema_name(paths[parent_path]["get"])
        assert parent_schema is not None, parent_path
        params = query_params(op)
        path_params = [p["name"] for p in op.get("parameters", []) if p.get("in") == "path"]
        required = sorted(p["name"] for p in params if p.get("required"))
        assert len(path_params) + len(required) == 1, f"{path}: one parent parameter expected"
        parent_obj = parent_row["object"]
        props = {p: s for n in reversed(item_schemas) for p, s in schemas[n]["properties"].items()}
        # The child's property naming its parent: one that expands to the parent (fee_refund.fee) or is
        # named after it (subscription_item.subscription); else the source adds one (line_item.invoice).
        field = next((p for p, sch in sorted(props.items())
                      if f'"#/components/schemas/{parent_schema}"'
                      in json.dumps(sch.get("x-expansionResources", sch.get("anyOf", [])))),
                     None) or (parent_obj if parent_obj in props else None)
        added = field is None
        field = field or parent_obj.replace(".", "_")
        parent = schemas[parent_schema]
        embedded = next((p for p, sch in sorted(parent["properties"].items())
                         if p in parent.get("required", [])
                         and sch.get("properties", {}).get("data", {}).get("items", {}).get("$ref", "")
                         .endswith("/" + child_schema)), None)
        note = None if embedded else CHILD_NOT_EMBEDDED_NOTE.format(parent=parent_obj,
                                                                     parent_stream=parent_row["name"])
        schema = stream_schema(spec, name, child_schema, also=item_schemas[1:])
        if added:
            schema["properties"][field] = {"type": ["string"]}
            schema["properties"] = dict(sorted(schema["properties"].items()))
        schema["x-parent"] = {"stream": parent_row["name"], "field": field}
        specs[name] = schema
        rows.append({
            "name": name,
            "path": path,
            "object": object_name(schemas, child_schema),
            **({"objects": [object_name(schemas, n) for n in item_schemas]} if len(item_schemas) > 1 else {}),
            "created_filter": False,
            "timestamp_field": timestamp_field(schemas[child_schema]),
            "paginated": "starting_after" in [p["name"] for p in params],
            "declared_params": sorted(p["name"] for p in params),
            "fixed_params": {},
            "default": embedded is not None,
            "optional": embedded is None,
            "note": note,
            "parent": {"stream": parent_row["name"], "field": field, "added": added,
                       "embedded": embedded, "param": required[0] if required else None,
                       "ids_unique": name not in CHILD_IDS_PER_PARENT},
        })
    return rows, specs


def api_versions(spec: dict) -> list[str]:
    """Every API version Stripe knew when the spec was published (the webhook endpoint's enum)."""
    op = spec["paths"]["/v1/webhook_endpoints"]["post"]
    props = op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["properties"]
    versions = props["api_version"]["enum"]
    assert API_VERSION in versions
    return sorted(versions)


def expansion_targets(spec: dict, owner: str, field: str, schema: dict, inline: dict) -> list[str]:
    """Schema names an expand path reaches through `field`: the expanded object(s), a nested object or
    the items of a list. Inline objects (a list field such as customer.sources) get the name owner/field
    (component names hold dots: checkout.session)."""
    if "x-expansionResources" in schema:
        schema = schema["x-expansionResources"]
    if "$ref" in schema:
        return [schema["$ref"].rsplit("/", 1)[-1]]
    if schema.get("type") == "array":
        return expansion_targets(spec, owner, field, schema.get("items", {}), inline)
    out: list[str] = []
    for member in schema.get("anyOf", []) + schema.get("oneOf", []):
        out += expansion_targets(spec, owner, field, member, inline)
    if "properties" in schema:
        name = f"{owner}/{field}"
        inline[name] = schema
        out.append(name)
    return sorted(set(out))


def expand_graph(spec: dict, roots: set[str]) -> dict:
    """For every schema reachable from `roots` through expandable fields: field -> schemas it leads to.
    A field absent from a schema's map cannot be expanded there (Stripe's `x-expandableFields`)."""
    components = spec["components"]["schemas"]
    inline: dict = {}
    graph: dict = {}
    todo = sorted(roots)
    while todo:
        name = todo.pop()
        if name in graph:
            continue
        schema = inline.get(name) or components[name]
        graph[name] = {}
        for field in schema.get("x-expandableFields", []):
            targets = expansion_targets(spec, name, field, schema["properties"][field], inline)
            graph[name][field] = targets
            todo += [t for t in targets if t not in graph]
    return dict(sorted(graph.items()))


# -------------------------------------------------------------------------------------------- outputs

def build(spec: dict, rows: list[dict], fixtures: dict) -> tuple[dict, dict, dict, dict, dict]:
    paths = spec["paths"]
    schemas = spec["components"]["schemas"]
    rows_by_path = {r["path"]: r for r in rows}

    # Every GET list path of the spec without path parameters, and the endpoints.tsv row that describes it.
    list_paths: dict[str, str] = {}
    retrieve: dict[str, str] = {}
    for path in sorted(paths):
        op = paths[path].get("get")
        if op is None or "{" in path:
            continue
        item = list_item_schema_name(op)
        required = [p["name"] for p in query_params(op) if p.get("required")]
        if item is not None:
            row = rows_by_path.get(path)
            assert row is not None, f"{path} is in spec3.json but not in endpoints.tsv"
            assert row["in_spec"] == "yes", path
            assert row["scope"] in ("top_level", "top_level_requires_param"), (path, row["scope"])
            list_paths[path] = item
        elif not required and "preview" not in path and "upcoming" not in path:
            ref = op["responses"]["200"]["content"]["application/json"]["schema"].get("$ref")
            if ref:
                retrieve[path] = object_name(schemas, ref.rsplit("/", 1)[-1])

    for row in rows:
        in_spec = row["path"] in paths and "get" in paths[row["path"]]
        if row["in_spec"] == "yes" and not in_spec:
            raise SystemExit(f"endpoints.tsv says {row['path']} is in the spec, but it is not")
        if in_spec and row["scope"] != "nested":
            assert row["path"] in list_paths, row["path"]

    # Stream registry and stream schemas: top-level rows present in the spec.
    streams = []
    stream_specs = {}
    for path in sorted(list_paths):
        if path in CHILD_STREAMS:  # a top-level path listing one parent's children (subscription_items)
            continue
        row = rows_by_path[path]
        op = paths[path]["get"]
        params = query_params(op)
        declared = sorted(p["name"] for p in params)
        required = sorted(p["name"] for p in params if p.get("required"))
        schema_name = list_paths[path]
        name = stream_name(path)
        flags = {f for f in row["flags"].split(",") if f}
        if flags & FLAGS_NEEDING_DEFAULT_OFF:
            assert path in DEFAULT_OFF, f"{path} is flagged {flags} but has no DEFAULT_OFF entry"
        fixed = FIXED_PARAMS.get(path, {})
        for key in fixed:
            assert key in declared, f"{path}: fixed param {key!r} is not declared by the endpoint"
        paginated = "starting_after" in declared and "limit" in declared
        notes = []
        default = True
        if row["kind"] == "search" or path.endswith("/search"):
            notes.append(
                f"search endpoint (requires parameter {', '.join(required)}); "
                f"its objects are synced by {stream_name(path[: -len('/search')])}"
            )
            default = False
        elif required:
            notes.append(f"requires parameter {', '.join(required)}")
            default = False
        if path in DEFAULT_OFF:
            notes.append(DEFAULT_OFF[path])
            default = False
        if path in EXTRA_NOTES:
            notes.append(EXTRA_NOTES[path])
        if not paginated and "page" in declared:
            notes.append("paginated with page, not starting_after")
        elif not paginated:
            notes.append("not paginated: one request returns the whole list")
        if row["in_sdk"] == "no":
            notes.append("not in newer Stripe SDKs")
        if row["scope"] == "top_level_requires_param":
            assert required, f"{path}: endpoints.tsv says it requires a parameter, spec3.json says none"
        stream_specs[name] = stream_schema(spec, name, schema_name)
        streams.append({
            "name": name,
            "path": path,
            "object": object_name(schemas, schema_name),
            "created_filter": "created" in declared,
            "timestamp_field": timestamp_field(schemas[schema_name]),
            "paginated": paginated,
            "declared_params": declared,
            "fixed_params": dict(fixed),
            "default": default,
            "note": "; ".join(notes) or None,
        })
    child_rows, child_specs = child_stream_rows(spec, streams)
    streams = sorted(streams + child_rows, key=lambda r: r["name"])
    stream_specs.update(child_specs)
    names = [s["name"] for s in streams]
    assert len(names) == len(set(names)), "stream names must be unique"
    for path in list(FIXED_PARAMS) + list(DEFAULT_OFF) + list(EXTRA_NOTES):
        assert path in list_paths, f"quirk for {path}, which is not a stream"
    registry = {"api_version": API_VERSION, "streams": streams}

    # Emulator endpoints: every top-level GET list path, including /v1/events and search endpoints.
    list_endpoints = {}
    for path in sorted(list_paths):
        params = query_params(paths[path]["get"])
        schema_name = list_paths[path]
        list_endpoints[path] = {
            "object": object_name(schemas, schema_name),
            "declared_params": sorted(p["name"] for p in params),
            "required_params": sorted(p["name"] for p in params if p.get("required")),
            "created_filter": any(p["name"] == "created" for p in params),
            "timestamp_field": timestamp_field(schemas[schema_name]),
            "deletable": deletable(paths, path),
            "query_schemas": query_schemas(params),
            "schema": schema_name,
            "retrieve": retrieve_by_id(paths, path),
        }
    endpoints = {
        "api_version": API_VERSION,
        "api_versions": api_versions(spec),
        "list_endpoints": list_endpoints,
        "retrieve_endpoints": retrieve,
        "nested_endpoints": nested_list_endpoints(spec),
        "retrieve_details": {p: {"query_schemas": query_schemas(query_params(paths[p]["get"])),
                                 "schemas": response_schemas(paths[p]["get"])} for p in sorted(retrieve)},
    }
    roots = {e["schema"] for e in list_endpoints.values()}
    roots |= {s for e in list_endpoints.values() if e["retrieve"] for s in e["retrieve"]["schemas"]}
    roots |= {s for d in endpoints["retrieve_details"].values() for s in d["schemas"]}
    roots |= {s for e in endpoints["nested_endpoints"].values() for s in e["schemas"]}
    expandable = expand_graph(spec, roots)

    # Emulator fixtures: one example per object named in endpoints.json, plus account and event.
    # Nested list items (invoice lines, subscription items, persons ...) too.
    nested_items = {n for e in endpoints["nested_endpoints"].values() for n in e["schemas"]}
    wanted = {e["object"] for e in list_endpoints.values()} | set(retrieve.values()) | {"account", "event"}
    wanted |= {object_name(schemas, n) for n in nested_items}
    object_schema = {object_name(schemas, n): n for n in set(list_paths.values()) | nested_items}
    for path, obj in retrieve.items():
        object_schema.setdefault(obj, paths[path]["get"]["responses"]["200"]["content"]["application/json"]
                                 ["schema"]["$ref"].rsplit("/", 1)[-1])
    objects = {}
    synthesized = []
    for obj in sorted(wanted):
        if obj in fixtures:
            objects[obj] = fixtures[obj]
        else:
            objects[obj] = synthesize(stream_schema(spec, obj, object_schema[obj]), fixtures)
            synthesized.append(obj)
    fixtures_out = {"objects": objects, "synthesized": synthesized}
    return registry, stream_specs, endpoints, fixtures_out, expandable


def dumps(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def dumps_by_line(key: str, objects: dict) -> str:
    """`{key: objects}` compact, one entry per line so a change shows up as a one-line diff."""
    lines = [
        json.dumps(k, ensure_ascii=False) + ":"
        + json.dumps(v, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        for k, v in sorted(objects.items())
    ]
    return "{" + json.dumps(key) + ":{\n" + ",\n".join(lines) + "\n}}\n"


def write(path: Path, text: str, written: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    written.append(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO_ROOT.parent / "shared",
                        help="the shared directory holding stripe-openapi/ (default: <repo>/../shared)")
    parser.add_argument("--out-root", type=Path, default=REPO_ROOT,
                        help="root to write the generated files under (default: the repository)")
    args = parser.parse_args(argv)

    spec, rows, fixtures = load_inputs(args.shared)
    registry, stream_specs, endpoints, fixtures_out, expandable = build(spec, rows, fixtures)

    root = args.out_root
    written: list[Path] = []
    stripe_dir = root / "specs" / "stripe"
    for name, schema in sorted(stream_specs.items()):
        write(stripe_dir / f"{name}.json", dumps(schema), written)
    removed = []
    for stale in sorted(stripe_dir.glob("*.json")):
        generated = "x-stripe-object" in json.loads(stale.read_text(encoding="utf-8"))
        if stale.stem not in stream_specs and generated:
            stale.unlink()
            removed.append(stale.name)
    write(root / "source_stripe" / "streams.json", dumps(registry), written)
    data_dir = root / "stripe_emulator" / "data"
    write(data_dir / "endpoints.json", dumps(endpoints), written)
    write(data_dir / "fixtures.json", dumps_by_line("objects", fixtures_out["objects"]), written)
    write(data_dir / "expandable.json", dumps_by_line("schemas", expandable), written)

    streams = registry["streams"]
    default = [s["name"] for s in streams if s["default"]]
    print(f"streams: {len(streams)} ({len(default)} default, {len(streams) - len(default)} off by default)")
    print(f"  with created filter: {sum(s['created_filter'] for s in streams)}, "
          f"not paginated: {sum(not s['paginated'] for s in streams)}, "
          f"timestamp field none: {sum(s['timestamp_field'] is None for s in streams)}")
    print(f"emulator: {len(endpoints['list_endpoints'])} list endpoints, "
          f"{len(endpoints['nested_endpoints'])} nested list endpoints, "
          f"{len(endpoints['retrieve_endpoints'])} retrieve endpoints, "
          f"{sum(e['deletable'] for e in endpoints['list_endpoints'].values())} deletable")
    synthesized = fixtures_out["synthesized"]
    print(f"fixtures: {len(fixtures_out['objects'])} objects "
          f"({len(synthesized)} synthesized: {', '.join(synthesized) or 'none'})")
    total = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} files under {root} ({total} bytes)"
          + (f"; removed stale {', '.join(removed)}" if removed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
