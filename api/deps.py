"""Dependency aliases shared by the routers."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import psycopg
from fastapi import Depends, Request
from psycopg.rows import dict_row, tuple_row

from maintenance.policy import Policy
from pilecare.settings import Settings


def get_conn(request: Request) -> Iterator[psycopg.Connection]:
    with request.app.state.pool.connection() as conn:
        yield conn


def get_plain_conn(request: Request) -> Iterator[psycopg.Connection]:
    """A connection with tuple rows, for the maintenance functions the routes call."""
    with request.app.state.pool.connection() as conn:
        conn.row_factory = tuple_row
        try:
            yield conn
        finally:
            conn.row_factory = dict_row


def get_policy(request: Request):
    return request.app.state.policy


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


Conn = Annotated[psycopg.Connection, Depends(get_conn)]
PlainConn = Annotated[psycopg.Connection, Depends(get_plain_conn)]
PolicyDep = Annotated[Policy, Depends(get_policy)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
