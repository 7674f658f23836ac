"""The API's reference pages, `/docs` (Swagger UI) and `/redoc` (ReDoc), working offline.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so on a machine without internet
they stay blank. These are the same pages with every file served by the app from the npm
packages installed next to the console's (api/console/package.json: swagger-ui-dist, redoc;
`npm ci` in scripts/venv.sh and the Dockerfile), under `/docs/assets/`: nothing leaves the
origin, and their versions move with npm, never pasted in by hand.

Each page also goes out with a Content-Security-Policy that admits only this origin, so a
file that tries to reach further is refused by the browser before a request leaves: ReDoc's
sidebar footer shows a logo from cdn.redoc.ly, which this refuses (ReDoc then hides it).
"""
from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response

from pilecare.errors import NotFound

router = APIRouter(include_in_schema=False)

NODE_MODULES = Path(__file__).resolve().parent.parent / "console" / "node_modules"
ASSETS = "/docs/assets"
# Public name → (file inside node_modules, media type). Only these leave the package directory.
FILES = {
    "swagger-ui-bundle.js": ("swagger-ui-dist/swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": ("swagger-ui-dist/swagger-ui.css", "text/css"),
    "favicon.png": ("swagger-ui-dist/favicon-32x32.png", "image/png"),
    "redoc.standalone.js": ("redoc/bundles/redoc.standalone.js", "text/javascript"),
}
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
# FastAPI's pages start Swagger UI with an inline script, admitted by its hash; both UIs
# style elements inline; ReDoc runs its search in a worker made from a blob.
_CSP = ("default-src 'self'; script-src 'self' {scripts}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "worker-src 'self' blob:; connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _same_origin_only(page: HTMLResponse) -> HTMLResponse:
    scripts = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
                       for body in _INLINE_SCRIPT.findall(page.body.decode()))
    page.headers["Content-Security-Policy"] = _CSP.format(scripts=scripts)
    page.headers["X-Content-Type-Options"] = "nosniff"
    return page


def _root(request: Request) -> str:
    # Behind a proxy that mounts the app under a prefix, every URL in the page needs it too.
    return request.scope.get("root_path", "").rstrip("/")


@router.get("/docs")
def swagger_ui(request: Request) -> Response:
    app, root = request.app, _root(request)
    return _same_origin_only(get_swagger_ui_html(
        openapi_url=root + app.openapi_url, title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS}/favicon.png", oauth2_redirect_url=root + OAUTH2_REDIRECT,
        init_oauth=app.swagger_ui_init_oauth,
        # Swagger UI would otherwise ask validator.swagger.io to check the schema.
        swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None}))


@router.get(OAUTH2_REDIRECT)
def swagger_ui_oauth2_redirect() -> Response:
    return _same_origin_only(get_swagger_ui_oauth2_redirect_html())


@router.get("/redoc")
def redoc(request: Request) -> Response:
    app, root = request.app, _root(request)
    return _same_origin_only(get_redoc_html(
        openapi_url=root + app.openapi_url, title=f"{app.title} - ReDoc",
        redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js", redoc_favicon_url=f"{root}{ASSETS}/favicon.png", with_google_fonts=False))


@router.get(ASSETS + "/{name}")
def asset(name: str) -> Response:
    if name not in FILES:
        raise NotFound(f"no documentation file {name!r}")
    relative, media_type = FILES[name]
    path = NODE_MODULES / relative
    if not path.is_file():
        # Installed at setup; say so rather than serve a blank page.
        return PlainTextResponse(f"{relative} is not installed: run `npm ci --prefix api/console`", status_code=503)
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "public, max-age=3600",
                                                               "X-Content-Type-Options": "nosniff"})
