"""Customers, sites and pile models: the registry piles refer to."""
from __future__ import annotations

from fastapi import APIRouter, Depends

from api.auth import CONTACTS, require
from api.deps import Conn

router = APIRouter(tags=["registry"])


@router.get("/customers", dependencies=[Depends(require(*CONTACTS))], summary="Customers (contact details included)")
def customers(conn: Conn) -> list[dict]:
    return conn.execute(
        "SELECT id, name, tier, contact_name, contact_phone, contact_email FROM customers ORDER BY id").fetchall()


@router.get("/sites", summary="Sites with their customer, region, position and environment")
def sites(conn: Conn) -> list[dict]:
    return conn.execute(
        "SELECT id, customer_id, name, address, region, lat, lon, environment FROM sites ORDER BY id").fetchall()


@router.get("/pile-models", summary="Pile models (AC/DC, rated power, connectors, reporting interval, energy register)")
def pile_models(conn: Conn) -> list[dict]:
    return conn.execute(
        "SELECT id, manufacturer, name, kind, rated_power_kw, connectors, reporting_interval_s, energy_register, "
        "energy_resolution_kwh "
        "FROM pile_models ORDER BY id").fetchall()
