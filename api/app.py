"""The HTTP API (FastAPI; OpenAPI at /docs)."""
from __future__ import annotations

import re
from contextlib import asynccontextmanager
from http import HTTPStatus

import psycopg
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from api.auth import ANYONE, require, secret_key
from api.body_limit import BodyLimit
from api.customer_scope import gate
from api.deps import check_request
from api.exports import Exports, document, export_gate
from api.turns import DB_CONNECTIONS, DatabaseTurns
from api.models import ErrorPublic
from api.routes import (alarms, complaints, console, customers, dispatch, docs, engineer_app, engineers, events,
                        field, fleet, follow_ups, health, ingest, kpis, maintenance, overview, piles, registry,
                        quarantine, requests, rules, search, uptime, users, webhooks, windows, work_orders)
from api.routes import budgets, costs, parts, purchasing, reorder, reports, stock, stock_takes, suppliers
from api.routes import device_credentials
from maintenance import policy as policies
from maintenance.dispatch import matching
from pilecare.db import pool
from pilecare.errors import PilecareError, TooManyRequests, Unauthorized
from pilecare.settings import Settings, get_settings


# Declared on every operation, so the OpenAPI document says what an error looks like: FastAPI's
# own 422 schema (a list of pydantic errors) is not what this API sends.
ERROR_RESPONSES = {
    422: {"model": ErrorPublic, "description": "Invalid input; `detail` names the field."},
    "default": {"model": ErrorPublic, "description": "Any other error (401, 403, 404, 409, 415, 429)."},
}

_KEY = re.compile(r"Key \((?P<field>[^)]+)\)=\((?P<value>.*)\)")


def database_error(error: psycopg.Error) -> tuple[int, str, str]:
    """The 4xx for a database refusal the route did not foresee: (status, error code, detail).

    The edges (pydantic models, bounded parameters, check_request) catch bad input first; this
    is the net under them, so an input nobody thought of is still a 4xx naming the field when
    PostgreSQL names it (the key of a foreign-key or unique violation, the column of a NOT NULL,
    the constraint of a CHECK). Errors of the server itself (class 08 connection, 53 resources,
    57 operator intervention) are not the caller's fault and stay 5xx.
    """
    diag = error.diag
    key = _KEY.match(diag.message_detail or "")
    if isinstance(error, psycopg.errors.ForeignKeyViolation) and key:
        table = (diag.message_detail or "").rsplit("table ", 1)[-1].strip('".')
        return 422, "invalid_input", f"{key['field']}: {key['value']!r} does not exist (no such {table} record)"
    if isinstance(error, psycopg.errors.UniqueViolation):
        field = key["field"] if key else (diag.constraint_name or "value")
        return 409, "conflict", f"{field}: {key['value']!r} is taken already" if key else f"{field}: exists already"
    if isinstance(error, psycopg.errors.NotNullViolation):
        return 422, "invalid_input", f"{diag.column_name}: required"
    if isinstance(error, psycopg.errors.CheckViolation):
        field = (diag.constraint_name or "value").removeprefix(f"{diag.table_name}_").removesuffix("_check")
        return 422, "invalid_input", f"{field}: not allowed ({diag.message_primary})"
    if isinstance(error, psycopg.IntegrityError):
        return 409, "conflict", diag.message_primary or str(error)
    if isinstance(error, psycopg.DataError):
        # Out of range, too long, NUL in text, a malformed value: the input, never the server.
        field = diag.column_name
        message = diag.message_primary or str(error)
        return 422, "invalid_input", f"{field}: {message}" if field else f"a value in the request: {message}"
    raise error


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.pool = pool(settings, min_size=1, max_size=DB_CONNECTIONS, name="pilecare-api")
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
        # export_gate after check_request: an export's calls reach it with `format` already taken off.
        dependencies=[Depends(check_request), Depends(export_gate)],
    )
    app.state.settings = settings
    app.add_middleware(DatabaseTurns)  # no more requests at the database than it has connections (api/turns.py)
    app.add_middleware(BodyLimit)  # no body over 6 MiB, with or without a Content-Length (api/body_limit.py)
    # Outermost: an export's every page is an ordinary request, taking its own database turn.
    app.add_middleware(Exports)  # ?format=csv|xlsx on any list (api/exports.py)
    document(app)
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
            f"{'.'.join(str(p) for p in e['loc'] if p not in ('query', 'body', 'path', 'header')) or 'body'}: "
            f"{e['msg']}"
            for e in error.errors()
        ]
        return JSONResponse(status_code=422, content={"error": "invalid_input", "detail": "; ".join(problems)})

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):
        # Starlette's own answers (no such route, method not allowed) in the same shape as ours.
        if error.status_code == 404 and error.detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path}"
        elif error.status_code == 405:
            # Starlette's Allow header names only the first route on the path; name them all.
            allowed = sorted({method.upper() for template, operations in request.app.openapi()["paths"].items()
                              if compile_path(template)[0].match(request.url.path) for method in operations})
            detail = f"{request.method} is not allowed here; allowed: {', '.join(allowed)}"
        else:
            detail = str(error.detail)
        code = HTTPStatus(error.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
        return JSONResponse(status_code=error.status_code, content={"error": code, "detail": detail},
                            headers=error.headers)

    @app.exception_handler(psycopg.Error)
    async def refused_by_database(request: Request, error: psycopg.Error):
        status, code, detail = database_error(error)
        return JSONResponse(status_code=status, content={"error": code, "detail": detail})

    # Health and logging in are public; everything else needs a logged-in user, and each
    # router narrows that to the roles its endpoints are for (see docs/roles.md). A customer
    # account passes only the routes marked for the portal (api/customer_scope.py).
    # The console's pages check the login themselves: `/` shows the login page to a stranger.
    app.include_router(console.router, responses=ERROR_RESPONSES)
    app.include_router(engineer_app.router, responses=ERROR_RESPONSES)
    app.include_router(health.router, responses=ERROR_RESPONSES)
    app.include_router(docs.router, responses=ERROR_RESPONSES)
    app.include_router(users.router, responses=ERROR_RESPONSES)
    app.include_router(follow_ups.survey, responses=ERROR_RESPONSES)  # the customer's survey link: no login
    logged_in = [Depends(require(*ANYONE)), Depends(gate)]
    for module in (piles, registry, customers, fleet, overview, search, kpis, ingest, alarms, work_orders, field,
                   engineers, dispatch, rules, windows, maintenance, webhooks, events, uptime, requests, complaints,
                   follow_ups, quarantine, stock, reorder, stock_takes, costs, budgets, reports,
                   parts, suppliers, purchasing, device_credentials):
        app.include_router(module.router, dependencies=logged_in, responses=ERROR_RESPONSES)
    return app
