"""Fixtures of the console's browser tests: the API in a real uvicorn server and Debian's
headless Chromium on it. Import them into a test module
(`from tests.console_fixtures import chrome, server`)."""
from __future__ import annotations

import pytest

from simulators import browser as b
from simulators.inprocess import Server


@pytest.fixture
def server(settings):
    from api.app import create_app

    with Server(create_app(settings)) as running:
        yield running


@pytest.fixture
def chrome(server, tmp_path_factory):
    problem = b.chromium_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    with b.Browser(server.url, tmp_path_factory.mktemp("screenshots")) as page:
        yield page
