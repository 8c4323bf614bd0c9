"""`engine serve`: an HTTP API for syncs, a live status page and Stripe webhooks (docs/engine.md).

Needs the `serve` extra (FastAPI, uvicorn); nothing outside `app.py` and `server.py` imports them.
"""
