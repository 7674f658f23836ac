"""Idempotency keys for the engineer's actions (docs/field-api.md, "Retries"; issue 12, item 1).

A phone working offline queues its actions and sends them when it has a network again; it
may send one twice (the answer was lost, the app was killed before it noted the answer).
Every POST of a router built with `IdempotentRoute` takes an optional `Idempotency-Key`
header (1–200 characters, any text the phone chooses, e.g. a UUID per action):

- The first request with a key is applied, and its answer (status and JSON body) is kept
  against (user, key) with a fingerprint of the method, path and body, **in the action's own
  transaction**: the claim row is inserted first (INSERT … ON CONFLICT DO NOTHING), the
  action runs in a savepoint, and the answer is written before the one commit. So the
  action and its answer land together or not at all.
- A repeat (same user, key, path and body) applies nothing: it answers the kept status and
  body with `Idempotent-Replayed: true`.
- The same key with another path or body: 422 naming `Idempotency-Key`.
- 2xx and 4xx answers are kept (a refused action is refused the same way again, even if
  the order has moved on since); a 5xx is never kept: its claim is rolled back with it, so
  a retry runs the action afresh.
- Two requests with the same key at once: the second **waits** on the first's claim (the
  unique key's row lock) and then answers the first one's kept answer (or, if the first
  failed with a 5xx and was rolled back, is applied itself). It never answers 409.
- Keys are kept KEEP (7 days); an older key counts as unused. Each claim deletes the
  caller's own expired keys, so the table holds about a week of each user's actions without
  a scheduled job.

The fingerprint is over the parsed body, not its bytes: JSON with its keys sorted, and a
multipart form by field name and value (a file by its SHA-256), since a phone rebuilding a
queued photo upload sends a new multipart boundary each time.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Header, Request, Response
from fastapi.routing import APIRoute
from psycopg.rows import dict_row, tuple_row
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.auth import bearer_token, current_user
from pilecare.errors import InvalidInput, LengthRequired, PayloadTooLarge, PilecareError

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY = 200
KEEP = timedelta(days=7)
# The largest body an engineer's action takes: a 5 MiB photo and its form's few fields.
# Refused from Content-Length before anything is read (a larger upload never reaches memory);
# an upload without a Content-Length is refused (411).
MAX_BODY = 6 * 1024 * 1024


def idempotency_key(key: Annotated[str | None, Header(
        alias=HEADER, min_length=1, max_length=MAX_KEY,
        description="Optional. A repeat with the same key, path and body applies nothing and answers the first "
                    "answer again (header Idempotent-Replayed: true); see docs/field-api.md.")] = None) -> str | None:
    """The request's Idempotency-Key (declared on every idempotent operation, so /docs shows it)."""
    return key


IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]


class IdempotentRoute(APIRoute):
    """A route whose POSTs honour Idempotency-Key (module docstring); other methods as usual."""

    def __init__(self, path: str, endpoint: Callable, **kwargs: Any) -> None:
        if "POST" in (kwargs.get("methods") or ()):
            kwargs["dependencies"] = [Depends(idempotency_key), *(kwargs.get("dependencies") or [])]
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if "POST" not in self.methods:
            return handler

        async def idempotent(request: Request) -> Response:
            length = request.headers.get("content-length", "")
            if length.isdigit() and int(length) > MAX_BODY:
                raise PayloadTooLarge(f"body: {int(length)} bytes; an action takes at most {MAX_BODY // 2**20} MiB "
                                      "(a photo at most 5 MiB)")
            if not length and request.headers.get("content-type", "").startswith("multipart/"):
                # Without a length the limit could only be found by reading it all; every
                # browser's FormData upload sends one.
                raise LengthRequired("Content-Length: required for an upload")
            key = request.headers.get(HEADER)
            if key is None or not 1 <= len(key) <= MAX_KEY:
                return await handler(request)  # no key, or one the route's own validation refuses
            try:
                user = await run_in_threadpool(current_user, request, await bearer_token(request))
            except PilecareError:
                return await handler(request)  # not logged in: answered (401) and never kept
            fingerprint = await _fingerprint(request)
            if fingerprint is None:
                return await handler(request)  # a body that does not parse: the route says what is wrong
            return await _once(request, handler, user, key, fingerprint)

        return idempotent


async def _fingerprint(request: Request) -> str | None:
    digest = hashlib.sha256(f"{request.method} {request.url.path}?{request.url.query}\n".encode())
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        try:
            form = await request.form()
        except Exception:  # noqa: BLE001 - Starlette's parse errors vary; the route answers them
            return None
        fields = []
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                await value.seek(0)
                fields.append((name, "file:" + hashlib.sha256(await value.read()).hexdigest()))
                await value.seek(0)
            else:
                fields.append((name, value))
        digest.update(json.dumps(sorted(fields)).encode())
    else:
        try:
            digest.update(json.dumps(json.loads(body), sort_keys=True).encode() if body else b"")
        except (ValueError, RecursionError):  # not JSON, or nested too deep to parse: kept by its bytes
            digest.update(body)
    return digest.hexdigest()


class _Claim:
    """One key's claim on a borrowed connection: the outer transaction and the action's savepoint."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        self.outer = conn.transaction()
        self.action = None

    def claim(self, user_id: str, key: str, method: str, path: str, fingerprint: str) -> tuple | None:
        """None when this request holds the key now (the action may run); else the kept
        (method, path, fingerprint, status, body) of the request that holds it."""
        self.outer.__enter__()
        self.conn.execute("DELETE FROM idempotency_keys WHERE user_id = %s AND created_at < now() - %s",
                          (user_id, KEEP))
        # Waits here while another transaction holds the same key, then sees its answer.
        claimed = self.conn.execute(
            "INSERT INTO idempotency_keys (user_id, key, method, path, fingerprint) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (user_id, key) DO NOTHING RETURNING 1", (user_id, key, method, path, fingerprint)).fetchone()
        if claimed:
            self.action = self.conn.transaction()
            self.action.__enter__()
            return None
        return self.conn.execute("SELECT method, path, fingerprint, status_code, body FROM idempotency_keys "
                                 "WHERE user_id = %s AND key = %s", (user_id, key)).fetchone()

    def keep(self, user_id: str, key: str, error: BaseException | None, status: int, body: bytes) -> None:
        """End the action (rolled back if it raised) and keep its answer with the claim: one commit."""
        self.action.__exit__(type(error) if error else None, error, error.__traceback__ if error else None)
        self.conn.execute("UPDATE idempotency_keys SET status_code = %s, body = %s WHERE user_id = %s AND key = %s",
                          (status, body, user_id, key))
        self.outer.__exit__(None, None, None)

    def abandon(self, error: BaseException | None = None) -> None:
        """Roll back the claim and anything the action did (a 5xx, or a replay that changed nothing)."""
        error = error or _Abandon()
        if self.action is not None:
            try:
                self.action.__exit__(type(error), error, error.__traceback__)
            except BaseException:  # noqa: BLE001 - the outer rollback below undoes it all anyway
                pass
        self.outer.__exit__(type(error), error, error.__traceback__)


class _Abandon(Exception):
    """Raised into the transactions to roll them back."""


async def _once(request: Request, handler, user, key: str, fingerprint: str) -> Response:
    user_id = user.id
    pool = request.app.state.pool
    conn = await run_in_threadpool(pool.getconn)
    conn.row_factory = tuple_row
    claim = _Claim(conn)
    try:
        held = await run_in_threadpool(claim.claim, user_id, key, request.method, request.url.path, fingerprint)
        if held is not None:
            await run_in_threadpool(claim.abandon)
            return _replay(key, fingerprint, *held)
        # The route's PlainConn is this connection (api/deps.py, get_plain_conn), and its
        # user the one found here, so the action runs inside the claim's transaction and
        # needs no second connection while the key's row is locked.
        request.state.idempotent_conn = conn
        request.state.user = user
        error = None
        try:
            response = await handler(request)
        except Exception as raised:  # noqa: BLE001 - answered by the app's handlers below, or re-raised
            error = raised
            response = await _answer(request, raised)
            if response is None:
                await run_in_threadpool(claim.abandon, raised)
                raise
        if response.status_code >= 500 or not hasattr(response, "body"):
            await run_in_threadpool(claim.abandon, error)
            if error is not None:
                raise error
            return response
        await run_in_threadpool(claim.keep, user_id, key, error, response.status_code, bytes(response.body))
        return response
    except BaseException:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            await run_in_threadpool(claim.abandon)
        raise
    finally:
        request.state.idempotent_conn = None
        conn.row_factory = dict_row
        await run_in_threadpool(pool.putconn, conn)


def _replay(key: str, fingerprint_now: str, method: str, path: str, fingerprint: str, status: int | None,
            body: bytes | None) -> Response:
    kept_for = f"{method} {path}"
    if fingerprint != fingerprint_now or status is None:
        raise InvalidInput(f"{HEADER}: {key!r} was used for another request ({kept_for} with another body); "
                           "a new action needs a new key")
    return Response(content=bytes(body), status_code=status, media_type="application/json",
                    headers={REPLAYED: "true"})


async def _answer(request: Request, error: Exception) -> Response | None:
    """The answer the app's exception handlers give for `error`; None when none handles it
    or it is the server's fault (the database handler re-raises those)."""
    handlers = request.app.exception_handlers
    for kind in type(error).__mro__:
        if kind in handlers:
            try:
                return await handlers[kind](request, error)
            except Exception:  # noqa: BLE001 - a 5xx: not kept, the caller re-raises the original
                return None
    return None
