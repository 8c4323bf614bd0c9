"""Built-in dataset profiles: ``small`` (tests), ``demo`` (>= 50k objects, churn), ``bench`` (121k customers).

A profile is a dataset (resource name -> count or spec, see ``config.ResourceSpec``) plus optional churn
and features the account has not enabled. Resources not named have no objects.
"""

from __future__ import annotations

from typing import Any

SMALL: dict[str, Any] = {
    "customers": {"count": 40, "years": 2, "skew": 2},
    "products": {"count": 12, "years": 2, "skew": 1.5},
    "prices": {"count": 20, "years": 2, "skew": 1.5},
    "coupons": {"count": 5, "years": 1},
    "invoices": {"count": 30, "years": 2, "skew": 2},
    "invoiceitems": {"count": 30, "years": 2, "skew": 2},
    "subscriptions": {"count": 25, "years": 2, "skew": 2},
    "charges": {"count": 35, "years": 2, "skew": 2},
    "refunds": {"count": 8, "years": 1},
    "payment_intents": {"count": 35, "years": 2, "skew": 2},
    "setup_intents": {"count": 10, "years": 1},
    "payment_methods": {"count": 15, "years": 2},
    "balance_transactions": {"count": 40, "years": 2, "skew": 2},
    "disputes": {"count": 3, "years": 1},
    "payouts": {"count": 6, "years": 1},
}

DEMO: dict[str, Any] = {
    "customers": {"count": 12000, "years": 4, "skew": 2.5, "bursts": [{"at": "recent", "count": 250}]},
    "products": {"count": 400, "years": 4, "skew": 1.5},
    "prices": {"count": 800, "years": 4, "skew": 1.5},
    "plans": {"count": 100, "years": 4, "skew": 1.5},
    "coupons": {"count": 60, "years": 3},
    "promotion_codes": {"count": 40, "years": 2},
    "tax_rates": {"count": 12, "years": 3},
    # lines and items: mostly a few, one parent in 100 (50) past the 10 its parent embeds
    "invoices": {"count": 8000, "years": 4, "skew": 2.5,
                 "children": {"lines": [1, 2, 1, 3, 1, 1, 2, 4, 1, 2] * 9 + [1, 3, 2, 1, 1, 2, 1, 5, 1, 25]}},
    "invoiceitems": {"count": 9000, "years": 4, "skew": 2.5},
    "credit_notes": {"count": 200, "years": 3, "skew": 2},
    "subscriptions": {"count": 4000, "years": 4, "skew": 2,
                      "children": {"items": [1, 1, 2, 1, 3] * 9 + [1, 2, 1, 1, 15]}},
    "charges": {"count": 9000, "years": 4, "skew": 2.5, "bursts": [{"at": "recent", "count": 400}]},
    "refunds": {"count": 900, "years": 4, "skew": 2.5},
    "payment_intents": {"count": 9000, "years": 4, "skew": 2.5},
    "setup_intents": {"count": 1500, "years": 3, "skew": 2},
    "payment_methods": {"count": 3000, "years": 4, "skew": 2},
    "balance_transactions": {"count": 10000, "years": 4, "skew": 2.5},
    "disputes": {"count": 60, "years": 3},
    "payouts": {"count": 300, "years": 4, "skew": 1.2},
    "transfers": {"count": 120, "years": 2},
}

BENCH: dict[str, Any] = {
    "customers": {"count": 120_000, "years": 5, "skew": 2, "bursts": [{"at": "recent", "count": 1000}]},
    "products": {"count": 50, "years": 3},
}

PROFILES: dict[str, dict[str, Any]] = {
    "small": {"dataset": SMALL},
    "demo": {
        "dataset": DEMO,
        "not_enabled": ["issuing"],
        "churn": {"rate": 2.0, "resources": ["customers", "subscriptions", "invoices", "products"]},
    },
    "bench": {"dataset": BENCH},
}
