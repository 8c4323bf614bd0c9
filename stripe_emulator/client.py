"""``EmulatorClient``: the Python API of an emulator running elsewhere (another process), over the
``/_emulator`` HTTP endpoints. Same method names and signatures as ``Emulator``.
"""

from __future__ import annotations

from typing import Any

import orjson
import requests


class EmulatorError(RuntimeError):
    pass


class EmulatorClient:
    def __init__(self, url: str, api_key: str = "sk_test_emulator", timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.session = requests.Session()

    def _call(
        self, method: str, route: str, body: Any = None, /, *, timeout: float | None = None, **params: Any
    ) -> Any:
        params = {
            k: ("true" if v is True else "false" if v is False else v)
            for k, v in params.items()
            if v is not None
        }
        r = self.session.request(
            method,
            self.url + "/_emulator" + route,
            params=params,
            data=orjson.dumps(body) if body is not None else None,
            headers={"Content-Type": "application/json"},
            timeout=timeout or self.timeout,
        )
        data = orjson.loads(r.content) if r.content else None
        if r.status_code >= 400:
            raise EmulatorError(f"{method} {route}: {r.status_code} {data}")
        return data

    def close(self) -> None:
        self.session.close()

    def health(self) -> bool:
        return bool(self._call("GET", "/health").get("ok"))

    def info(self) -> dict[str, Any]:
        return self._call("GET", "/info")

    def dump(self, resource: str, *, account: str | None = None, livemode: bool = False) -> dict[str, Any]:
        return self._call("GET", "/dump", resource=resource, account=account, livemode=livemode or None)

    def get(
        self, resource: str, id: str, *, account: str | None = None, livemode: bool = False
    ) -> dict[str, Any]:
        return self._call("GET", f"/objects/{resource}/{id}", account=account, livemode=livemode or None)

    def create(
        self,
        resource: str,
        fields: dict[str, Any] | None = None,
        /,
        *,
        account: str | None = None,
        livemode: bool = False,
        **kwfields: Any,
    ) -> dict[str, Any]:
        return self._call(
            "POST",
            f"/objects/{resource}",
            {**(fields or {}), **kwfields},
            account=account,
            livemode=livemode or None,
        )

    def update(
        self,
        resource: str,
        id: str,
        fields: dict[str, Any] | None = None,
        /,
        *,
        account: str | None = None,
        livemode: bool = False,
        **kwfields: Any,
    ) -> dict[str, Any]:
        return self._call(
            "POST",
            f"/objects/{resource}/{id}",
            {**(fields or {}), **kwfields},
            account=account,
            livemode=livemode or None,
        )

    def delete(
        self, resource: str, id: str, *, account: str | None = None, livemode: bool = False
    ) -> dict[str, Any]:
        return self._call("DELETE", f"/objects/{resource}/{id}", account=account, livemode=livemode or None)

    # ---- children ------------------------------------------------------------------------------
    def children(
        self, resource: str, parent: str, field: str, *, account: str | None = None, livemode: bool = False
    ) -> list[dict[str, Any]]:
        return self._call("GET", f"/children/{resource}/{parent}/{field}", account=account,
                          livemode=livemode or None)["data"]

    def add_child(
        self,
        resource: str,
        parent: str,
        field: str,
        fields: dict[str, Any] | None = None,
        /,
        *,
        account: str | None = None,
        livemode: bool = False,
        **kwfields: Any,
    ) -> dict[str, Any]:
        return self._call("POST", f"/children/{resource}/{parent}/{field}", {**(fields or {}), **kwfields},
                          account=account, livemode=livemode or None)

    def remove_child(
        self,
        resource: str,
        parent: str,
        field: str,
        child: str,
        *,
        account: str | None = None,
        livemode: bool = False,
    ) -> dict[str, Any]:
        return self._call("DELETE", f"/children/{resource}/{parent}/{field}/{child}", account=account,
                          livemode=livemode or None)

    # ---- batches of changes, events --------------------------------------------------------------
    def apply_changes(self, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._call("POST", "/changes", {"changes": changes})["results"]

    def scatter_changes(
        self,
        plan: dict[str, dict[str, int]],
        *,
        seed: int | None = None,
        account: str | None = None,
        livemode: bool = False,
    ) -> list[dict[str, Any]]:
        return self._call("POST", "/changes/scatter", {"plan": plan, "seed": seed}, account=account,
                          livemode=livemode or None)["changes"]

    def events(self, *, account: str | None = None, livemode: bool = False) -> list[dict[str, Any]]:
        return self._call("GET", "/events", account=account, livemode=livemode or None)["data"]

    def expire_events(
        self, before: int, *, account: str | None = None, livemode: bool = False
    ) -> dict[str, Any]:
        return self._call(
            "POST", "/events/expire", {"before": before}, account=account, livemode=livemode or None
        )

    def drop_events(
        self, ids: list[str], *, account: str | None = None, livemode: bool = False
    ) -> dict[str, Any]:
        return self._call("POST", "/events/drop", {"ids": ids}, account=account, livemode=livemode or None)

    def set_event_retention(self, days: float) -> dict[str, Any]:
        return self._call("POST", "/events/retention", {"days": days})

    # ---- connected accounts ----------------------------------------------------------------------
    def connected_accounts(self) -> list[dict[str, Any]]:
        return self._call("GET", "/accounts")["data"]

    def add_account(
        self,
        id: str | None = None,
        *,
        dataset: dict[str, Any] | None = None,
        children: dict[str, int] | None = None,
        objects: dict[str, list[dict[str, Any]]] | None = None,
    ) -> dict[str, Any]:
        spec = {k: v for k, v in (("dataset", dataset), ("children", children), ("objects", objects)) if v}
        return self._call("POST", "/accounts", {"id": id, **spec})

    def revoke_account(self, id: str) -> dict[str, Any]:
        return self._call("POST", f"/accounts/{id}/revoke")

    # ---- webhooks --------------------------------------------------------------------------------
    def add_webhook_endpoint(self, url: str, **settings: Any) -> dict[str, Any]:
        return self._call("POST", "/webhooks", {"url": url, **settings})

    def webhook_endpoints(self) -> list[dict[str, Any]]:
        return self._call("GET", "/webhooks")["data"]

    def update_webhook_endpoint(self, id: str, **fields: Any) -> dict[str, Any]:
        return self._call("POST", f"/webhooks/{id}", fields)

    def remove_webhook_endpoint(self, id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/webhooks/{id}")

    def webhook_deliveries(
        self, endpoint: str | None = None, event: str | None = None, since: int = 0
    ) -> list[dict[str, Any]]:
        reply = self._call("GET", "/webhooks/deliveries", endpoint=endpoint, event=event, since=since or None)
        return reply["data"]

    def wait_webhooks(self, timeout: float = 10.0) -> bool:
        wait = max(self.timeout, timeout + 10)
        reply = self._call("POST", "/webhooks/wait", {"timeout": timeout}, timeout=wait)
        return bool(reply["idle"])

    def set_webhook_settings(self, **settings: Any) -> dict[str, Any]:
        return self._call("POST", "/webhooks/settings", settings)

    # ---- clock, faults, churn, request log -------------------------------------------------------
    def now(self) -> int:
        return self._call("GET", "/clock")["now"]

    def advance_clock(self, seconds: float) -> int:
        return self._call("POST", "/clock/advance", {"seconds": seconds})["now"]

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        return self._call("POST", "/faults", settings)

    def reset_faults(self) -> dict[str, Any]:
        return self._call("DELETE", "/faults")

    def set_rate_limits(self, settings: Any = True) -> dict[str, Any]:
        if settings is None or settings is False:
            return self._call("DELETE", "/rate_limits")
        return self._call("POST", "/rate_limits", settings)

    def rate_limits(self) -> dict[str, Any]:
        return self._call("GET", "/rate_limits")

    def start_churn(
        self, rate: float = 1.0, resources: list[str] | None = None, **settings: Any
    ) -> dict[str, Any]:
        return self._call("POST", "/churn", {"rate": rate, "resources": resources, **settings})

    def stop_churn(self) -> dict[str, Any]:
        return self._call("DELETE", "/churn")

    def requests(
        self, path: str | None = None, since: int = 0, status: int | None = None
    ) -> list[dict[str, Any]]:
        return self._call("GET", "/requests", path=path, since=since or None, status=status)["requests"]

    def request_counts(self) -> dict[str, Any]:
        return self._call("GET", "/requests/counts")

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")
