"""Many clients at once (review of issue 12): the API answers every one, none with a 500.
The server runs its sync routes on a pool of worker threads and holds one database connection
per request; with more requests than connections, threads waiting for a connection could
starve the requests holding one of the threads they needed, until the pool's 30 s timeout
turned them into 500s. Requests now take turns for the database before they take a thread."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from api import accounts
from api.app import create_app
from simulators.inprocess import Server
from tests.conftest import PASSWORD


@pytest.fixture
def server(settings, db, fleet):
    accounts.create(db, "vera", role=accounts.Role.VIEWER, full_name="Vera", password=PASSWORD, actor="test")
    with Server(create_app(settings)) as running:
        yield running


def test_sixty_clients_at_once_are_all_answered_quickly_and_none_with_a_500(server):
    token = httpx.post(f"{server.url}/auth/token", data={"username": "vera", "password": PASSWORD}).json()[
        "access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    def read(i: int) -> int:
        path = ("/fleet/health", "/piles", "/work-orders", "/alarms")[i % 4]
        return httpx.get(f"{server.url}{path}", headers=headers, timeout=60).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(60) as clients:
        answers = list(clients.map(read, range(120)))
    took = time.monotonic() - started
    assert answers == [200] * 120
    assert took < 20, f"120 requests from 60 clients took {took:.1f} s"


def test_a_body_sent_in_chunks_is_refused_once_it_passes_the_limit_and_a_small_one_still_works(server):
    def chunks(total: int):
        block = b"x" * 65536
        for _ in range(total // len(block)):
            yield block

    huge = httpx.post(f"{server.url}/auth/token", content=chunks(8 * 1024 * 1024),
                      headers={"content-type": "application/x-www-form-urlencoded"}, timeout=30)
    assert huge.status_code == 413 and huge.json()["detail"].startswith("body: more than 6 MiB sent in chunks")

    def form():
        yield b"username=vera&"
        yield b"password=" + PASSWORD.encode()

    small = httpx.post(f"{server.url}/auth/token", content=form(),
                       headers={"content-type": "application/x-www-form-urlencoded"}, timeout=30)
    assert small.status_code == 200 and small.json()["access_token"]
    stated = httpx.post(f"{server.url}/auth/token", content=b"x" * (7 * 1024 * 1024),
                        headers={"content-type": "application/x-www-form-urlencoded"}, timeout=30)
    assert stated.status_code == 413 and stated.json()["detail"].startswith("body: 7340032 bytes")
