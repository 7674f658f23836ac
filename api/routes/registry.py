"""Sites and pile models: the registry piles refer to (customers: api/routes/customers.py)."""
from __future__ import annotations

import psycopg
from fastapi import APIRouter, Depends, status
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field

from api.auth import SUPERVISE, Actor, CurrentUser, require
from api.customer_scope import narrow, portal
from api.deps import Conn
from api.models import SiteCreate, SitePublic, SiteUpdate
from pilecare.domain import EnergyRegister
from pilecare.errors import Conflict, InvalidInput, NotFound

router = APIRouter(tags=["registry"])

_SITE = "SELECT id, customer_id, name, address, region, lat, lon, environment, timezone FROM sites"
_ZONE = ("A site's `timezone` (IANA, e.g. Europe/Berlin) is the clock its recurring maintenance windows follow and "
         "the calendar its monthly PM plans count days on; sites registered before it existed have UTC. An unknown "
         "zone or an unknown field is a 422 naming it.")


@router.get("/sites", summary="Sites with their customer, region, position, environment and time zone "
                             "(a customer's portal login: its own sites)")
@portal
def sites(conn: Conn, user: CurrentUser) -> list[SitePublic]:
    where, params = [], {}
    narrow(user, "customer_id", where, params)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    return [SitePublic(**r) for r in conn.execute(f"{_SITE}{clause} ORDER BY id", params).fetchall()]


def _check_zone(conn: psycopg.Connection, name: str) -> None:
    # Windows are read on the site's clock inside PostgreSQL, so it must know the zone too.
    if conn.execute("SELECT 1 FROM pg_timezone_names WHERE name = %s", (name,)).fetchone() is None:
        raise InvalidInput(f"timezone: {name!r} is not known to the database's time zone data")


@router.post("/sites", dependencies=[Depends(require())], status_code=status.HTTP_201_CREATED,
             summary="Register a site", description=_ZONE)
def create_site(conn: Conn, actor: Actor, body: SiteCreate) -> SitePublic:
    _check_zone(conn, body.timezone)
    if conn.execute("SELECT 1 FROM customers WHERE id = %s", (body.customer_id,)).fetchone() is None:
        raise InvalidInput(f"customer_id: customer {body.customer_id!r} does not exist")
    values = body.model_dump(mode="json")
    with conn.transaction():
        try:
            conn.execute("INSERT INTO sites (id, customer_id, name, address, region, lat, lon, environment, timezone) "
                         "VALUES (%(id)s, %(customer_id)s, %(name)s, %(address)s, %(region)s, %(lat)s, %(lon)s, "
                         "%(environment)s, %(timezone)s)", values)
        except psycopg.errors.UniqueViolation as error:
            raise Conflict(f"a site {body.id!r} already exists") from error
        conn.execute("INSERT INTO site_events (site_id, actor, changes) VALUES (%s, %s, %s)",
                     (body.id, actor, Jsonb({"created": values})))
    return SitePublic(**conn.execute(f"{_SITE} WHERE id = %s", (body.id,)).fetchone())


@router.patch("/sites/{site_id}", dependencies=[Depends(require(*SUPERVISE))], summary="Change a site's time zone",
              description=_ZONE + " Recurring windows follow the new clock from the moment it is set; orders already "
                                  "issued keep their due dates. The change is kept with who and when (site_events).")
def update_site(conn: Conn, actor: Actor, site_id: str, body: SiteUpdate) -> SitePublic:
    _check_zone(conn, body.timezone)
    with conn.transaction():
        # The old value is read under the row lock, so the recorded change is the one made.
        row = conn.execute("SELECT timezone FROM sites WHERE id = %s FOR UPDATE", (site_id,)).fetchone()
        if row is None:
            raise NotFound(f"site {site_id!r} does not exist")
        if row["timezone"] != body.timezone:
            conn.execute("UPDATE sites SET timezone = %s WHERE id = %s", (body.timezone, site_id))
            conn.execute("INSERT INTO site_events (site_id, actor, changes) VALUES (%s, %s, %s)",
                         (site_id, actor, Jsonb({"timezone": {"from": row["timezone"], "to": body.timezone}})))
    return SitePublic(**conn.execute(f"{_SITE} WHERE id = %s", (site_id,)).fetchone())


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
@portal  # the catalogue, no customer's data
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

