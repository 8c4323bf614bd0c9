"""Test trick: send a connector's HTTP for https://api.stripe.com to the Stripe emulator instead.

A connector started with this directory on PYTHONPATH and
`STRIPE_SYNC_TEST_URL_REWRITE="https://api.stripe.com=http://127.0.0.1:PORT"` has every `requests` call
whose URL starts with the left side rewritten to the right side, at the transport (requests'
HTTPAdapter.send), so code that parses its own URLs (tap-stripe matches `api.stripe.com` in them) keeps
working. Python imports `sitecustomize` at startup; every import is guarded, so any other Python that
sees this PYTHONPATH is unaffected. Not part of the product (docs/third-party.md).
"""
import os

_rule = os.environ.get("STRIPE_SYNC_TEST_URL_REWRITE")
if _rule and "=" in _rule:
    try:
        import requests.adapters
    except ImportError:
        pass
    else:
        _from, _to = _rule.split("=", 1)
        _send = requests.adapters.HTTPAdapter.send

        def _rewriting_send(self, request, *args, **kwargs):
            if request.url and request.url.startswith(_from):
                request.url = _to + request.url[len(_from):]
            return _send(self, request, *args, **kwargs)

        requests.adapters.HTTPAdapter.send = _rewriting_send
