"""The HTTP API (FastAPI; OpenAPI at /docs)."""
from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.auth import ANYONE, require, secret_key
from api.routes import (alarms, console, dispatch, docs, engineers, events, field, fleet, health, ingest, kpis,
                        maintenance, overview, piles, registry, rules, search, uptime, users, webhooks, windows,
                        work_orders)
from maintenance import policy as policies
from maintenance.dispatch import matching
from pilecare.db import pool
from pilecare.errors import PilecareError, TooManyRequests, Unauthorized
from pilecare.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.pool = pool(settings, min_size=1, max_size=10, name="pilecare-api")
        try:
            yield
        finally:
            app.state.pool.close()

    app = FastAPI(
        title="pilecare",
        version="0.1.0",
        description="Maintenance platform for EV charging piles: fleet registry, telemetry and ingest health.",
        lifespan=lifespan,
        # /docs and /redoc come from api/routes/docs.py, which serves their scripts itself
        # (FastAPI's own pages load them from a CDN and stay blank offline).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    # The same files `pilecare maintenance` reads: one policy and one dispatch configuration
    # for every process.
    app.state.policy = policies.load(settings.policy_file)
    app.state.dispatch_config = matching.load(settings.dispatch_file)
    app.state.secret_key = secret_key(settings)

    @app.exception_handler(PilecareError)
    async def pilecare_error(request: Request, error: PilecareError):
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, Unauthorized) else None
        if isinstance(error, TooManyRequests):
            headers = {"Retry-After": str(error.retry_after_s)}
        return JSONResponse(status_code=error.status, content={"error": error.code, "detail": error.detail},
                            headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError):
        problems = [
            f"{'.'.join(str(p) for p in e['loc'] if p not in ('query', 'body', 'path'))}: {e['msg']}"
            for e in error.errors()
        ]
        return JSONResponse(status_code=422, content={"error": "invalid_input", "detail": "; ".join(problems)})

    # Health and logging in are public; everything else needs a logged-in user, and each
    # router narrows that to the roles its endpoints are for (see docs/roles.md).
    # The console's pages check the login themselves: `/` shows the login page to a stranger.
    app.include_router(console.router)
    app.include_router(health.router)
    app.include_router(docs.router)
    app.include_router(users.router)
    logged_in = [Depends(require(*ANYONE))]
    for module in (piles, registry, fleet, overview, search, kpis, ingest, alarms, work_orders, field, engineers, dispatch,
                   rules, windows, maintenance, webhooks, events, uptime):
        app.include_router(module.router, dependencies=logged_in)
    return app
