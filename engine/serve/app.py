"""The HTTP API of `engine serve` (FastAPI): routes, models, auth. What they do is `service.py`'s.

Every route but `/health` and `/webhooks/stripe` (Stripe's signature is its auth) needs
`Authorization: Bearer $STRIPE_SYNC_API_TOKEN`; the GET routes also take the status page's session
cookie (set by `POST /login`, derived from the token, HttpOnly, SameSite=Strict), so a browser can show
`/` and poll `/v1/syncs`. Comparisons are constant-time. `/openapi.json` is generated from these routes.
Errors are `{"detail": {"code", "message"}}` (422 from request validation: FastAPI's own `detail` list).
"""
from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from engine.serve import page
from engine.serve.jobs import SyncJob
from engine.serve.service import Busy, Service, SyncRequest
from engine.serve.webhooks import Refused
from protocol import messages
from protocol.errors import ConfigError
from protocol.jsonio import dumps_line

COOKIE = "stripe_sync_session"
POLL_SECONDS = 0.05
NDJSON = "application/x-ndjson"
VERSION = "0.1.0"


class SyncCreate(BaseModel):
    """`POST /v1/syncs`. Without configs the server's own are used (STRIPE_API_KEY, DATABASE_URL)."""

    model_config = ConfigDict(extra="forbid")
    streams: list[str] | None = Field(None, description="Streams to sync (default: the source's defaults).",
                                      examples=[["customers", "charges"]])
    follow: bool = Field(False, description="Keep the tables current (read --follow) until cancelled.")
    source_config: dict[str, Any] | None = Field(None, description="The whole source config.")
    destination_config: dict[str, Any] | None = Field(None, description="The whole destination config.")
    schema_name: str | None = Field(None, alias="schema",
                                    description="Postgres schema; overrides the destination config's.")


class SyncInfo(BaseModel):
    id: str
    status: str = Field(description="running, cancelling, succeeded, partial, failed or cancelled")
    follow: bool
    streams: list[str] | None
    source: dict[str, Any] = Field(description="The source config without its secrets.")
    destination: dict[str, Any] = Field(description="The destination config without its secrets.")
    created_at: str | None
    ended_at: str | None
    exit_code: int | None
    has_more: bool | None
    progress: dict[str, Any] | None = Field(description="The newest progress snapshot (as in the "
                                                        "protocol's progress trace).")
    error: dict[str, Any] | None = Field(description="What ended the run badly (an error object).")
    errors: list[dict[str, Any]] = Field(description="The last errors of the run.")
    events: list[dict[str, Any]] = Field(description="The last event lines of the run.")
    summary: list[str]
    wakes: int = Field(description="Wake-up signals sent to the source after webhooks.")
    last_success_at: str | None = Field(description="When a sync of this destination last succeeded.")


class SyncList(BaseModel):
    data: list[SyncInfo]


class Health(BaseModel):
    status: str


class WebhookAnswer(BaseModel):
    received: bool
    duplicate: bool
    woken: int = Field(description="Following syncs woken by the event.")


class ErrorDetail(BaseModel):
    code: str
    message: str
    id: str | None = None


class ErrorAnswer(BaseModel):
    detail: ErrorDetail


def error(status: int, code: str, message: str, **extra: Any) -> HTTPException:
    return HTTPException(status, {"code": code, "message": message, **extra},
                         headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)


Responses = dict[int | str, dict[str, Any]]
BEARER = HTTPBearer(auto_error=False, description="STRIPE_SYNC_API_TOKEN")
SESSION = APIKeyCookie(name=COOKIE, auto_error=False, description="The status page's session (POST /login)")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]
Session = Annotated[str | None, Security(SESSION)]
UNAUTHORIZED: Responses = {401: {"model": ErrorAnswer, "description": "Missing or wrong token."}}
NOT_FOUND: Responses = {404: {"model": ErrorAnswer, "description": "No such sync."}}


def create_app(service: Service) -> FastAPI:
    app = FastAPI(title="stripe-sync engine serve", version=VERSION, openapi_url=None, docs_url=None,
                  redoc_url=None,
                  description="Run syncs of Stripe into Postgres over HTTP, follow their progress, and wake "
                              "following syncs with Stripe webhooks (docs/engine.md, `engine serve`).")

    def writer(credentials: Bearer) -> None:
        if not service.token_ok(credentials.credentials if credentials else None):
            raise error(401, "unauthorized", "missing or wrong token: send Authorization: Bearer "
                                             "$STRIPE_SYNC_API_TOKEN")

    def reader(credentials: Bearer, session: Session) -> None:
        if not service.session_ok(session):
            writer(credentials)

    def job_or_404(sync_id: str) -> SyncJob:
        job = service.get(sync_id)
        if job is None:
            raise error(404, "not_found", f"no sync {sync_id!r}")
        return job

    @app.get("/health", response_model=Health, summary="Liveness (no token needed)")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/openapi.json", dependencies=[Depends(reader)], responses=UNAUTHORIZED,
             summary="This API's OpenAPI document")
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.post("/v1/syncs", status_code=202, response_model=SyncInfo, dependencies=[Depends(writer)],
              summary="Start a sync",
              responses={**UNAUTHORIZED,
                         409: {"model": ErrorAnswer, "description": "That destination is already "
                               "being synced (by this server or another writer)."},
                         422: {"description": "A bad request or config (e.g. unknown streams)."}})
    async def create_sync(body: SyncCreate) -> dict:
        request = SyncRequest(body.streams, body.follow, body.source_config, body.destination_config,
                              body.schema_name)
        try:
            job = service.start(service.spec(request))
        except ConfigError as exc:
            raise error(422, exc.code, exc.message) from None
        except Busy as exc:
            raise error(409, "conflict", str(exc), id=exc.job.id) from None
        deadline = time.monotonic() + service.settings.start_wait
        while not job.under_way and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
        if job.has_error("conflict"):
            raise error(409, "conflict", (job.error or {}).get("message", "the destination is busy"),
                        id=job.id)
        if job.failure is not None and job.failure.get("code") == "invalid_config":
            raise error(422, "invalid_config", job.failure.get("message", ""), id=job.id)
        return service.info(job)

    @app.get("/v1/syncs", response_model=SyncList, dependencies=[Depends(reader)], responses=UNAUTHORIZED,
             summary="Every sync of this server, newest first")
    async def list_syncs() -> dict:
        return {"data": [service.info(job) for job in service.jobs()]}

    @app.get("/v1/syncs/{sync_id}", response_model=SyncInfo, dependencies=[Depends(reader)],
             responses={**UNAUTHORIZED, **NOT_FOUND}, summary="One sync: status, last progress, error")
    async def get_sync(sync_id: str) -> dict:
        return service.info(job_or_404(sync_id))

    @app.post("/v1/syncs/{sync_id}/cancel", response_model=SyncInfo, dependencies=[Depends(writer)],
              status_code=202, responses={**UNAUTHORIZED, **NOT_FOUND,
                                          200: {"model": SyncInfo, "description": "It had already ended."}},
              summary="Stop a sync cleanly (the state is saved, like Ctrl-C)")
    async def cancel_sync(sync_id: str) -> Response:
        job = job_or_404(sync_id)
        cancelled = job.cancel()
        return JSONResponse(service.info(job), status_code=202 if cancelled else 200)

    @app.get("/v1/syncs/{sync_id}/messages", dependencies=[Depends(reader)], response_class=StreamingResponse,
             responses={**UNAUTHORIZED, **NOT_FOUND,
                        200: {"content": {NDJSON: {}}, "description": "The run's protocol messages "
                              "(catalog, statuses, progress, errors, eof), one JSON per line, live until the "
                              "run ends."}},
             summary="The run's protocol messages as NDJSON")
    async def sync_messages(sync_id: str) -> StreamingResponse:
        return StreamingResponse(message_lines(job_or_404(sync_id)), media_type=NDJSON)

    @app.post("/webhooks/stripe", response_model=WebhookAnswer, summary="Stripe webhook endpoint",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {}}},
                             "parameters": [{"name": "Stripe-Signature", "in": "header", "required": True,
                                             "schema": {"type": "string"}}]},
              responses={400: {"model": ErrorAnswer, "description": "Missing, bad, stale or replayed "
                                                                   "signature, or not an event."},
                         404: {"model": ErrorAnswer, "description": "Webhooks are off."},
                         413: {"model": ErrorAnswer, "description": "The body is over the size cap."}})
    async def stripe_webhook(request: Request) -> dict:
        if service.gate is None:
            raise error(404, "not_found", "webhooks are off: start the server with STRIPE_WEBHOOK_SECRET")
        body = await capped_body(request, service.settings.max_webhook_bytes)
        try:
            event = service.gate.accept(request.headers.get("stripe-signature"), body, time.time())
        except Refused as exc:
            raise error(exc.status, "invalid_request", str(exc)) from None
        return {"received": True, "duplicate": event.duplicate,
                "woken": 0 if event.duplicate else service.wake(event)}

    @app.get("/", response_class=HTMLResponse, summary="The live status page (login form without a session)")
    async def status_page(request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        token = authorization[7:] if authorization.lower().startswith("bearer ") else None
        if not (service.session_ok(request.cookies.get(COOKIE)) or service.token_ok(token)):
            return html(page.login(), 401)
        return html(page.status(), 200)

    @app.post("/login", summary="Open a status page session (form field `token`)",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/x-www-form-urlencoded": {"schema": {
                      "type": "object", "required": ["token"],
                      "properties": {"token": {"type": "string"}}}}}}},
              responses={303: {"description": "To the status page, with the session cookie."},
                         401: {"description": "Wrong token (the login form again)."}})
    async def login(request: Request) -> Response:
        form = parse_qs((await capped_body(request, 4096)).decode("utf-8", errors="replace"))
        tokens = form.get("token")
        if not service.token_ok(tokens[0] if tokens else None):
            return html(page.login("Wrong token."), 401)
        answer = RedirectResponse("/", status_code=303)
        answer.set_cookie(COOKIE, service.session_cookie, httponly=True, samesite="strict", path="/")
        return answer

    return app


async def capped_body(request: Request, limit: int) -> bytes:
    """The request body, or 413 once it is longer than `limit` (not read further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise error(413, "invalid_request", f"the body is over the {limit}-byte cap")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise error(413, "invalid_request", f"the body is over the {limit}-byte cap")
    return bytes(body)


async def message_lines(job: SyncJob) -> AsyncIterator[bytes]:
    """Every line of the job's message log, live, until the run has ended and all were sent."""
    start = 0
    while True:
        chunk = job.log.read(start)
        if chunk.dropped:
            text = f"{chunk.dropped} earlier messages were dropped (the server keeps the newest ones)"
            yield dumps_line(messages.log("warn", text, {"dropped": chunk.dropped}))
        for line in chunk.lines:
            yield line
        start = chunk.next
        if chunk.closed:
            return
        if not chunk.lines:
            await asyncio.sleep(POLL_SECONDS)


def html(body: str, status: int) -> HTMLResponse:
    """A page with a strict content security policy: its one inline script runs by nonce, nothing loads
    from elsewhere, and it cannot be framed."""
    nonce = secrets.token_urlsafe(16)
    return HTMLResponse(body.replace("{nonce}", nonce), status_code=status, headers={
        "Content-Security-Policy": f"default-src 'none'; script-src 'nonce-{nonce}'; style-src "
                                   f"'nonce-{nonce}'; connect-src 'self'; form-action 'self'; "
                                   "frame-ancestors 'none'; base-uri 'none'",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

