"""The engineer's app: a mobile-first web app (an installable PWA) for the field engineer's
phone, served by the API process from api/engineer/ — plain ES modules, no build step.

`/app/` is the app's shell for anyone: it shows its own login screen (the same
`/auth/token` login and cookie as the console) until the API answers `/auth/me`, so the
shell can be cached by the service worker and open without network. `/app/sw.js` is the
service worker (scope `/app/`), `/app/manifest.webmanifest` the web manifest, and
`/app/static/…` the scripts, stylesheet and icons. Every file goes out with the console's
strict Content-Security-Policy (api/pages.py). The app drives the field API
(docs/field-api.md); nothing here reads or writes the database.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from api.auth import current_user
from api.pages import HEADERS, TYPES
from pilecare.errors import NotFound, Unauthorized

router = APIRouter(include_in_schema=False)

ROOT = Path(__file__).resolve().parent.parent / "engineer"
STATIC = ROOT / "static"
# no-cache: the browser (and the service worker, which goes to the network first) revalidates
# every file, so a deploy never runs old scripts against a new API; offline, the cached copy serves.
_NO_CACHE = HEADERS | {"Cache-Control": "no-cache"}


def _file(path: Path) -> FileResponse:
    return FileResponse(path, media_type=TYPES[path.suffix], headers=_NO_CACHE)


@router.get("/app")
def app_redirect() -> Response:
    # The service worker's scope is /app/: the shell lives there, so it opens offline.
    return RedirectResponse("/app/", status_code=307)


@router.get("/app/")
def shell() -> Response:
    return _file(ROOT / "index.html")


@router.get("/app/sw.js")
def service_worker() -> Response:
    return _file(ROOT / "sw.js")


@router.get("/app/manifest.webmanifest")
def manifest() -> Response:
    return _file(ROOT / "manifest.webmanifest")


@router.get("/app/session")
def session(request: Request) -> dict:
    """{"user": {id, role, full_name, engineer_id} | null}: who the app's cookie belongs to,
    null when nobody is logged in — a 200 either way, so a phone opening the app logged
    out shows its login screen without a failed request in the browser's log."""
    try:
        user = current_user(request, None)
    except Unauthorized:
        return {"user": None}
    return {"user": {"id": user.id, "role": user.role.value, "full_name": user.full_name,
                     "engineer_id": user.engineer_id}}


@router.get("/app/static/{path:path}")
def static(path: str) -> Response:
    file = (STATIC / path).resolve()
    if not file.is_relative_to(STATIC) or not file.is_file() or file.suffix not in TYPES:
        raise NotFound(f"no app file {path!r}")
    return _file(file)
