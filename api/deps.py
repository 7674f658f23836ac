"""Dependency aliases shared by the routers."""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Annotated

import psycopg
from fastapi import Depends, Request
from psycopg.rows import dict_row, tuple_row

from gateway.commands import Downlink
from maintenance.dispatch.matching import DispatchConfig
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
