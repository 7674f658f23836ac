"""Every list in the API as a file: `GET <list>?format=csv` or `?format=xlsx` (issue 14, item 8;
docs/exports.md).

One mechanism for every list, in three parts:

- `Exports`, an ASGI middleware, takes `format` off the query and calls the app itself for the
  list's JSON, as many times as it takes to page through it with the route's own `limit` and
  `offset` (the caller's `limit` and `offset` are dropped: a file holds every row matching the
  filters, not a page). Each call is an ordinary request with the caller's credentials, so the
  route's role check, the customer portal's narrowing and an engineer's own-orders view apply
  exactly as for the JSON, and any answer but 200 (401, 403, 404, 422 …) is passed on as it
  came. The rows are then written as CSV or XLSX (api/export_files.py), named
  `<resource>-<UTC date>.<format>`.
- `export_gate`, an app-wide dependency, runs inside the first of those calls once the route is
  known and before it does any work: an endpoint whose answer is not a list is refused (422
  naming `format`), and a list's shape (row model, paging parameters) is handed back to the
  middleware.
- `document` adds the `format` parameter and the two file types to every list operation of
  the OpenAPI document.

A list is a GET endpoint answering `{"data": [...], …}` (the XsPublic(data, count) family;
other fields of the envelope, such as totals, are not in the file) or a bare JSON array.

`format` is a query parameter rather than an Accept header so that a plain link downloads a
file (the console's login is a cookie, and links cannot set headers), the URL says what it
gives, and the JSON clients that send `Accept: application/json` are never affected.

At most MAX_ROWS rows: above that (by the list's `count`, or by the rows read) the export is
refused with a 422 that says how many match. Pages are separate reads, not one snapshot: a
row written while an export pages through may be missed or appear twice.
"""
from __future__ import annotations

import json
import re
import types
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Union, get_args, get_origin
from urllib.parse import unquote_plus

import anyio
from annotated_types import Le
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from api.export_files import Column, columns_from_rows, columns_of, kind_of, to_csv, to_xlsx
from pilecare.errors import InvalidInput

MEDIA = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
MAX_ROWS = 100_000
# Rows per call while paging: the route's own largest limit, but no more than this, so no one
# call holds more than a few MB of JSON.
PAGE_ROWS = 10_000
MARK = "pilecare.export"  # the scope key through which the gate hands the list's shape back
DROPPED = {"format", "limit", "offset"}


@dataclass(frozen=True)
class ListShape:
    """What makes a route's answer a list, read from the route once."""

    enveloped: bool  # rows under "data"; else the answer is the array itself
    row_types: tuple[Any, ...]  # several when "data" is a union of lists (telemetry points or buckets)
    default_limit: int | None  # the route's own page size; None: it takes no limit
    largest_limit: int | None
    pages: bool  # takes an offset as well: paged through

    def columns(self, rows: list[Any]) -> list[Column]:
        row_type = self.row_types[0]
        if len(self.row_types) > 1 and rows and isinstance(rows[0], dict):
            keys = set(rows[0])
            row_type = next((t for t in self.row_types if isinstance(t, type) and issubclass(t, BaseModel)
                             and {c.path[0] for c in columns_of(t)} == keys), row_type)
        if isinstance(row_type, type) and issubclass(row_type, BaseModel):
            return columns_of(row_type)
        if row_type is dict or get_origin(row_type) is dict or row_type is Any:
            return columns_from_rows(rows)
        return [Column(("value",), kind_of(row_type))]

    @property
    def page_rows(self) -> int | None:
        if self.default_limit is None:
            return None
        return min(self.largest_limit or PAGE_ROWS, PAGE_ROWS)


def _row_types(model: Any) -> tuple[bool, tuple[Any, ...]] | None:
    """(enveloped, row types) of a response model that is a list; None for anything else."""
    if get_origin(model) is list:
        return False, (get_args(model) or (Any,))[:1]
    if not (isinstance(model, type) and issubclass(model, BaseModel)) or "data" not in model.model_fields:
        return None
    data = model.model_fields["data"].annotation
    lists = get_args(data) if get_origin(data) in (Union, types.UnionType) else (data,)
    if not lists or any(get_origin(t) is not list for t in lists):
        return None
    return True, tuple((get_args(t) or (Any,))[0] for t in lists)


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


_UNKNOWN = object()


def shape_of(route: APIRoute) -> ListShape | None:
    """The list shape of a GET route, or None when its answer is not a list (read once, kept
    on the route: an id-keyed cache would mix up the routes of apps made and dropped in turn)."""
    shape = route.__dict__.get("pilecare_list_shape", _UNKNOWN)
    if shape is _UNKNOWN:
        shape = _read_shape(route)
        route.__dict__["pilecare_list_shape"] = shape
    return shape


def _read_shape(route: APIRoute) -> ListShape | None:
    found = _row_types(route.response_model) if "GET" in route.methods else None
    if found is None:
        return None
    params = {f.alias: f for d in _dependants(route.dependant) for f in d.query_params}
    limit = params.get("limit")
    default = limit.field_info.default if limit is not None else None
    largest = next((m.le for m in limit.field_info.metadata if isinstance(m, Le)), None) if limit else None
    default = default if isinstance(default, int) else None
    return ListShape(found[0], found[1], default, largest if isinstance(largest, int) else None,
                     "offset" in params and default is not None)


async def export_gate(request: Request) -> None:
    """The app-wide dependency: inside an export's call, refuse a route whose answer is not a
    list (InvalidInput, 422, before the route does anything) and hand the list's shape to the
    middleware; outside an export, nothing."""
    mark = request.scope.get(MARK)
    if mark is None:
        return
    route = request.scope.get("route")
    shape = shape_of(route) if isinstance(route, APIRoute) else None
    if shape is None:
        raise InvalidInput(f"format: {request.method} {request.url.path} does not answer a list; only lists "
                           f"are exported as CSV or XLSX (docs/exports.md)")
    mark["shape"] = shape


# --- the middleware ---------------------------------------------------------------------------

@dataclass
class _Answer:
    status: int = 0
    headers: list | None = None
    body: bytearray | None = None


async def _send_json(send, status: int, detail: str) -> None:
    body = json.dumps({"error": "invalid_input", "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _replay(send, answer: _Answer) -> None:
    await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers or []})
    await send({"type": "http.response.body", "body": bytes(answer.body or b"")})


def _parts(query_string: bytes) -> list[tuple[str, bytes]]:
    """The query's parameters as (decoded name, raw `name=value` part), raw parts kept as sent."""
    parts = []
    for raw in query_string.split(b"&"):
        if raw:
            parts.append((unquote_plus(raw.split(b"=", 1)[0].decode("latin-1")), raw))
    return parts


def _rows(body: bytes, shape: ListShape) -> tuple[list[Any], int | None]:
    document = json.loads(body)
    if not shape.enveloped:
        return document, None
    count = document.get("count")
    return document.get("data") or [], count if isinstance(count, int) and not isinstance(count, bool) else None


def _too_many(rows: int) -> str:
    matching = "1 row matches" if rows == 1 else f"{rows:,} rows match"
    return (f"format: {matching}; an export holds at most {MAX_ROWS:,}. Narrow the filters "
            f"(docs/exports.md)")


class Exports:
    """ASGI middleware: `format=csv|xlsx` on a GET list (module docstring)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "GET" or b"format" not in scope.get("query_string", b""):
            await self.app(scope, receive, send)
            return
        parts = _parts(scope["query_string"])
        asked = [raw.split(b"=", 1)[1] if b"=" in raw else b"" for name, raw in parts if name == "format"]
        if not asked:
            await self.app(scope, receive, send)
            return
        fmt = unquote_plus(asked[0].decode("latin-1"))
        if len(asked) > 1 or fmt not in MEDIA:
            await _send_json(send, 422, f"format: {' or '.join(MEDIA)}, once; got "
                                        f"{', '.join(repr(unquote_plus(a.decode('latin-1'))) for a in asked)}")
            return
        await self._export(scope, receive, send, fmt, [raw for name, raw in parts if name not in DROPPED])

    async def _call(self, scope, receive, query: list[bytes], mark: dict) -> _Answer:
        # The caller's own request with another query: same path, headers and credentials.
        child = {key: dict(value) if isinstance(value, dict) else value for key, value in scope.items()}
        child["query_string"] = b"&".join(query)
        child[MARK] = mark
        answer = _Answer(body=bytearray())
        given = False

        async def no_body():
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return await receive()  # waits for the client to go away

        async def keep(message):
            if message["type"] == "http.response.start":
                answer.status, answer.headers = message["status"], list(message.get("headers") or [])
            elif message["type"] == "http.response.body":
                answer.body += message.get("body", b"")

        await self.app(child, no_body, keep)
        return answer

    async def _export(self, scope, receive, send, fmt: str, filters: list[bytes]) -> None:
        mark: dict = {}
        first = await self._call(scope, receive, filters, mark)
        shape: ListShape | None = mark.get("shape")
        if first.status != 200:
            await _replay(send, first)
            return
        if shape is None:  # a page or a file the gate never saw (the console's, the docs')
            await _send_json(send, 422, f"format: GET {scope['path']} does not answer a list; only lists are "
                                        f"exported as CSV or XLSX (docs/exports.md)")
            return
        rows, count = await anyio.to_thread.run_sync(_rows, bytes(first.body), shape)
        if count is not None and count > MAX_ROWS:
            await _send_json(send, 422, _too_many(count))
            return
        page, asked = shape.page_rows, shape.default_limit
        if shape.pages:
            last = len(rows)
            while last == asked and (count is None or len(rows) < count) and len(rows) <= MAX_ROWS:
                answer = await self._call(scope, receive, [*filters, f"limit={page}".encode(),
                                                           f"offset={len(rows)}".encode()], mark)
                if answer.status != 200:
                    await _replay(send, answer)
                    return
                more, _ = await anyio.to_thread.run_sync(_rows, bytes(answer.body), shape)
                rows += more
                last, asked = len(more), page
        elif asked is not None and len(rows) == asked and page > asked:
            # A list without an offset (its newest or worst N): ask once more for as many as it gives.
            answer = await self._call(scope, receive, [*filters, f"limit={page}".encode()], mark)
            if answer.status != 200:
                await _replay(send, answer)
                return
            rows, _ = await anyio.to_thread.run_sync(_rows, bytes(answer.body), shape)
        if len(rows) > MAX_ROWS:
            await _send_json(send, 422, _too_many(len(rows)))
            return
        resource = re.sub(r"[^A-Za-z0-9._-]+", "-", scope["path"].strip("/")).strip("-.") or "export"
        columns = shape.columns(rows)
        body = await anyio.to_thread.run_sync(
            (lambda: to_csv(columns, rows)) if fmt == "csv" else (lambda: to_xlsx(columns, rows, resource)))
        filename = f"{resource}-{datetime.now(timezone.utc).date().isoformat()}.{fmt}"
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", MEDIA[fmt].encode()), (b"content-length", str(len(body)).encode()),
            (b"content-disposition", f'attachment; filename="{filename}"'.encode()),
            # What a list holds is confidential (R-INFO): no shared cache keeps a copy.
            (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]})
        await send({"type": "http.response.body", "body": body})


# --- OpenAPI --------------------------------------------------------------------------------

FORMAT_PARAMETER = {
    "name": "format", "in": "query", "required": False,
    "description": "Answer with the whole list as a file instead of one page of JSON: every row matching the other "
                   "filters (limit and offset are ignored), at most 100,000 (docs/exports.md).",
    "schema": {"type": "string", "enum": list(MEDIA)},
}


def document(app: FastAPI) -> None:
    """Declare `format` and the two file types on every list operation of the app's OpenAPI."""
    plain = app.openapi

    def openapi() -> dict:
        doc = plain()
        for context in iter_route_contexts(app.router.routes):
            route = context.original_route
            if not isinstance(route, APIRoute) or not route.include_in_schema or shape_of(route) is None:
                continue
            operation = doc.get("paths", {}).get(context.path, {}).get("get")
            if operation is None or any(p.get("name") == "format" for p in operation.get("parameters", [])):
                continue
            operation.setdefault("parameters", []).append(dict(FORMAT_PARAMETER))
            content = operation.setdefault("responses", {}).setdefault("200", {}).setdefault("content", {})
            content["text/csv"] = {"schema": {"type": "string"}}
            content[MEDIA["xlsx"]] = {"schema": {"type": "string", "format": "binary"}}
        return doc

    app.openapi = openapi
