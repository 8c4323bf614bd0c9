"""Connected accounts of the platform: the explicit ones of the config and a generated population of
very different sizes, both deterministic from the seed. Pure functions; the world builds their data.

Config ``connected_accounts`` maps account ids to an account spec, and may hold one ``generate`` entry:

    {"acct_1Big": {"dataset": {"customers": 5000}, "children": {"persons": 3},
                   "objects": {"products": [{"id": "prod_shared", "name": "Shared"}]}, "created": 1690000000},
     "generate": {"count": 50, "sizes": [{"weight": 45, "dataset": {"customers": 3}},
                                         {"weight": 5, "dataset": {"customers": 2000}}]}}

An account spec: ``dataset`` (like the platform's), ``children`` (counts of the account's persons and
external accounts), ``objects`` (objects with ids of your choice, present at start without events:
the same custom ids in two accounts collide as on a real platform) and ``created``. Generated accounts
get ids ``acct_1...`` from (seed, position) and a size class by weight, spread evenly (smooth weighted
round robin, so 50 accounts with weights 30/15/4/1 have exactly 30, 15, 4 and 1 of each).
"""

from __future__ import annotations

from typing import Any

from .ids import IdStyle, seed_int

ACCOUNT_KEYS = frozenset({"dataset", "children", "objects", "created"})
GENERATE_KEYS = frozenset({"count", "sizes"})
ACCOUNT_CHILDREN = frozenset({"persons", "external_accounts"})
ACCOUNT_STYLE = IdStyle("acct_", 16, "1")  # acct_1Nnlp9GPxmnHQRkJ
# Default size classes of generated accounts: most tiny, a few large (a platform's long tail).
DEFAULT_SIZES: list[dict[str, Any]] = [
    {"name": "tiny", "weight": 30, "dataset": {"customers": 3, "products": 1, "prices": 1, "charges": 4}},
    {
        "name": "small",
        "weight": 15,
        "dataset": {
            "customers": 25,
            "products": 3,
            "prices": 5,
            "charges": 40,
            "invoices": 15,
            "subscriptions": 8,
        },
    },
    {
        "name": "medium",
        "weight": 4,
        "dataset": {
            "customers": 300,
            "products": 10,
            "prices": 20,
            "charges": 500,
            "invoices": 150,
            "subscriptions": 60,
        },
        "children": {"persons": 2, "external_accounts": 1},
    },
    {
        "name": "large",
        "weight": 1,
        "dataset": {
            "customers": 3000,
            "products": 40,
            "prices": 80,
            "charges": 5000,
            "invoices": 1500,
            "subscriptions": 600,
        },
        "children": {"persons": 4, "external_accounts": 2},
    },
]
YEAR = 365 * 86400


def check_account_spec(acct: str, spec: Any) -> dict[str, Any]:
    if not str(acct).startswith("acct_"):
        raise ValueError(f"connected account ids start with acct_: {acct!r}")
    spec = spec or {}
    if not isinstance(spec, dict):
        raise ValueError(f"connected account {acct}: expected an object, got {spec!r}")  # noqa: TRY004
    unknown = set(spec) - ACCOUNT_KEYS
    if unknown:
        raise ValueError(
            f"connected account {acct}: unknown keys {sorted(unknown)} (known: {sorted(ACCOUNT_KEYS)})"
        )
    check_children(f"connected account {acct}", spec.get("children") or {})
    return spec


def check_children(where: str, children: Any) -> None:
    if not isinstance(children, dict) or not all(
        k in ACCOUNT_CHILDREN and isinstance(v, int) and v >= 0 for k, v in children.items()
    ):
        raise ValueError(f'{where}: children is {{"persons": n, "external_accounts": n}}, got {children!r}')


def weighted_spread(count: int, weights: list[float]) -> list[int]:
    """Size class of each of ``count`` accounts: smooth weighted round robin, so every prefix of the
    sequence has about the weights' proportions and the whole has them exactly when they divide."""
    current = [0.0] * len(weights)
    total = float(sum(weights))
    out = []
    for _ in range(count):
        for n, w in enumerate(weights):
            current[n] += w
        best = max(range(len(weights)), key=lambda n: (current[n], -n))
        current[best] -= total
        out.append(best)
    return out


def expand_accounts(raw: dict[str, Any], seed: int) -> dict[str, dict[str, Any]]:
    """Every connected account id -> its spec (explicit ones first, then the generated ones)."""
    out: dict[str, dict[str, Any]] = {}
    for acct, spec in raw.items():
        if acct != "generate":
            out[acct] = check_account_spec(acct, spec)
    gen = raw.get("generate")
    if gen is None:
        return out
    if not isinstance(gen, dict) or set(gen) - GENERATE_KEYS or not isinstance(gen.get("count"), int):
        raise ValueError(
            'connected_accounts.generate is {"count": n, "sizes": [{"weight", "dataset", "children"}]}'
        )
    sizes = gen.get("sizes") or DEFAULT_SIZES
    for n, size in enumerate(sizes):
        if not isinstance(size, dict) or set(size) - {"name", "weight", "dataset", "children"}:
            raise ValueError(
                f"connected_accounts.generate.sizes[{n}]: keys are name, weight, dataset, children"
            )
        check_children(f"connected_accounts.generate.sizes[{n}]", size.get("children") or {})
    classes = weighted_spread(gen["count"], [float(s.get("weight", 1)) for s in sizes])
    for k, cls in enumerate(classes):
        acct = ACCOUNT_STYLE.make(f"{seed}:connected:{k}")
        size = sizes[cls]
        out.setdefault(
            acct,
            {
                "dataset": dict(size.get("dataset") or {}),
                "children": dict(size.get("children") or {}),
                "size": size.get("name", str(cls)),
            },
        )
    return out


def account_created(acct: str, spec: dict[str, Any], start: int) -> int:
    """When a connected account was created: the spec's ``created``, else within the last 3 years."""
    if spec.get("created") is not None:
        return int(spec["created"])
    return start - 86400 - seed_int(acct, "created") % (3 * YEAR)
