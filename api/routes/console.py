"""The operator console: a single-page app of plain ES modules served by the API process.

`/` is the console for a logged-in browser and the login page otherwise; `/console/...`
serves its scripts and stylesheets; `/console/vendor/...` serves the few third-party files
it needs straight out of the npm package installed at setup (api/console/node_modules), so
the console works offline and its libraries are updated with npm, never pasted in by hand.
Every page goes out with a strict Content-Security-Policy: same-origin scripts, styles and
connections only, no inline script.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response

from api.auth import current_user
from api.pages import HEADERS, TYPES
from pilecare.errors import NotFound, Unauthorized

router = APIRouter(include_in_schema=False)

ROOT = Path(__file__).resolve().parent.parent / "console"
STATIC = ROOT / "static"
NODE_MODULES = ROOT / "node_modules"

# Public name → file inside node_modules. Only these leave the package directory.
VENDOR = {
    "chart.umd.min.js": "chart.js/dist/chart.umd.min.js",
}

_HEADERS = HEADERS
_TYPES = {suffix: TYPES[suffix] for suffix in (".js", ".css", ".svg", ".png", ".ico")}


def _page(name: str) -> FileResponse:
    # no-cache: a browser revalidates the shell, so a deploy never runs old scripts against a new API.
    return FileResponse(ROOT / name, media_type="text/html", headers=_HEADERS | {"Cache-Control": "no-cache"})


def _logged_in(request: Request) -> bool:
    try:
        current_user(request, None)
    except Unauthorized:
        return False
    return True


@router.get("/")
def console(request: Request) -> Response:
    if not _logged_in(request):
        return RedirectResponse("/login", status_code=303)
    return _page("index.html")


@router.get("/login")
def login_page() -> Response:
    return _page("login.html")


@router.get("/console/vendor/{name}")
def vendor(name: str) -> Response:
    if name not in VENDOR:
        raise NotFound(f"no vendored file {name!r}")
    path = NODE_MODULES / VENDOR[name]
    if not path.is_file():
        # Installed at setup (scripts/venv.sh, the Dockerfile); say so rather than break quietly.
        return PlainTextResponse(f"{VENDOR[name]} is not installed: run `npm ci --prefix api/console`",
                                 status_code=503)
    return FileResponse(path, media_type=_TYPES[".js"], headers=_HEADERS | {"Cache-Control": "public, max-age=3600"})


@router.get("/console/{path:path}")
def static(path: str) -> Response:
    file = (STATIC / path).resolve()
    if not file.is_relative_to(STATIC) or not file.is_file() or file.suffix not in _TYPES:
        raise NotFound(f"no console file {path!r}")
    return FileResponse(file, media_type=_TYPES[file.suffix], headers=_HEADERS | {"Cache-Control": "no-cache"})
