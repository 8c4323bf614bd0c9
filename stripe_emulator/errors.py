"""Stripe-shaped errors: one exception type carrying the HTTP status and Stripe's error body."""

from __future__ import annotations

import time
from typing import Any

DOCS = "https://stripe.com/docs/error-codes/"


class StripeError(Exception):
    """An error answered with Stripe's body ``{"error": {...}}``; ``headers`` are extra response headers."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type_, code, param
        self.headers = headers or {}

    def body(self, request_id: str | None = None, livemode: bool = False) -> dict[str, Any]:
        err: dict[str, Any] = {}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = DOCS + self.code.replace("_", "-")
        err["message"] = self.message
        if self.param:
            err["param"] = self.param
        if request_id and self.status not in (401,):
            err["request_log_url"] = (
                f"https://dashboard.stripe.com/{'' if livemode else 'test/'}logs/"
                f"{request_id}?t={int(time.time())}"
            )
        err["type"] = self.type
        return {"error": err}


def unrecognized_url(method: str, path: str) -> StripeError:
    return StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
    )


def unknown_parameter(name: str) -> StripeError:
    return StripeError(400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name)


def missing_parameter(name: str) -> StripeError:
    return StripeError(400, f"Missing required param: {name}.", code="parameter_missing", param=name)


def invalid_integer(param: str, message: str) -> StripeError:
    return StripeError(400, message, code="parameter_invalid_integer", param=param)


def resource_missing(object_type: str, obj_id: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {object_type}: '{obj_id}'", code="resource_missing", param=param)


class ControlError(Exception):
    """An error of the ``/_emulator`` control API (plain ``{"error": message}`` bodies)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message
