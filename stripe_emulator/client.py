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

    def _call(self, method: str, endpoint: str, body: Any = None, **params: Any) -> Any:
        params = {
            k: ("true" if v is True else "false" if v is False else v)
            for k, v in params.items()
            if v is not None
        }
        r = self.session.request(
            method,
            self.url + "/_emulator" + endpoint,
            params=params,
            data=orjson.dumps(body) if body is not None else None,
            headers={"Content-Type": "application/json"},
            timeout=self.timeout,
        )
        data = orjson.loads(r.content) if r.content else None
        if r.status_code >= 400:
            raise EmulatorError(f"{method} {endpoint}: {r.status_code} {data}")
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
