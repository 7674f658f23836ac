"""Customers, sites and pile models: the registry piles refer to."""
from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CONTACTS, Actor, require
from api.deps import Conn
from pilecare.domain import EnergyRegister
from pilecare.errors import InvalidInput, NotFound

router = APIRouter(tags=["registry"])


@router.get("/customers", dependencies=[Depends(require(*CONTACTS))], summary="Customers (contact details included)")
def customers(conn: Conn) -> list[dict]:
    return conn.execute(
        "SELECT id, name, tier, contact_name, contact_phone, contact_email FROM customers ORDER BY id").fetchall()


@router.get("/sites", summary="Sites with their customer, region, position and environment")
def sites(conn: Conn) -> list[dict]:
    return conn.execute(
        "SELECT id, customer_id, name, address, region, lat, lon, environment FROM sites ORDER BY id").fetchall()


_MODEL_COLUMNS = ("id, manufacturer, name, kind, rated_power_kw, connectors, reporting_interval_s, energy_register, "
                  "energy_resolution_kwh, register_set_by, register_set_at")


class PileModelRegister(BaseModel):
    """How a model's energy register behaves; the meter rule judges it by this (docs/device-protocol.md)."""

    model_config = ConfigDict(extra="forbid")

    energy_register: EnergyRegister | None = Field(
        default=None, description="lifetime (never goes down), session (restarts at every session) or session_end "
                                  "(moves only when a session ends).")
    energy_resolution_kwh: float | None = Field(default=None, gt=0, le=10,
                                                description="The smallest step the register moves by, kWh.")


@router.get("/pile-models", summary="Pile models (AC/DC, rated power, connectors, reporting interval, energy register)")
def pile_models(conn: Conn) -> list[dict]:
    return conn.execute(
        f"SELECT {_MODEL_COLUMNS} FROM pile_models ORDER BY id").fetchall()


@router.patch("/pile-models/{model_id}", dependencies=[Depends(require())],
              summary="Set how a model's energy register behaves (admin); who and when are recorded")
def set_pile_model_register(conn: Conn, actor: Actor, model_id: str, body: PileModelRegister) -> dict:
    """Raises InvalidInput (422) for an empty body, NotFound (404) for an unknown model."""
    if body.energy_register is None and body.energy_resolution_kwh is None:
        raise InvalidInput("give energy_register and/or energy_resolution_kwh")
    row = conn.execute(
        "UPDATE pile_models SET energy_register = coalesce(%s, energy_register), "
        "energy_resolution_kwh = coalesce(%s, energy_resolution_kwh), register_set_by = %s, register_set_at = now() "
        f"WHERE id = %s RETURNING {_MODEL_COLUMNS}",
        (body.energy_register.value if body.energy_register else None, body.energy_resolution_kwh, actor, model_id),
    ).fetchone()
    if row is None:
        raise NotFound(f"pile model {model_id!r} does not exist")
    return row

