"""Background churn: a thread making N changes per second (create/update/delete) on chosen resources,
each producing its event, so a demo or soak test sees data move while it syncs.

Config: {"rate": changes/s, "resources": ["customers", ...], "ops": {"create": 1, "update": 3,
"delete": 1}, "account": acct id or null (platform), "livemode": false, "seed": int or null}.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from .errors import ControlError
from .world import World

DEFAULT_RESOURCES = ["customers", "products", "subscriptions", "invoices"]
DEFAULT_OPS = {"create": 1.0, "update": 3.0, "delete": 1.0}


class Churn:
    def __init__(self, world: World):
        self.world = world
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.settings: dict[str, Any] | None = None
        self.changes = 0
        self.errors = 0

    def status(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "settings": self.settings,
            "changes": self.changes,
            "errors": self.errors,
        }

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, settings: dict[str, Any]) -> dict[str, Any]:
        unknown = set(settings) - {"rate", "resources", "ops", "account", "livemode", "seed"}
        if unknown:
            raise ControlError(400, f"unknown churn settings: {sorted(unknown)}")
        rate = float(settings.get("rate", 1.0))
        if rate <= 0:
            raise ControlError(400, "churn rate must be > 0 changes per second")
        resources = list(settings.get("resources") or DEFAULT_RESOURCES)
        objs = [self.world.resolve(r) for r in resources]
        account = settings.get("account") or self.world.platform_id
        if account not in self.world.datasets:
            raise ControlError(404, f"unknown account {account!r}")
        self.stop()
        self.settings = {
            "rate": rate,
            "resources": resources,
            "ops": dict(settings.get("ops") or DEFAULT_OPS),
            "account": account,
            "livemode": bool(settings.get("livemode", False)),
            "seed": settings.get("seed"),
        }
        self._stop = threading.Event()
        seed = self.settings["seed"] if self.settings["seed"] is not None else self.world.seed
        self._thread = threading.Thread(
            target=self._run, args=(objs, random.Random(seed)), daemon=True, name="stripe-emulator-churn"
        )
        self._thread.start()
        return self.status()

    def stop(self) -> dict[str, Any]:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5)
            self._thread = None
        return self.status()

    def _run(self, objs: list[str], rng: random.Random) -> None:
        s = self.settings
        assert s is not None
        interval = 1.0 / s["rate"]
        ops = [(k, float(w)) for k, w in s["ops"].items() if float(w) > 0]
        names, weights = [k for k, _ in ops], [w for _, w in ops]
        world = self.world
        next_at = time.monotonic()
        while not self._stop.is_set():
            next_at += interval
            try:
                self._one(world, rng, rng.choice(objs), rng.choices(names, weights)[0])
                self.changes += 1
            except ControlError:
                self.errors += 1
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_at = time.monotonic()

    def _one(self, world: World, rng: random.Random, obj: str, op: str) -> None:
        s = self.settings
        assert s is not None
        scope = world.scope(s["account"], s["livemode"])
        with world.lock:
            st = world.store(scope, obj)
            oid = st.keys[rng.randrange(len(st.keys))][1] if len(st) else None
            if obj == "subscription" and oid and st.field(oid, "status") == "canceled":
                op = "update"
        if op == "create" or oid is None:
            world.create(scope, obj, {"metadata": {"churn": str(self.changes)}})
        elif op == "delete" and (world.catalog.deletable(obj) or obj == "subscription"):
            world.delete(scope, obj, oid)
        else:
            fields: dict[str, Any] = {"metadata": {"churn": str(self.changes)}}
            if obj == "customer":
                fields["name"] = f"Churned Customer {self.changes}"
            world.update(scope, obj, oid, fields)
