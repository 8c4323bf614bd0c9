"""HTTP access to Stripe's API: auth, headers, timeouts, retries, the shared rate limiter.

`StripeClient.get(path, params)` returns a `Page` (the JSON body, `has_more`, the server's time from the
`Date` header, and `snapshot_time`: a lower bound of the server's second when it built the body) or
raises `errors.StripeAPIError` once the request failed for good. Every attempt first waits its turn at
the key's limiter (rate_limit.py: a token of the account and of the endpoint, by `priority`), then takes
a token of the platform-wide `cap` when there is one (several Connect accounts read at once, each with
a limiter of its own: Stripe's limits are per account), and counts in `request_count`; `round_trip_s`
follows how long requests take (the backfill plans with it).

Retried (`errors.worth_retrying`): 429 (always, whatever `Stripe-Should-Retry` says), 5xx, timeouts,
connection errors, truncated bodies, and anything with `Stripe-Should-Retry: true`; never other 4xx,
never another response saying `Stripe-Should-Retry: false`. Backoff is exponential with full jitter
(`backoff_delay`), at least the `Retry-After` the server asked, up to `max_retries` retries. A 429 also
slows the limiter down (adaptive). Before each backoff `on_retry` gets one line saying what is
retried, why, and when (the source writes it as a `log` warning).

Headers: `Authorization: Bearer <key>`, `Stripe-Version`, `Stripe-Account` (Connect), a User-Agent.
One `requests.Session` per thread (connection reuse without sharing a session across threads). The key
never appears in an error: messages are redacted and URLs are reported without their query string.
"""
from __future__ import annotations

import email.utils
import math
import random
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit
from dataclasses import dataclass
from typing import Any

import requests

from connector_kit.backoff import backoff_delay as exponential_delay
from protocol.jsonio import JSONDecodeError, loads
from source_stripe.errors import StripeAPIError, status_meaning, worth_retrying
from source_stripe.rate_limit import Limiter, TokenBucket

USER_AGENT = "stripe-sync/0.1 (+source-stripe)"


class Cancelled(Exception):
    """The run is stopping (signal or global error): the request was not made or its result is dropped."""


@dataclass(frozen=True)
class ClientSettings:
    api_key: str
    base_url: str = "https://api.stripe.com"
    api_version: str | None = None
    account_id: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 8
    backoff_base_s: float = 0.25
    backoff_cap_s: float = 30.0


@dataclass
class Page:
    body: dict
    server_time: int | None  # the response's `Date`: when the server answered
    request_id: str | None
    # A second at or before the moment the server built the body (`Date` minus the request's duration, or the
    # server clock when it was sent). `Date` itself can be a later second than the data: an object changed
    # or deleted while the page was in flight would then look older than the page, and its event would lose.
    snapshot_time: int | None = None

    @property
    def data(self) -> list[dict]:
        data = self.body.get("data")
        return data if isinstance(data, list) else []

    @property
    def has_more(self) -> bool:
        return bool(self.body.get("has_more"))


def list_body_problem(body: dict) -> str | None:
    """Why a 2xx body is not a usable list page, or None: `data` must be a list, and a page that says
    `has_more` must hold at least one object (else there is no cursor to continue from)."""
    if not isinstance(body.get("data"), list):
        return "list response without a 'data' list"
    if body.get("has_more") and not body["data"]:
        return "list response says has_more but holds no objects"
    return None


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None,
                  rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number `attempt` (0-based): jittered exponential, at least Retry-After."""
    delay = exponential_delay(attempt, base, cap, rng())
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap * 2))
    return delay


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def parse_http_date(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(email.utils.parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError):
        return None


def _snapshot_time(date: int | None, elapsed: float, floor_at_send: int | None) -> int | None:
    """A lower bound of the server's second when it built a response: its `Date` minus the time the request
    took (measured here, so at least the server's share), never below the server clock when it was sent."""
    if date is None:
        return floor_at_send
    lower = date - math.ceil(max(0.0, elapsed))
    return min(date, max(lower, floor_at_send)) if floor_at_send is not None else lower


def network_reason(exc: BaseException) -> str:
    """The root cause of a failed connection in a few words (`Connection refused`, `Name or service not
    known`), found along the exception's causes; else the exception's type. Never a URL (its query)."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.strerror:
            return str(seen.strerror)
        inner = [a for a in getattr(seen, "args", ()) if isinstance(a, BaseException)]
        seen = seen.__cause__ or seen.__context__ or (inner[0] if inner else getattr(seen, "reason", None))
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "Temporary failure in name resolution",
                   "No route to host", "Network is unreachable", "Connection reset"):
        if marker in text:
            return marker
    return type(exc).__name__


def _error_fields(resp: requests.Response) -> tuple[str, str | None, str | None]:
    try:
        err = loads(resp.content).get("error") or {}
    except (JSONDecodeError, AttributeError):
        err = {}
    if not isinstance(err, dict):
        err = {}
    message = err.get("message") or f"{resp.status_code} {resp.reason or ''}".strip()
    return str(message), err.get("code"), err.get("param")


class StripeClient:
    def __init__(self, settings: ClientSettings, limiter: Limiter, stop: threading.Event | None = None,
                 rng: Callable[[], float] = random.random, cap: TokenBucket | None = None,
                 on_retry: Callable[[str, dict], None] | None = None):
        self.settings, self.limiter, self.rng, self.cap = settings, limiter, rng, cap
        self.on_retry = on_retry
        self.round_trip_s = 0.5  # a moving average of successful requests (the first one sets it)
        self._timed = 0
        self.stop = stop or threading.Event()
        self._local = threading.local()
        self._count_lock = threading.Lock()
        self.request_count = 0
        self.retry_count = 0
        self.last_server_time: int | None = None
        self._time_noted_at = 0.0
        headers = {"Authorization": f"Bearer {settings.api_key}", "User-Agent": USER_AGENT}
        if settings.api_version:
            headers["Stripe-Version"] = settings.api_version
        if settings.account_id:
            headers["Stripe-Account"] = settings.account_id
        self._headers = headers
        # named in network errors and retry lines: host and port, never a user-info (`user:pw@proxy`)
        self.host = urlsplit(settings.base_url).netloc.rpartition("@")[2] or settings.base_url

    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=0)
            s.mount("http://", adapter)
            s.mount("https://", adapter)
            s.headers.update(self._headers)
            self._local.session = s
        return s

    def _count(self, retry: bool) -> None:
        with self._count_lock:
            self.request_count += 1
            if retry:
                self.retry_count += 1

    def _wait_token(self, path: str, priority: tuple) -> None:
        if self.stop.is_set() or not self.limiter.acquire(path, priority, self.stop):
            raise Cancelled()
        while self.cap is not None:
            wait = self.cap.try_acquire()
            if wait <= 0:
                return
            if self.stop.wait(min(wait, 0.5)):
                raise Cancelled()

    def _note_round_trip(self, seconds: float) -> None:
        with self._count_lock:
            self._timed += 1
            self.round_trip_s += max(0.2, 1 / self._timed) * (seconds - self.round_trip_s)

    def get(self, path: str, params: dict[str, Any] | None = None, expect_list: bool = False,
            priority: tuple = ()) -> Page:
        """GET with retries. `expect_list`: the body must be a list page (see `list_body_problem`); one that
        is not (a proxy's empty body, `has_more` without objects) is retried like a truncated body, never
        taken as the end of the list. `priority`: its place at the limiter (lower first)."""
        url = self.settings.base_url.rstrip("/") + path
        timeout = (min(10.0, self.settings.timeout_s), self.settings.timeout_s)
        attempt = 0
        while True:
            self._wait_token(path, priority)
            self._count(retry=attempt > 0)
            retry_after: float | None = None
            floor_at_send = self.server_now() if self.last_server_time is not None else None
            sent = time.monotonic()
            try:
                resp = self._session().get(url, params=params, timeout=timeout)
            except requests.Timeout:
                err = StripeAPIError(0, f"no answer from {self.host} within {self.settings.timeout_s:g}s",
                                     code="timeout", path=path)
            except requests.RequestException as exc:
                err = StripeAPIError(0, f"cannot reach {self.host} ({network_reason(exc)})", code="network",
                                     path=path)
            else:
                server_time = parse_http_date(resp.headers.get("Date"))
                request_id = resp.headers.get("Request-Id")
                if server_time is not None:
                    self._note_time(server_time)
                if 200 <= resp.status_code < 300:
                    try:
                        body = loads(resp.content)
                        if not isinstance(body, dict):
                            raise ValueError("not an object")
                        problem = list_body_problem(body) if expect_list else None
                        if problem:
                            raise ValueError(problem)
                        took = time.monotonic() - sent
                        self._note_round_trip(took)
                        snapshot = _snapshot_time(server_time, took, floor_at_send)
                        return Page(body, server_time, request_id, snapshot)
                    except (JSONDecodeError, ValueError, requests.RequestException) as exc:
                        plain = isinstance(exc, ValueError) and not isinstance(exc, JSONDecodeError)
                        detail = str(exc) if plain else "truncated or invalid JSON body"
                        err = StripeAPIError(0, detail, code="network", path=path)
                else:
                    message, code, param = _error_fields(resp)
                    err = StripeAPIError(resp.status_code, message, code, request_id, param, path)
                    should_retry = resp.headers.get("Stripe-Should-Retry")
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                    if resp.status_code == 429:
                        self.limiter.on_throttled(path, retry_after)
                    if not worth_retrying(resp.status_code, should_retry and should_retry.lower()):
                        raise err
            if attempt >= self.settings.max_retries:
                if attempt:
                    err.message += f"; gave up after {attempt + 1} attempts"
                raise err
            delay = backoff_delay(attempt, self.settings.backoff_base_s, self.settings.backoff_cap_s,
                                  retry_after,
                                  self.rng)
            attempt += 1
            self._tell_retry(path, err, attempt, delay)
            if self.stop.wait(delay):
                raise Cancelled()

    def _tell_retry(self, path: str, err: StripeAPIError, attempt: int, delay: float) -> None:
        if self.on_retry is None:
            return
        code = status_meaning(err.status).code if err.status else (err.code or "network")
        what = f"HTTP {err.status} {code}" if err.status else code
        tries, account = self.settings.max_retries, self.settings.account_id
        of = f" of account {account}" if account else ""  # Connect: which account's request
        self.on_retry(f"GET {path}{of}: {what} ({err.message}); retry {attempt} of {tries} in {delay:.1f}s",
                      {"path": path, "account": account, "http_status": err.status or None, "code": code,
                       "retry": attempt, "max_retries": tries, "delay_s": round(delay, 3)})

    def _note_time(self, t: int) -> None:
        with self._count_lock:
            if self.last_server_time is None or t > self.last_server_time:
                self.last_server_time, self._time_noted_at = t, time.monotonic()

    def server_now(self) -> int:
        """A lower bound of the server's current second: the last `Date` seen plus the time elapsed since.

        Used as an exclusive upper bound: everything created before it already exists on the server."""
        with self._count_lock:
            if self.last_server_time is None:
                return int(time.time())
            return self.last_server_time + int(time.monotonic() - self._time_noted_at)

    def adopt_clock(self, other: StripeClient) -> None:
        """Know the server's clock as `other` does (a client of another account of the same server)."""
        if other.last_server_time is None:
            return
        now = other.server_now()
        with self._count_lock:
            if self.last_server_time is None or now > self.last_server_time:
                self.last_server_time, self._time_noted_at = now, time.monotonic()

    def wait_past(self, second: int) -> None:
        """Block until the server's clock is surely past `second` (at most ~1 s after its `Date` was seen)."""
        with self._count_lock:
            if self.last_server_time is None or self.last_server_time > second:
                return
            due = self._time_noted_at + (second + 1 - self.last_server_time)
        delay = due - time.monotonic()
        if delay > 0 and self.stop.wait(delay):
            raise Cancelled()

    def close(self) -> None:
        s = getattr(self._local, "session", None)
        if s is not None:
            s.close()
