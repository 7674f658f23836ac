"""Dependency aliases shared by the routers."""
from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta
from collections.abc import Iterator
from typing import Annotated, Any, get_args

import psycopg
from fastapi import Depends, Query, Request, params
from fastapi.dependencies.models import Dependant
from psycopg.rows import dict_row, tuple_row

from gateway.commands import Downlink
from maintenance.dispatch.matching import DispatchConfig
from maintenance.policy import Policy
from pilecare.errors import InvalidInput, UnsupportedMediaType
from pilecare.settings import Settings


def get_conn(request: Request) -> Iterator[psycopg.Connection]:
    with request.app.state.pool.connection() as conn:
        yield conn


def get_plain_conn(request: Request) -> Iterator[psycopg.Connection]:
    """A connection with tuple rows, for the maintenance functions the routes call.

    Inside an idempotent action (api/idempotency.py) it is the connection holding the key's
    claim, so the action runs in the claim's transaction; that one is the idempotency layer's
    to return, and is left alone here."""
    borrowed = getattr(request.state, "idempotent_conn", None)
    if borrowed is not None:
        yield borrowed
        return
    with request.app.state.pool.connection() as conn:
        conn.row_factory = tuple_row
        try:
            yield conn
        finally:
            conn.row_factory = dict_row


def get_policy(request: Request) -> Policy:
    """The maintenance policy the app was started with (PILECARE_POLICY_FILE or the shipped one)."""
    return request.app.state.policy


def get_dispatch_config(request: Request) -> DispatchConfig:
    """The dispatch configuration the app was started with (PILECARE_DISPATCH_FILE or the shipped one)."""
    return request.app.state.dispatch_config


def get_downlink(request: Request) -> Downlink:
    """The API process's command link to the piles: one MQTT connection, opened on the first command."""
    state = request.app.state
    if getattr(state, "downlink", None) is None:
        state.downlink = Downlink(state.settings, f"pilecare-api-{os.getpid()}")
    return state.downlink


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


Conn = Annotated[psycopg.Connection, Depends(get_conn)]
PlainConn = Annotated[psycopg.Connection, Depends(get_plain_conn)]
PolicyDep = Annotated[Policy, Depends(get_policy)]
DispatchConfigDep = Annotated[DispatchConfig, Depends(get_dispatch_config)]
DownlinkDep = Annotated[Downlink, Depends(get_downlink)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


# --- What every request is checked for before a route sees it (issue 11, "no 5xx from any input") ---

# The widest integer PostgreSQL holds (bigint). Ids, counts and offsets beyond it are not
# records that could exist; psycopg would send them as numeric and LIMIT/OFFSET or an insert
# would fail with a 5xx. Routes bound their own parameters more tightly where a column is int.
BIGINT_MAX = 2**63 - 1
INT_MAX = 2**31 - 1

# Shared parameter aliases, bounded to what PostgreSQL holds.
Offset = Annotated[int, Query(ge=0, le=BIGINT_MAX, description="Rows to skip.")]

# PostgreSQL refuses UTC offsets from ±16 h (Python takes up to ±24 h).
MAX_UTC_OFFSET = timedelta(hours=16)
# Times outside these years are no pile's and no report's; near year 1 or 9999 a default
# range around them (30 days back, 90 ahead) would leave Python's calendar (OverflowError).
YEARS = (1900, 9000)

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _walk(sub)


def _is(annotation: Any, kind: type) -> bool:
    """Whether a parameter's annotation is `kind`, alone, optional or in a list."""
    if annotation is kind:
        return True
    return any(_is(arg, kind) for arg in get_args(annotation) if arg is not type(None))


def _check_value(name: str, value: str, annotation: Any) -> None:
    if "\x00" in value:
        raise InvalidInput(f"{name}: must not contain a NUL character")
    if _is(annotation, int):
        try:
            number = int(value)
        except ValueError:
            return  # not a number at all: the route's own validation says so
        if not -BIGINT_MAX - 1 <= number <= BIGINT_MAX:
            raise InvalidInput(f"{name}: {value} is beyond the largest number stored ({BIGINT_MAX})")
    elif _is(annotation, datetime):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return  # the route's own validation says what is wrong
        offset = moment.utcoffset()
        if offset is not None and abs(offset) >= MAX_UTC_OFFSET:
            raise InvalidInput(f"{name}: the UTC offset of {value} is beyond what PostgreSQL takes (±15:59)")
        if not YEARS[0] <= moment.year <= YEARS[1]:
            raise InvalidInput(f"{name}: give a time between the years {YEARS[0]} and {YEARS[1]}")


# Text PostgreSQL cannot store: NUL, and UTF-16 surrogates, which JSON's "\ud800" escape can
# produce alone but no UTF-8 encoding holds.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(text: str) -> str | None:
    """What in `text` PostgreSQL cannot store, for the error message; None if nothing."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return "a NUL character" if found.group() == "\x00" else f"a lone UTF-16 surrogate (\\u{ord(found.group()):04x})"


def _nul_in(value: Any, where: str) -> tuple[str, str] | None:
    """(path, what) of the first string in a parsed JSON value holding text PostgreSQL cannot store."""
    if isinstance(value, str):
        what = _unstorable(value)
        return (where, what) if what else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and _unstorable(key):
            return f"{where}.{key!r}", _unstorable(key)
        found = _nul_in(item, f"{where}.{key}")
        if found:
            return found
    return None


async def check_request(request: Request) -> None:
    """Refuse what no route could handle, naming the field (every route, before its own checks).

    - a query parameter the endpoint does not take: 422 (``customer_id: this endpoint takes no
      such parameter; it takes …``), so a filter that does not exist never silently returns
      everything;
    - a NUL character in a query or path parameter or anywhere in a JSON or form body: 422
      (PostgreSQL text cannot hold NUL);
    - an integer query or path parameter beyond PostgreSQL's bigint: 422;
    - a time in a query or path parameter with a UTC offset PostgreSQL refuses (±16 h and
      more) or so far from now that a range around it leaves Python's calendar: 422;
    - a body of the wrong media type: 415, saying whether the endpoint wants JSON or a form.

    Raises InvalidInput (422) or UnsupportedMediaType (415); both are answered as
    ``{"error": …, "detail": …}`` by the app's error handler.
    """
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    query = {f.alias: f for d in _walk(dependant) for f in d.query_params}
    path = {f.alias: f for d in _walk(dependant) for f in d.path_params}
    unknown = sorted(set(request.query_params) - set(query))
    if unknown:
        takes = ", ".join(sorted(query)) or "none"
        raise InvalidInput(f"{unknown[0]}: this endpoint takes no such query parameter; it takes: {takes}")
    for values, fields in ((request.query_params.multi_items(), query), (request.path_params.items(), path)):
        for name, value in values:
            _check_value(name, str(value), fields[name].field_info.annotation)
    await _check_body(request, [f for d in _walk(dependant) for f in d.body_params])


async def _check_body(request: Request, fields: list) -> None:
    if not fields or request.headers.get("content-length", "0") == "0" and "transfer-encoding" not in request.headers:
        return
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if any(isinstance(f.field_info, params.Form) for f in fields):
        names = ", ".join(f.alias for f in fields)
        # A file can only come in a multipart form (the phone's photo upload).
        wanted = ("multipart/form-data" if any(isinstance(f.field_info, params.File) for f in fields)
                  else "application/x-www-form-urlencoded")
        if content_type not in FORM_TYPES:
            raise UnsupportedMediaType(f"body: this endpoint wants a form (Content-Type: {wanted}) with the fields "
                                       f"{names}; got {content_type or 'no Content-Type'}")
        # FastAPI has parsed the form already (Starlette keeps it); the raw body is gone.
        for name, value in (await request.form()).multi_items():
            if "\x00" in name or (isinstance(value, str) and "\x00" in value):
                raise InvalidInput(f"{name.replace(chr(0), '')}: must not contain a NUL character")
        return
    # FastAPI reads a body without a Content-Type as JSON; any JSON subtype is JSON.
    if content_type and not (content_type == "application/json" or content_type.endswith("+json")):
        raise UnsupportedMediaType(f"body: this endpoint wants JSON (Content-Type: application/json); "
                                   f"got {content_type}")
    body = await request.body()
    # A NUL or a surrogate can only be in the parsed text if the raw text has a NUL or a \u escape.
    if b"\x00" in body or b"\\u" in body:
        try:
            parsed = json.loads(body)
        except ValueError:
            return  # not JSON: the route's own validation says so
        found = _nul_in(parsed, "body")
        if found:
            raise InvalidInput(f"{found[0].removeprefix('body.')}: must not contain {found[1]}")
