"""Webhook delivery: every event goes to the webhook endpoints that want it, signed as Stripe signs,
retried with exponential backoff when the endpoint fails, from background threads, with a delivery log.

What Stripe documents (https://docs.stripe.com/webhooks, "Verify webhook signatures manually" and
"Automatic retries"; stripe-python's ``WebhookSignature`` computes the same):
- ``Stripe-Signature: t=<unix seconds>,v1=<signature>``: the signature is the hex HMAC-SHA256 of
  ``"<t>.<raw body>"`` keyed with the endpoint's signing secret (``whsec_...``); "To aid with testing,
  Stripe sends an additional signature with a fake v0 scheme, for test mode events". ``t`` is the time
  of the attempt (each retry is signed anew), so the emulator uses the real clock: a receiver checks it
  against its own clock (5-minute tolerance in Stripe's libraries). ``sign_offset_s`` shifts it, to
  produce stale signatures on purpose.
- "In live mode, Stripe attempts to deliver a given event to your webhook endpoint for up to 3 days with
  an exponential back off. In sandboxes, Stripe retries three times over a few hours." An attempt fails
  on any status outside 2xx, a timeout or a connection error. Stripe does not publish the intervals nor
  its timeout: the emulator retries after 5 min, 30 min and 3 h in test mode, after 5 min doubling up to
  a last attempt 3 days after the first in live mode, and waits 30 s (``timeout_s``) for an answer.
  ``retry_scale`` multiplies every interval (0.001 makes 5 minutes 0.3 s) so tests need not wait hours.
- An endpoint receives the events of its own account, or with ``connect: true`` those of the connected
  accounts (which carry ``account``), of its mode, whose type is in ``enabled_events`` (``*`` = all).
- The body is the event object, as ``/v1/events`` lists it; ``pending_webhooks`` counts the endpoints
  that have not yet received it. Stripe does not guarantee the order of deliveries. Here each endpoint
  gets one delivery at a time, in the order they are due (so first attempts arrive in event order and a
  retried event arrives after later ones), and up to 4 endpoints are served at once.

Endpoint secrets are returned once, by ``add``; the log and listings never show them.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from .errors import ControlError
from .ids import token

TEST_RETRY_DELAYS = (300.0, 1800.0, 10800.0)  # 3 retries over a few hours
_LIVE = [300.0 * 2**k for k in range(9)]  # 5 min, 10 min ... 21 h
LIVE_RETRY_DELAYS = tuple(_LIVE + [3 * 86400.0 - sum(_LIVE)])  # the last attempt 3 days after the first
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
ENDPOINT_KEYS = frozenset({"url", "secret", "enabled_events", "connect", "livemode", "sign_offset_s", "id"})
SETTINGS_KEYS = frozenset({"endpoints", "retry_scale", "timeout_s"})
WORKERS = 4
LOG_LIMIT = 100_000


@dataclass
class Endpoint:
    id: str
    url: str
    secret: str
    enabled_events: list[str]
    connect: bool = False
    livemode: bool = False
    status: str = "enabled"
    sign_offset_s: float = 0.0
    created: float = field(default_factory=time.time)

    def wants(self, type_: str, connected: bool, livemode: bool) -> bool:
        return (
            self.status == "enabled"
            and self.connect == connected
            and self.livemode == livemode
            and ("*" in self.enabled_events or type_ in self.enabled_events)
        )

    def public(self, reveal: bool = False) -> dict[str, Any]:
        out = {
            "id": self.id,
            "object": "webhook_endpoint",
            "url": self.url,
            "enabled_events": list(self.enabled_events),
            "connect": self.connect,
            "livemode": self.livemode,
            "status": self.status,
            "sign_offset_s": self.sign_offset_s,
        }
        if reveal:
            out["secret"] = self.secret
        return out


def check_endpoint(spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict) or not isinstance(spec.get("url"), str):
        raise ValueError(  # noqa: TRY004 - a config error, like every other (exit 2)
            f'a webhook endpoint is {{"url": "http://...", "secret": "whsec_..."}}, got {spec!r}'
        )
    unknown = set(spec) - ENDPOINT_KEYS
    if unknown:
        raise ValueError(f"unknown webhook endpoint keys: {sorted(unknown)} (known: {sorted(ENDPOINT_KEYS)})")
    if not spec["url"].startswith(("http://", "https://")):
        raise ValueError(f"webhook url must be http(s): {spec['url']!r}")
    secret = spec.get("secret")
    if secret is not None and (not isinstance(secret, str) or not secret.startswith("whsec_")):
        raise ValueError("a webhook secret starts with whsec_")
    events = spec.get("enabled_events", ["*"])
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise ValueError('enabled_events is a list of event types, or ["*"] for all')
    return spec


def parse_webhooks(raw: Any) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Config ``webhooks``: a list of endpoints, or ``{"endpoints": [...], "retry_scale", "timeout_s"}``."""
    if raw is None:
        return [], {"retry_scale": 1.0, "timeout_s": 30.0}
    if isinstance(raw, list):
        raw = {"endpoints": raw}
    if not isinstance(raw, dict) or set(raw) - SETTINGS_KEYS:
        raise ValueError(f"webhooks is a list of endpoints or an object with {sorted(SETTINGS_KEYS)}")
    endpoints = [check_endpoint(e) for e in raw.get("endpoints") or []]
    settings = check_settings({k: raw[k] for k in ("retry_scale", "timeout_s") if k in raw})
    return endpoints, {"retry_scale": 1.0, "timeout_s": 30.0, **settings}


def check_settings(settings: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key in ("retry_scale", "timeout_s"):
        if key in settings:
            v = settings[key]
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"webhooks {key} must be a number > 0")
            out[key] = float(v)
    unknown = set(settings) - {"retry_scale", "timeout_s"}
    if unknown:
        raise ValueError(f"unknown webhook settings: {sorted(unknown)}")
    return out


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """Stripe's v1 signature: hex HMAC-SHA256 of ``"<timestamp>.<payload>"`` with the endpoint secret."""
    return hmac.new(secret.encode(), b"%d." % timestamp + payload, hashlib.sha256).hexdigest()


def signature_header(payload: bytes, secret: str, timestamp: int, livemode: bool) -> str:
    header = f"t={timestamp},v1={sign(payload, secret, timestamp)}"
    if not livemode:  # Stripe's fake v0 signature on test-mode events: keyed with a secret nobody has
        header += f",v0={sign(payload, 'whsec_fake_v0_' + secret[-4:], timestamp)}"
    return header


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    endpoint_id: str = field(compare=False)
    event_id: str = field(compare=False)
    event_type: str = field(compare=False)
    account: str | None = field(compare=False)
    livemode: bool = field(compare=False)
    payload: Callable[[], bytes] = field(compare=False)
    attempt: int = field(default=1, compare=False)


class Webhooks:
    """The endpoints, the delivery queue and its threads, and the delivery log (thread-safe)."""

    def __init__(self, config: Any, on_delivered: Callable[[str | None, bool, str], None]):
        endpoints, settings = parse_webhooks(config)
        self.settings = settings
        self._on_delivered = on_delivered
        self._lock = threading.Condition()
        self._endpoints: dict[str, Endpoint] = {}
        self._queues: dict[str, list[_Delivery]] = {}  # endpoint -> heap of its deliveries by due time
        self._busy: set[str] = set()  # endpoints with a delivery in flight
        self._seq = itertools.count(1)
        self._log: deque[dict[str, Any]] = deque(maxlen=LOG_LIMIT)
        self._log_seq = 0
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        for spec in endpoints:
            self.add(spec)

    # ---- endpoints -----------------------------------------------------------------------------
    def add(self, spec: dict[str, Any]) -> dict[str, Any]:
        try:
            spec = check_endpoint(dict(spec))
        except ValueError as e:
            raise ControlError(400, str(e)) from None
        with self._lock:
            eid = spec.get("id") or "we_1" + token(f"{os.urandom(8).hex()}", 23)
            if eid in self._endpoints:
                raise ControlError(400, f"webhook endpoint {eid} already exists")
            ep = Endpoint(
                id=eid,
                url=spec["url"],
                secret=spec.get("secret") or "whsec_" + token(os.urandom(16).hex(), 32),
                enabled_events=list(spec.get("enabled_events", ["*"])),
                connect=bool(spec.get("connect", False)),
                livemode=bool(spec.get("livemode", False)),
                sign_offset_s=float(spec.get("sign_offset_s", 0)),
            )
            self._endpoints[eid] = ep
            return ep.public(reveal=True)

    def secret_of(self, eid: str) -> str:
        """A generated secret, for the one who configured the endpoint (the CLI prints it once)."""
        with self._lock:
            return self._get(eid).secret

    def endpoints(self) -> list[dict[str, Any]]:
        with self._lock:
            return [ep.public() for ep in self._endpoints.values()]

    def update(self, eid: str, fields: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            ep = self._get(eid)
            for key, value in fields.items():
                if key == "status" and value in ("enabled", "disabled"):
                    ep.status = value
                elif key == "enabled_events" and isinstance(value, list) and value:
                    ep.enabled_events = [str(v) for v in value]
                elif key == "url" and isinstance(value, str) and value.startswith(("http://", "https://")):
                    ep.url = value
                elif key == "sign_offset_s" and isinstance(value, (int, float)):
                    ep.sign_offset_s = float(value)
                else:
                    raise ControlError(400, f"cannot set webhook endpoint {key} to {value!r}")
            return ep.public()

    def remove(self, eid: str) -> dict[str, Any]:
        """Delete an endpoint; its pending retries are dropped, as Stripe stops retrying."""
        with self._lock:
            self._get(eid)
            del self._endpoints[eid]
            self._queues.pop(eid, None)
            self._lock.notify_all()
            return {"id": eid, "object": "webhook_endpoint", "deleted": True}

    def _get(self, eid: str) -> Endpoint:
        ep = self._endpoints.get(eid)
        if ep is None:
            raise ControlError(404, f"no webhook endpoint {eid!r}")
        return ep

    def set_settings(self, settings: dict[str, Any]) -> dict[str, float]:
        try:
            checked = check_settings(settings)
        except ValueError as e:
            raise ControlError(400, str(e)) from None
        with self._lock:
            self.settings.update(checked)
            return dict(self.settings)

    # ---- delivery ------------------------------------------------------------------------------
    def matching(self, type_: str, connected: bool, livemode: bool) -> list[str]:
        with self._lock:
            return [ep.id for ep in self._endpoints.values() if ep.wants(type_, connected, livemode)]

    def enqueue(
        self,
        endpoint_ids: list[str],
        event: dict[str, Any],
        payload: Callable[[], bytes],
    ) -> None:
        """Queue the event for each endpoint; ``payload()`` gives its JSON at the time of each attempt."""
        if not endpoint_ids:
            return
        now = time.monotonic()
        with self._lock:
            for eid in endpoint_ids:
                d = _Delivery(
                    now,
                    next(self._seq),
                    eid,
                    event["id"],
                    event["type"],
                    event.get("account"),
                    bool(event.get("livemode")),
                    payload,
                )
                heapq.heappush(self._queues.setdefault(eid, []), d)
            self._ensure_started()
            self._lock.notify_all()

    def _ensure_started(self) -> None:
        if self._thread is None:
            self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="stripe-emulator-webhook")
            self._thread = threading.Thread(
                target=self._dispatch, daemon=True, name="stripe-emulator-webhooks"
            )
            self._thread.start()

    def _next_due(self) -> tuple[float, str] | None:
        """The earliest due delivery of an endpoint that has none in flight: (due, endpoint)."""
        heads = [(q[0].due, eid) for eid, q in self._queues.items() if q and eid not in self._busy]
        return min(heads) if heads and len(self._busy) < WORKERS else None

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                while not self._stop.is_set():
                    head = self._next_due()
                    if head is not None and head[0] <= time.monotonic():
                        break
                    self._lock.wait(0.5 if head is None else min(head[0] - time.monotonic(), 0.5))
                if self._stop.is_set():
                    return
                assert head is not None
                d = heapq.heappop(self._queues[head[1]])
                self._busy.add(d.endpoint_id)
            assert self._pool is not None
            self._pool.submit(self._attempt, d)

    def _attempt(self, d: _Delivery) -> None:
        try:
            self._attempt_once(d)
        finally:
            with self._lock:
                self._busy.discard(d.endpoint_id)
                self._lock.notify_all()

    def _attempt_once(self, d: _Delivery) -> None:
        with self._lock:
            ep = self._endpoints.get(d.endpoint_id)
            timeout = self.settings["timeout_s"]
        if ep is None or ep.status != "enabled":
            return
        body = d.payload()
        ts = int(time.time() + ep.sign_offset_s)
        header = signature_header(body, ep.secret, ts, d.livemode)
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            r = requests.post(
                ep.url,
                data=body,
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": USER_AGENT,
                    "Stripe-Signature": header,
                    "Cache-Control": "no-cache",
                    "Accept": "*/*; q=0.5, application/xml",
                },
                timeout=timeout,
                allow_redirects=False,
            )
            status = r.status_code
            r.close()
        except requests.Timeout:
            error = f"timed out after {timeout:g} s"
        except requests.RequestException as e:
            error = f"{type(e).__name__}: {str(e)[:200]}"
        ok = status is not None and 200 <= status < 300
        delays = LIVE_RETRY_DELAYS if d.livemode else TEST_RETRY_DELAYS
        retry_in = (
            None if ok or d.attempt > len(delays) else delays[d.attempt - 1] * self.settings["retry_scale"]
        )
        entry = {
            "endpoint": ep.id,
            "url": ep.url,
            "event": d.event_id,
            "type": d.event_type,
            "account": d.account,
            "livemode": d.livemode,
            "attempt": d.attempt,
            "status": status,
            "error": error,
            "outcome": "delivered" if ok else ("retrying" if retry_in is not None else "failed"),
            "next_attempt_in_s": retry_in,
            "signature": header,
            "time": time.time(),
            "duration_ms": round((time.monotonic() - started) * 1000, 3),
        }
        with self._lock:
            self._log_seq += 1
            entry["seq"] = self._log_seq
            self._log.append(entry)
            if retry_in is not None and d.endpoint_id in self._queues and not self._stop.is_set():
                d.attempt += 1
                d.due = time.monotonic() + retry_in
                d.seq = next(self._seq)
                heapq.heappush(self._queues[d.endpoint_id], d)
                self._lock.notify_all()
        if ok:
            self._on_delivered(d.account, d.livemode, d.event_id)

    # ---- log and waiting -----------------------------------------------------------------------
    def deliveries(
        self, endpoint: str | None = None, event: str | None = None, since: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        with self._lock:
            out = [
                dict(e)
                for e in self._log
                if e["seq"] > since
                and (endpoint is None or e["endpoint"] == endpoint)
                and (event is None or e["event"] == event)
            ]
        return out[-limit:] if limit else out

    def pending(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._queues.values()) + len(self._busy)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no delivery is queued or running (retries included); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._busy or any(self._queues.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.1))
        return True

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
