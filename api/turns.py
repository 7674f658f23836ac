"""Requests take turns for the database before they take a worker thread.

The API runs its sync routes and dependencies on a pool of worker threads (anyio's, 40) and
a request holds a database connection from the pool (DB_CONNECTIONS) while it runs. With more
requests in flight than connections, threads blocked waiting for a connection could starve
the requests that hold one of the thread they need next, until the pool's timeout turned
them into 500s (found by a review of issue 12: 60 clients at once, 40 of them answered 500
after 30 s). So at most DB_TURNS requests at a time go past this point: each of them is sure
to get a connection (at most two at once each, auth's lookup and the route's, so
DB_CONNECTIONS ≥ DB_TURNS + 1 keeps every turn moving) and a thread; the others wait here, in
the event loop, holding neither.

The console's and the app's files and the long-lived event stream (which borrows a
connection only for each short poll) need no turn.
"""
from __future__ import annotations

import asyncio

DB_CONNECTIONS = 10
DB_TURNS = 8
# Files only: no database behind them (`/app/session` and `/` look up the login: they take turns).
_NO_TURN = ("/console/", "/app/static/", "/app/sw.js", "/app/manifest.webmanifest", "/docs", "/redoc", "/openapi.json")


class DatabaseTurns:
    """ASGI middleware: at most `turns` HTTP requests at a time (module docstring)."""

    def __init__(self, app, turns: int = DB_TURNS):
        self.app, self.turns = app, turns
        self.slots: asyncio.Semaphore | None = None  # made in the server's event loop

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or path == "/events" or path.startswith(_NO_TURN):
            await self.app(scope, receive, send)
            return
        if self.slots is None:
            self.slots = asyncio.Semaphore(self.turns)
        async with self.slots:
            await self.app(scope, receive, send)
