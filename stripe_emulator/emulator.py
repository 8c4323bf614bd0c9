"""The in-process Python API: ``start_emulator(config) -> Emulator`` (a context manager serving HTTP on
a background thread). Every method has an HTTP twin under ``/_emulator`` (see control.py) and an
identical method on ``client.EmulatorClient`` for an emulator running in another process.
"""

from __future__ import annotations

import threading
from typing import Any

from .api import StripeApi
from .auth import Authenticator
from .catalog import load_catalog
from .churn import Churn
from .clock import Clock
from .config import EmulatorConfig
from .control import ControlApi, Controller
from .faults import FaultInjector
from .requestlog import RequestLog
from .server import EmulatorHTTPServer
from .webhooks import Webhooks
from .world import World


class Emulator:
    """A running (or ready to run) emulator. Use ``start_emulator`` or ``with Emulator(cfg) as emu``."""

    def __init__(self, config: EmulatorConfig | None = None):
        self.config = config = config or EmulatorConfig()
        config.validate()
        catalog = load_catalog(config.data_dir)
        self.clock = Clock(config.start_time)
        self.world = World(config, catalog, self.clock)
        self.faults = FaultInjector(
            config.seed if (config.faults or {}).get("seed") is None else config.faults["seed"], config.faults
        )
        self.log = RequestLog(config.request_log_limit, config.record)
        restricted = {}
        for key, spec in config.restricted_keys.items():
            names = spec.get("forbidden", []) if isinstance(spec, dict) else spec
            restricted[key] = frozenset(self.world.resolve(n) for n in names)
        self.api_key = config.api_key
        self.live_key = config.live_key
        self.auth = Authenticator(config.api_key, config.live_key, restricted)
        self.api = StripeApi(
            self.world, self.faults, self.log, self.auth, config.resolved_not_enabled(), config.rate_limits
        )
        self.churn = Churn(self.world)
        self.webhooks = Webhooks(config.webhooks, self.world.webhook_delivered)
        self.world.event_sink = self.webhooks
        self.server = EmulatorHTTPServer((config.host, config.port), self)
        host, port = self.server.server_address[:2]
        self.port = int(port)
        self.url = f"http://{host}:{self.port}"
        self.controller = Controller(
            self.world,
            self.faults,
            self.api.limits,
            self.log,
            self.churn,
            self.webhooks,
            {
                "url": self.url,
                "api_key": self.api_key,
                "live_key_configured": bool(self.live_key),
                "seed": config.seed,
                "profile": config.profile,
            },
        )
        self.control_api = ControlApi(self.controller)
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Emulator:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.server.serve_forever,
                kwargs={"poll_interval": 0.1},
                daemon=True,
                name=f"stripe-emulator:{self.port}",
            )
            self._thread.start()
            churn = self.config.resolved_churn()
            if churn:
                self.churn.start(churn)
        return self

    def serve_forever(self) -> None:
        """Serve on the calling thread (the CLI); ``stop()`` from another thread ends it."""
        churn = self.config.resolved_churn()
        if churn:
            self.churn.start(churn)
        self.server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self.churn.stop()
        self.webhooks.stop()
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server.close_all()
        self.server.server_close()
        self.log.close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- data ------------------------------------------------------------------------------------
    @property
    def account_id(self) -> str:
        return self.world.platform_id

    def info(self) -> dict[str, Any]:
        return self.controller.info()

    def dump(self, resource: str, *, account: str | None = None, livemode: bool = False) -> dict[str, Any]:
        """Ground truth: ``{"objects": [every live object], "deleted": [{"id", "deleted_at"}], ...}``."""
        return self.controller.dump(resource, account, livemode)

    def get(
        self, resource: str, id: str, *, account: str | None = None, livemode: bool = False
    ) -> dict[str, Any]:
        return self.controller.get(resource, id, account, livemode)

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
        """Create an object, emitting ``<type>.created``.

        Fields named ``account`` or ``livemode`` go in the ``fields`` dict."""
        return self.controller.create(resource, {**(fields or {}), **kwfields}, account, livemode)

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
        """Update top-level fields (``metadata`` merges); emits ``<type>.updated`` with previous_attributes.
        Returns ``{"object", "previous_attributes", "event"}``."""
        return self.controller.update(resource, id, {**(fields or {}), **kwfields}, account, livemode)

    def delete(
        self, resource: str, id: str, *, account: str | None = None, livemode: bool = False
    ) -> dict[str, Any]:
        """Delete (a subscription is canceled), emitting ``<type>.deleted``.

        Returns ``{"id", "deleted", "event"}``."""
        return self.controller.delete(resource, id, account, livemode)

    # ---- children (nested lists) -----------------------------------------------------------------
    def children(
        self, resource: str, parent: str, field: str, *, account: str | None = None, livemode: bool = False
    ) -> list[dict[str, Any]]:
        """The children of one parent in list order: ``children("invoices", "in_...", "lines")``."""
        return self.controller.children(resource, parent, field, account, livemode)

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
        """Add a child with Stripe's events (an invoice line: invoiceitem.created + invoice.updated).
        Returns ``{"object", "parent", "events": [event ids]}``."""
        fields = {**(fields or {}), **kwfields}
        return self.controller.add_child(resource, parent, field, fields, account, livemode)

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
        """Remove a child with Stripe's events. Returns ``{"id", "deleted", "parent", "events"}``."""
        return self.controller.remove_child(resource, parent, field, child, account, livemode)

    # ---- batches of changes, events --------------------------------------------------------------
    def apply_changes(self, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Several changes in one call, in order (see Controller.apply_changes)."""
        return self.controller.apply_changes(changes)

    def scatter_changes(
        self,
        plan: dict[str, dict[str, int]],
        *,
        seed: int | None = None,
        account: str | None = None,
        livemode: bool = False,
    ) -> list[dict[str, Any]]:
        """Updates/deletes/creates on random (seeded) objects of several resources:
        ``scatter_changes({"invoices": {"update": 3, "delete": 3}, "customers": {"update": 2}})``."""
        return self.controller.scatter_changes(plan, seed, account, livemode)

    def events(self, *, account: str | None = None, livemode: bool = False) -> list[dict[str, Any]]:
        """Every retained event of the account, oldest first."""
        return self.controller.events(account, livemode)

    def expire_events(
        self, before: int, *, account: str | None = None, livemode: bool = False
    ) -> dict[str, Any]:
        """Forget the events created before ``before`` (emulated Unix time). Returns ``{"expired": n}``."""
        return self.controller.expire_events(before, account, livemode)

    def drop_events(
        self, ids: list[str], *, account: str | None = None, livemode: bool = False
    ) -> dict[str, Any]:
        """Forget these events. Returns ``{"dropped": [ids that were there]}``."""
        return self.controller.drop_events(ids, account, livemode)

    def set_event_retention(self, days: float) -> dict[str, Any]:
        return self.world.set_retention(days)

    # ---- connected accounts ----------------------------------------------------------------------
    def connected_accounts(self) -> list[dict[str, Any]]:
        """``[{"id", "created", "size", "revoked"}]`` for every connected account."""
        return self.world.connected_accounts()

    def add_account(
        self,
        id: str | None = None,
        *,
        dataset: dict[str, Any] | None = None,
        children: dict[str, int] | None = None,
        objects: dict[str, list[dict[str, Any]]] | None = None,
    ) -> dict[str, Any]:
        """Connect a new account (listed by /v1/accounts from now on).

        Returns ``{"id", "created", "event"}``."""
        spec = {k: v for k, v in (("dataset", dataset), ("children", children), ("objects", objects)) if v}
        return self.controller.add_account({"id": id, **spec})

    def revoke_account(self, id: str) -> dict[str, Any]:
        """The account revokes the platform's access: 403 ``account_invalid`` for its Stripe-Account from
        now on. Returns ``{"id", "revoked_at", "event"}`` (account.application.deauthorized)."""
        return self.world.revoke_account(id)

    # ---- webhooks --------------------------------------------------------------------------------
    def add_webhook_endpoint(self, url: str, **settings: Any) -> dict[str, Any]:
        """Deliver events to ``url``: settings ``secret`` (whsec_..., generated if absent),
        ``enabled_events`` (["*"]), ``connect`` (events of connected accounts), ``livemode``,
        ``sign_offset_s``. Returns the endpoint with its ``secret`` (only here)."""
        return self.webhooks.add({"url": url, **settings})

    def webhook_endpoints(self) -> list[dict[str, Any]]:
        return self.webhooks.endpoints()

    def update_webhook_endpoint(self, id: str, **fields: Any) -> dict[str, Any]:
        return self.webhooks.update(id, fields)

    def remove_webhook_endpoint(self, id: str) -> dict[str, Any]:
        return self.webhooks.remove(id)

    def webhook_deliveries(
        self, endpoint: str | None = None, event: str | None = None, since: int = 0
    ) -> list[dict[str, Any]]:
        """The delivery log: one entry per attempt (status, error, outcome, next_attempt_in_s ...)."""
        return self.webhooks.deliveries(endpoint, event, since)

    def wait_webhooks(self, timeout: float = 10.0) -> bool:
        """Wait until no delivery is queued or running (retries included); False on timeout."""
        return self.webhooks.wait_idle(timeout)

    def set_webhook_settings(self, **settings: Any) -> dict[str, Any]:
        """``retry_scale`` (multiplies Stripe's retry intervals) and ``timeout_s``."""
        return self.webhooks.set_settings(settings)

    # ---- clock, faults, churn, request log -------------------------------------------------------
    def now(self) -> int:
        return self.clock.now()

    def advance_clock(self, seconds: float) -> int:
        """Move emulated time forward (negative: backward); returns the new emulated now."""
        return self.controller.advance_clock(seconds)["now"]

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        """Merge fault settings (see faults.py); returns the full current settings."""
        return self.faults.update(settings)

    def reset_faults(self) -> dict[str, Any]:
        return self.faults.reset()

    def set_rate_limits(self, settings: Any = True) -> dict[str, Any]:
        """Replace Stripe's rate limits (see ratelimit.py): True = Stripe's, a dict overrides some of them,
        None or False = off. Returns the effective limits."""
        return self.api.limits.set(settings)

    def rate_limits(self) -> dict[str, Any]:
        return self.api.limits.snapshot()

    def start_churn(
        self, rate: float = 1.0, resources: list[str] | None = None, **settings: Any
    ) -> dict[str, Any]:
        return self.churn.start({"rate": rate, "resources": resources, **settings})

    def stop_churn(self) -> dict[str, Any]:
        return self.churn.stop()

    def requests(
        self, path: str | None = None, since: int = 0, status: int | None = None
    ) -> list[dict[str, Any]]:
        return self.log.entries(path, since, status)

    def request_counts(self) -> dict[str, Any]:
        return self.log.counts()

    def clear_requests(self) -> None:
        self.log.clear()


def start_emulator(config: EmulatorConfig | dict[str, Any] | None = None, **overrides: Any) -> Emulator:
    """Build and start an emulator on a background thread (127.0.0.1, port 0 by default).

    ``config`` is an ``EmulatorConfig`` or a dict in the JSON config format; ``overrides`` set fields.
    """
    if config is None or isinstance(config, dict):
        config = EmulatorConfig.from_dict(dict(config or {}), **overrides)
    elif overrides:
        config = EmulatorConfig.from_dict({**config.to_dict(), **overrides})
    return Emulator(config).start()
