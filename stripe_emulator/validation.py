"""Query parameters checked against the endpoint's OpenAPI parameter schemas, as Stripe checks them.

``check_params(values, schemas, required)`` takes decoded parameters (``querystring.decode``) and
returns them typed (integers, booleans, lists, dicts) or raises the ``StripeError`` Stripe answers:

- a name the endpoint does not declare, or a key an object parameter does not have:
  400 ``parameter_unknown`` "Received unknown parameter: created[foo]"
- a required parameter (or required key of an object parameter) missing: 400 ``parameter_missing``
- an empty value for a parameter that cannot be empty: 400 ``parameter_invalid_empty``
- not an integer: 400 ``parameter_invalid_integer`` "Invalid integer: abc"
- a value outside the enum: 400 "Invalid status: must be one of active, all, ..., or unpaid"
  (stripe/stripe-python#687 quotes Stripe's answer for GET /v1/subscriptions?status=alll)
- a scalar where an array belongs (``expand=x``): 400 "Invalid array", param ``expand``
  (stripe/stripe-cli#47 quotes Stripe's answer for a scalar ``expand``)
- an array or object where a string, boolean or object belongs: "Invalid string", "Invalid boolean: x",
  "Invalid hash" (the wording of these three is not confirmed; see README, "Differences").

Pure functions; the schemas come from ``data/endpoints.json`` (generated from Stripe's OpenAPI).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import StripeError, invalid_integer, missing_parameter, unknown_parameter


def check_params(
    values: dict[str, Any], schemas: dict[str, dict[str, Any]], required: Iterable[str]
) -> dict[str, Any]:
    for name in values:
        if name not in schemas:
            raise unknown_parameter(name)
    for name in required:
        if name not in values:
            raise missing_parameter(name)
    return {name: check_value(value, schemas[name], name) for name, value in values.items()}


def check_value(value: Any, schema: dict[str, Any], param: str) -> Any:
    """``value`` typed by ``schema``, or the StripeError for ``param`` (bracketed: ``created[gte]``)."""
    if "anyOf" in schema:
        return _check_any_of(value, schema["anyOf"], param)
    kind = schema.get("type")
    if kind == "object":
        return _check_object(value, schema, param)
    if kind == "array":
        if not isinstance(value, list):
            raise StripeError(400, "Invalid array", param=param)
        items = schema.get("items", {})
        return [check_value(v, items, f"{param}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        raise StripeError(400, "Invalid boolean" if kind == "boolean" else "Invalid string", param=param)
    enum = schema.get("enum")
    if value == "" and (enum is None or "" not in enum):
        raise empty_value(param)
    if kind == "integer":
        try:
            return int(value.strip())
        except ValueError:
            raise invalid_integer(param, f"Invalid integer: {value}") from None
    if kind == "boolean":
        if value not in ("true", "false"):
            raise StripeError(400, f"Invalid boolean: {value}", param=param)
        return value == "true"
    if enum is not None and value not in enum:
        raise StripeError(400, f"Invalid {param}: must be one of {one_of(enum)}", param=param)
    return value


def _check_object(value: Any, schema: dict[str, Any], param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StripeError(400, "Invalid hash", param=param)
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    out: dict[str, Any] = {}
    for key, v in value.items():
        sub = props.get(key, extra if isinstance(extra, dict) else None)
        if sub is None:
            raise unknown_parameter(f"{param}[{key}]")
        out[key] = check_value(v, sub, f"{param}[{key}]")
    for key in schema.get("required", []):
        if key not in value:
            raise missing_parameter(f"{param}[{key}]")
    return out


def _shape(schema: dict[str, Any]) -> type:
    return {"object": dict, "array": list}.get(schema.get("type", ""), str)


def _check_any_of(value: Any, options: list[dict[str, Any]], param: str) -> Any:
    """The first option that accepts the value; else the error of the first option of the value's shape
    (``created=abc`` fails as an integer, ``created[foo]=1`` as a range)."""
    errors: list[StripeError] = []
    for option in options:
        try:
            return check_value(value, option, param)
        except StripeError as e:
            if isinstance(value, _shape(option)):
                errors.append(e)
    if errors:
        raise errors[0]
    return check_value(value, options[0], param)


def one_of(values: list[Any]) -> str:
    """Stripe's enumeration: "a or b", "a, b, or c"."""
    words = [str(v) for v in values]
    if len(words) <= 2:
        return " or ".join(words)
    return ", ".join(words[:-1]) + ", or " + words[-1]


def empty_value(param: str) -> StripeError:
    return StripeError(
        400,
        f"You passed an empty string for '{param}'. We assume empty values are an attempt to unset a "
        f"parameter; however '{param}' cannot be unset. You should remove '{param}' from your request or "
        "supply a non-empty value.",
        code="parameter_invalid_empty",
        param=param,
    )
