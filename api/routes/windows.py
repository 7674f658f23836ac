"""Maintenance windows: planned work on a pile or a whole site, during which alarms are
suppressed and open no work orders."""
from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, status
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from api.auth import DISPATCH, OFFICE, Actor, require
from api.deps import Conn
from pilecare.errors import Conflict, InvalidInput, NotFound

router = APIRouter(prefix="/maintenance/windows", tags=["maintenance"], dependencies=[Depends(require(*OFFICE))])


class WindowCreate(BaseModel):
    pile_id: str | None = None
    site_id: str | None = None
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _one_target_and_a_real_span(self):
        if (self.pile_id is None) == (self.site_id is None):
            raise ValueError("give exactly one of pile_id or site_id")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class WindowPublic(BaseModel):
    id: int
    pile_id: str | None
    site_id: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_at: datetime
    created_by: str
    cancelled_at: datetime | None
    cancelled_by: str | None
    active: bool


_SELECT = ("SELECT *, cancelled_at IS NULL AND now() >= starts_at AND now() < ends_at AS active "
           "FROM maintenance_windows")


@router.get("", summary="Maintenance windows; by default those not yet over")
def list_windows(conn: Conn, pile_id: str | None = None, site_id: str | None = None,
                 include_past: bool = False) -> list[WindowPublic]:
    where, params = ["cancelled_at IS NULL"], {}
    if not include_past:
        where.append("ends_at > now()")
    if pile_id:
        where.append("(pile_id = %(pile)s OR site_id = (SELECT site_id FROM piles WHERE id = %(pile)s))")
        params["pile"] = pile_id
    if site_id:
        where.append("site_id = %(site)s")
        params["site"] = site_id
    rows = conn.execute(f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY starts_at", params).fetchall()
    return [WindowPublic(**r) for r in rows]


@router.post("", dependencies=[Depends(require(*DISPATCH))], status_code=status.HTTP_201_CREATED, summary="Plan a window on a pile or a site")
def create_window(conn: Conn, actor: Actor, body: WindowCreate) -> WindowPublic:
    table, key = ("piles", body.pile_id) if body.pile_id else ("sites", body.site_id)
    if conn.execute(f"SELECT 1 FROM {table} WHERE id = %s", (key,)).fetchone() is None:
        raise InvalidInput(f"{table[:-1]} {key!r} does not exist")
    row = conn.execute(
        "INSERT INTO maintenance_windows (pile_id, site_id, starts_at, ends_at, reason, created_by) "
        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id", (body.pile_id, body.site_id, body.starts_at, body.ends_at,
                                                         body.reason, actor)).fetchone()
    return WindowPublic(**conn.execute(f"{_SELECT} WHERE id = %s", (row["id"],)).fetchone())


@router.delete("/{window_id}", dependencies=[Depends(require(*DISPATCH))], status_code=status.HTTP_204_NO_CONTENT, summary="Cancel a window")
def cancel_window(conn: Conn, actor: Actor, window_id: int) -> None:
    row = conn.execute("UPDATE maintenance_windows SET cancelled_at = now(), cancelled_by = %s "
                       "WHERE id = %s AND cancelled_at IS NULL RETURNING id", (actor, window_id)).fetchone()
    if row is None:
        if conn.execute("SELECT 1 FROM maintenance_windows WHERE id = %s", (window_id,)).fetchone() is None:
            raise NotFound(f"maintenance window {window_id} does not exist")
        raise Conflict(f"maintenance window {window_id} is already cancelled")
