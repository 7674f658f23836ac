"""The platform's HTTP API as a simulated actor uses it (issue 12, item 3): one login, a
request that logs the platform's refusals and goes on, and the event stream followed
across restarts of the API.

The demo crew (simulators/field_crew.py) and the fleet's repair listener
(simulators/repairs.py) speak to pilecare only through this, as a phone or an
integration would: no database, no imports of the platform's rooms.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)


class ApiAway(Exception):
    """The API could not be reached (refused, timed out, or a 5xx): try again later."""


@dataclass(frozen=True)
class Refused:
    """A 4xx answer: the platform said no (a 409 for an order someone else moved, a 422
    naming the field). The actor logs it and goes on."""

    status: int
    detail: str


class PlatformApi:
    """A logged-in client of the API at `base_url` as `user` (OAuth2 password flow,
    `POST /auth/token`); logs in again when the token is refused (expired, API restarted
    with another key)."""

    def __init__(self, base_url: str, user: str, password: str, *, timeout_s: float = 10.0):
        self.base_url, self.user, self._password = base_url.rstrip("/"), user, password
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout_s)
        self._token: str | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    def _login(self) -> None:
        try:
            r = self.http.post("/auth/token", data={"username": self.user, "password": self._password})
        except httpx.HTTPError as error:
            raise ApiAway(f"{self.base_url}: {error}") from None
        if r.status_code >= 500:
            raise ApiAway(f"{self.base_url}: login answered {r.status_code}")
        if r.status_code != 200:
            raise ApiAway(f"login of {self.user} refused ({r.status_code}: {_detail(r)})")
        self._token = r.json()["access_token"]
        self.http.cookies.clear()  # the bearer token only: no device cookie shared between threads

    def headers(self) -> dict:
        with self._lock:
            if self._token is None:
                self._login()
            return {"Authorization": f"Bearer {self._token}"}

    def call(self, method: str, path: str, **kwargs) -> dict | list | Refused:
        """The JSON answer, or `Refused` for a 4xx (logged at INFO: the platform's rules are
        not the actor's errors). Raises ApiAway when the API cannot be reached or fails."""
        for attempt in (1, 2):
            headers = self.headers() | kwargs.pop("headers", {})
            try:
                r = self.http.request(method, path, headers=headers, **kwargs)
            except httpx.HTTPError as error:
                raise ApiAway(f"{method} {path}: {error}") from None
            if r.status_code == 401 and attempt == 1:
                with self._lock:
                    self._token = None
                kwargs["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
                continue
            if r.status_code >= 500:
                raise ApiAway(f"{method} {path}: {r.status_code} {_detail(r)}")
            if r.status_code >= 400:
                refused = Refused(r.status_code, _detail(r))
                log.info("%s: %s %s refused (%s): %s", self.user, method, path, r.status_code, refused.detail)
                return refused
            return r.json() if r.content else {}
        raise AssertionError("unreachable")

    def events(self, after: int | None, *, read_timeout_s: float = 60.0) -> Iterator[tuple[int, str, dict]]:
        """(id, event, envelope) from `GET /events` after `after` (from the present if None),
        until the stream ends. The server sends a comment every 15 s, so a read that waits
        longer than `read_timeout_s` means the connection is dead (ApiAway)."""
        params = {} if after is None else {"after": after}
        try:
            with self.http.stream("GET", "/events", params=params, headers=self.headers(),
                                  timeout=httpx.Timeout(10.0, read=read_timeout_s)) as r:
                if r.status_code == 401:
                    with self._lock:
                        self._token = None
                    raise ApiAway("the event stream refused the token; logging in again")
                if r.status_code != 200:
                    raise ApiAway(f"GET /events: {r.status_code}")
                yield from parse_sse(r.iter_lines())
        except httpx.HTTPError as error:
            raise ApiAway(f"GET /events: {error}") from None


def parse_sse(lines: Iterator[str]) -> Iterator[tuple[int, str, dict]]:
    """Server-sent events (the subset api/routes/events.py writes: `id:`, `event:`, one
    `data:` line of JSON, a blank line ending each; `:` comments and `retry:` skipped)."""
    event_id, name, data = None, None, None
    for line in lines:
        if not line:
            if event_id is not None and data is not None:
                yield int(event_id), name or "message", json.loads(data)
            event_id, name, data = None, None, None
        elif line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()


def _detail(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:200]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)[:200]
