"""`/docs` (Swagger UI) and `/redoc` (ReDoc) work on a machine without internet: every file
they load comes from the app itself (the npm packages swagger-ui-dist and redoc), and in a
real Chromium whose every request off this machine fails they still show every operation."""
from __future__ import annotations

import re
import time

import pytest

from simulators import browser as b
from simulators.inprocess import Server

PAGES = ("/docs", "/redoc")
# Anything that names another origin: a scheme, or a protocol-relative "//host".
FOREIGN = re.compile(r"""(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|["'(]//""", re.IGNORECASE)


def referenced(html: str) -> list[str]:
    """The URLs a page loads: src and href attributes, and the schema URL in its script."""
    found = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    found += re.findall(r"""(?:url|spec-url)\s*[:=]\s*["']([^"']+)["']""", html)
    return found


@pytest.mark.parametrize("page", PAGES)
def test_it_serves_the_reference_pages_with_only_same_origin_urls_that_all_answer(anonymous, page):
    response = anonymous.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert not FOREIGN.search(response.text), FOREIGN.search(response.text).group(0)
    urls = referenced(response.text)
    assert "/openapi.json" in urls and len(urls) >= 3, urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        loaded = anonymous.get(url)
        assert loaded.status_code == 200, (url, loaded.status_code)
        assert loaded.content, url


def test_its_files_come_from_the_installed_npm_packages_with_their_types(anonymous):
    swagger = anonymous.get("/docs/assets/swagger-ui-bundle.js")
    assert swagger.headers["content-type"].startswith("text/javascript") and "SwaggerUIBundle" in swagger.text
    assert anonymous.get("/docs/assets/swagger-ui.css").headers["content-type"].startswith("text/css")
    assert anonymous.get("/docs/assets/favicon.png").content[:8] == b"\x89PNG\r\n\x1a\n"
    redoc = anonymous.get("/docs/assets/redoc.standalone.js")
    assert redoc.status_code == 200 and "Redoc" in redoc.text[:2000]
    assert "validatorUrl" in anonymous.get("/docs").text  # no schema sent to validator.swagger.io
    oauth = anonymous.get("/docs/oauth2-redirect")
    assert oauth.status_code == 200 and not FOREIGN.search(oauth.text)


@pytest.mark.parametrize("bad", ["/docs/assets/left-pad.js", "/docs/assets/..%2F..%2Fapp.py",
                                 "/docs/assets/%2e%2e%2fpackage.json", "/docs/assets/index.html"])
def test_it_serves_nothing_else_from_node_modules(anonymous, bad):
    assert anonymous.get(bad).status_code == 404


@pytest.fixture
def offline_chrome(settings, tmp_path):
    from api.app import create_app

    problem = b.chromium_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    app = create_app(settings)
    with Server(app) as server, b.Browser(server.url, tmp_path, flags=b.OFFLINE) as page:
        page.operations = sum(len(ops) for ops in app.openapi()["paths"].values())
        yield page


def elsewhere(page) -> list[str]:
    """What the open page tried to load from anywhere but the app (requests refused included)."""
    tried = page.js("return performance.getEntriesByType('resource').map(e => e.name)")
    assert tried, "the page loaded nothing"
    return [url for url in tried if not url.startswith(page.url + "/") and not url.startswith("blob:")]


def test_the_pages_show_every_operation_in_a_browser_with_the_network_closed(offline_chrome):
    page = offline_chrome
    page.open("/docs")

    # Swagger UI renders only the operations near the viewport of a long list (it has grown
    # past one screenful many times): every one must show while the page scrolls through.
    page.wait(lambda d: page.js("return document.querySelectorAll('.opblock').length") > 0, timeout=30,
              message="Swagger UI to show operations")
    seen: set[str] = set()
    for _ in range(400):
        seen |= set(page.js("return Array.from(document.querySelectorAll('.opblock')).map(e => e.id)"))
        if len(seen) == page.operations or page.js("return window.innerHeight + window.scrollY "
                                                    ">= document.body.scrollHeight - 2"):
            break
        page.js("window.scrollBy(0, window.innerHeight / 2)")
        time.sleep(0.25)   # React renders what scrolled into view
    assert len(seen) == page.operations, f"Swagger UI showed {len(seen)} of {page.operations} operations"
    assert page.text(".info .title").startswith("pilecare")
    assert elsewhere(page) == [] and page.errors() == []

    page.open("/redoc")
    page.wait(lambda d: page.js("return document.querySelectorAll('[data-section-id^=\"operation/\"]').length")
              == page.operations, timeout=30, message="ReDoc to show every operation")
    # The one thing ReDoc reaches for off this machine, its footer logo, is refused by the
    # page's policy before a request leaves; nothing else failed.
    assert elsewhere(page) == ["https://cdn.redoc.ly/redoc/logo-mini.svg"]
    [refused] = page.errors()
    assert "logo-mini.svg" in refused and "Content Security Policy" in refused and "has been blocked" in refused

    # And the network really is closed: the CDN FastAPI's own pages use does not answer.
    from selenium.common.exceptions import WebDriverException

    with pytest.raises(WebDriverException, match="ERR_PROXY_CONNECTION_FAILED"):
        page.d.get("https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js")
