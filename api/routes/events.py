"""The console's live feed: outbox events as server-sent events (text/event-stream).

Each event's `id:` is its outbox id, so a reconnecting EventSource resumes after the last
one it saw (Last-Event-ID; `?after=` does the same for other clients). Engineers see only
events for themselves; every other role sees all of them except notices addressed to a
role, which only that role and those above it see (maintenance/outbox/notices.py).
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Annotated

import anyio
import psycopg
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from psycopg.rows import tuple_row

from api.auth import CurrentUser, Role, User
from maintenance.outbox.notices import readable_by
from maintenance.outbox.transports import envelope
from pilecare.db import TXID_HORIZON
from pilecare.errors import Forbidden

router = APIRouter(tags=["events"])

# Each open stream costs one short query a second; a console has a handful open.
POLL_S = 1.0
# Proxies and load balancers close connections idle for 30–60 s; a comment keeps it open.
HEARTBEAT_S = 15.0
# How often an open stream checks that its account is still active (a deactivated account
# is locked out at once, streams included) and its token still valid.
RECHECK_S = 5.0
BATCH = 200


# Rows of transactions older than every one still running (pilecare/db.py).
_HORIZON = TXID_HORIZON


def _start(conn: psycopg.Connection, after: int | None) -> tuple[str, int, int]:
    """The stream's cursor (txid, id) and an id floor.

    Rows are read in (txid, id) order and only from transactions older than every one
    still running here (_HORIZON), so a row that commits late behind a higher id is still sent (see
    0009_deliveries.sql). Without `after` the stream starts at the present.
    """
    cur = conn.cursor(row_factory=tuple_row)
    if after is None:
        horizon = cur.execute(f"SELECT ({_HORIZON})::text").fetchone()[0]
        return horizon, 0, 0
    row = cur.execute("SELECT txid::text FROM outbox WHERE id = %s", (after,)).fetchone()
    if row is None:
        return "0", 0, after  # an id we do not have: everything above it
    return row[0], after, 0


def _fetch(conn: psycopg.Connection, cursor: tuple[str, int, int], engineer_id: str | None, roles: list[str],
           limit: int) -> list:
    """The next rows for a reader: only `engineer_id`'s when given; of the rows addressed
    to a role (notices), only those to one of `roles`."""
    txid, last_id, floor = cursor
    return conn.cursor(row_factory=tuple_row).execute(
        "SELECT txid::text, id, event, at, payload, work_order_id, engineer_id, customer_id FROM outbox "
        f"WHERE (txid, id) > (%s::xid8, %s) AND id > %s AND txid < {_HORIZON} "
        "AND (%s::text IS NULL OR engineer_id = %s) AND (role IS NULL OR role = ANY(%s)) "
        "ORDER BY txid, id LIMIT %s",
        (txid, last_id, floor, engineer_id, engineer_id, roles, limit)).fetchall()


def _format(row) -> str:
    _, id_, event, at, payload, work_order_id, engineer_id, customer_id = row
    body = envelope(id_, event, at, payload, work_order_id=work_order_id, engineer_id=engineer_id,
                    customer_id=customer_id)
    return f"id: {id_}\nevent: {event}\ndata: {json.dumps(body, default=str, separators=(',', ':'))}\n\n"


def _active(conn: psycopg.Connection, user_id: str, role: str) -> bool:
    # A changed role ends the stream too: what it may see (notices) was chosen by the old one.
    return conn.execute("SELECT 1 FROM users WHERE id = %s AND active AND role = %s",
                        (user_id, role)).fetchone() is not None


async def _stream(request: Request, user: User, engineer_id: str | None, after: int | None, limit: int | None,
                  timeout: float | None) -> AsyncIterator[str]:
    pool = request.app.state.pool

    def run(fn, *args):
        # The pool is synchronous: borrow a connection for one query on a worker thread,
        # so an open stream holds no connection while it waits.
        def call():
            with pool.connection() as conn:
                return fn(conn, *args)
        return anyio.to_thread.run_sync(call)

    roles = readable_by(user.role.value)
    cursor = await run(_start, after)
    deadline = None if timeout is None else time.monotonic() + timeout
    sent, quiet_since, checked = 0, time.monotonic(), time.monotonic()
    expires = getattr(request.state, "token_expires", None)
    yield "retry: 3000\n\n"  # EventSource: reconnect after 3 s
    while not await request.is_disconnected():
        if time.monotonic() - checked >= RECHECK_S:
            checked = time.monotonic()
            expired = expires is not None and datetime.now(timezone.utc) >= expires
            if expired or not await run(_active, user.id, user.role.value):
                return  # the browser reconnects, and is refused if it has no valid login
        rows = await run(_fetch, cursor, engineer_id, roles, BATCH if limit is None else min(BATCH, limit - sent))
        for row in rows:
            yield _format(row)
            cursor, sent, quiet_since = (row[0], row[1], cursor[2]), sent + 1, time.monotonic()
            if limit is not None and sent >= limit:
                return
        if len(rows) == BATCH:
            continue  # a backlog: no pause
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return
        if now - quiet_since >= HEARTBEAT_S:
            yield ": keep-alive\n\n"
            quiet_since = now
        pause = POLL_S if deadline is None else min(POLL_S, deadline - now)
        await asyncio.sleep(max(0.0, pause))


@router.get("/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "A stream of server-sent events."}})
async def events(request: Request, user: CurrentUser,
                 after: Annotated[int | None, Query(ge=0, description="Resume after this event id.")] = None,
                 limit: Annotated[int | None, Query(ge=1, le=10_000, description="Close after N events.")] = None,
                 timeout: Annotated[float | None, Query(gt=0, le=3600, description="Close after S seconds.")] = None,
                 last_event_id: Annotated[str | None, Header()] = None):
    """Outbox events as they are committed: `id:` outbox id, `event:` its name, `data:` the
    same JSON webhooks carry. Without `after` or Last-Event-ID it starts at the present.
    Engineers get only their own events; notices go to their role and those above it."""
    engineer_id = None
    if user.role == Role.ENGINEER:
        if user.engineer_id is None:
            raise Forbidden("your account is not linked to an engineer")
        engineer_id = user.engineer_id
    # An EventSource's reconnect carries Last-Event-ID, newer than the ?after= in its URL.
    if last_event_id and last_event_id.strip().isdigit():
        after = int(last_event_id.strip())
    return StreamingResponse(_stream(request, user, engineer_id, after, limit, timeout),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
