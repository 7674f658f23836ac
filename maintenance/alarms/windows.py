"""Maintenance windows: planned work on a pile or a whole site, during which alarms are
suppressed and open no work orders.

A window is one span of time (`starts_at`, `ends_at`, instants with an offset) or a
recurrence on the site's local clock: every day, or on chosen weekdays, from a local
start time to a local end time ("daily 02:00–04:00 Europe/Berlin"). A recurrence follows
the clock of the site (of the pile's site for a pile window) across daylight-saving
changes: 02:30 local is inside on both sides of the change although the UTC times
differ by an hour. Whether a window covers a moment is decided in one place, the SQL
function `maintenance_window_covers` (migration 0022), which also says how local times
the clock skips or repeats are read.
"""
from __future__ import annotations

from datetime import date, datetime, time
from enum import Enum
from typing import Annotated

import psycopg
from psycopg.rows import dict_row, tuple_row
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from pilecare.errors import Conflict, InvalidInput, NotFound

Weekday = Annotated[int, Field(ge=1, le=7, description="ISO weekday: 1 = Monday … 7 = Sunday")]


class Frequency(str, Enum):
    """How a window recurs on the site's local clock."""

    DAILY = "daily"
    WEEKLY = "weekly"  # on the weekdays listed


class Recurrence(BaseModel):
    """A window that comes back on the site's local clock."""

    model_config = ConfigDict(extra="forbid")

    frequency: Frequency
    start_time: time = Field(description="Local clock time the window opens, e.g. 02:00 (no offset: the site's zone).")
    end_time: time = Field(description="Local clock time it closes; at or before start_time means the next day.")
    weekdays: list[Weekday] | None = Field(default=None, min_length=1, max_length=7,
                                           description="weekly only: the ISO weekdays an occurrence starts on.")
    first_day: date | None = Field(default=None, description="First local day an occurrence starts (default: at once).")
    last_day: date | None = Field(default=None, description="Last local day an occurrence starts (default: no end).")

    @field_validator("start_time", "end_time")
    @classmethod
    def _local(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("give a local clock time without an offset (e.g. 02:00); the site's time zone applies")
        return value

    @model_validator(mode="after")
    def _coherent(self):
        if self.start_time == self.end_time:
            raise ValueError("start_time and end_time are equal: give a span (end at or before start means overnight)")
        if (self.frequency is Frequency.WEEKLY) != (self.weekdays is not None):
            raise ValueError("weekdays: required for a weekly window and refused for a daily one")
        if self.first_day and self.last_day and self.last_day < self.first_day:
            raise ValueError("last_day is before first_day")
        if self.weekdays is not None:
            self.weekdays = sorted(set(self.weekdays))
        return self


class WindowCreate(BaseModel):
    """A window on one pile or one site: a single span, or a recurrence (never both)."""

    model_config = ConfigDict(extra="forbid")

    pile_id: str | None = None
    site_id: str | None = None
    starts_at: AwareDatetime | None = Field(default=None, description="One span: from this instant (with an offset).")
    ends_at: AwareDatetime | None = Field(default=None, description="One span: until this instant (exclusive).")
    recurrence: Recurrence | None = Field(default=None, description="Instead of starts_at/ends_at: a window that "
                                                                     "recurs on the site's local clock.")
    reason: str = Field(min_length=1, max_length=500)

    @field_validator("recurrence")
    @classmethod
    def _not_with_a_span(cls, value: Recurrence | None, info: ValidationInfo) -> Recurrence | None:
        # Refused rather than guessed: a span plus a recurrence could mean "repeat this span"
        # in UTC or in local time, and guessing wrong hides faults at the wrong hours.
        if value is not None and (info.data.get("starts_at") or info.data.get("ends_at")):
            raise ValueError("a recurring window gives its local times here, not starts_at/ends_at; "
                             "send one or the other")
        return value

    @model_validator(mode="after")
    def _one_target_and_a_real_span(self):
        if (self.pile_id is None) == (self.site_id is None):
            raise ValueError("give exactly one of pile_id or site_id")
        if self.recurrence is None:
            if self.starts_at is None or self.ends_at is None:
                raise ValueError("give starts_at and ends_at, or a recurrence")
            if self.ends_at <= self.starts_at:
                raise ValueError("ends_at must be after starts_at")
        return self


def covering(pile: str, at: str) -> str:
    """SQL: a live window covers pile `pile` at `at` (both SQL expressions), on its own or
    through its site, a recurrence read on the site's clock."""
    return f"""EXISTS (
    SELECT 1 FROM piles wp JOIN sites ws ON ws.id = wp.site_id
    JOIN maintenance_windows w ON w.cancelled_at IS NULL AND (w.pile_id = wp.id OR w.site_id = wp.site_id)
    WHERE wp.id = {pile} AND maintenance_window_covers(w, ws.timezone, {at}))"""


_SELECT = """
SELECT w.id, w.pile_id, w.site_id, w.starts_at, w.ends_at, w.reason, w.created_at, w.created_by, w.cancelled_at,
       w.cancelled_by, w.recurrence AS frequency, w.start_time, w.end_time, w.weekdays, w.first_day, w.last_day,
       s.timezone, maintenance_window_covers(w, s.timezone, now()) AS active
FROM maintenance_windows w
JOIN sites s ON s.id = coalesce(w.site_id, (SELECT p.site_id FROM piles p WHERE p.id = w.pile_id))
"""
# Not over yet: a span still ahead or running; a recurrence without a last day, or whose
# last occurrence (which may run past midnight) can still be running.
_NOT_OVER = ("CASE WHEN w.recurrence IS NULL THEN w.ends_at > now() "
             "ELSE w.last_day IS NULL OR w.last_day >= (now() AT TIME ZONE s.timezone)::date - 1 END")


def _public(row: dict) -> dict:
    keys = ("frequency", "start_time", "end_time", "weekdays", "first_day", "last_day")
    recurrence = {k: row.pop(k) for k in keys}
    row["recurrence"] = recurrence if recurrence["frequency"] else None
    return row


def list_windows(conn: psycopg.Connection, *, pile_id: str | None = None, site_id: str | None = None,
                 include_past: bool = False) -> list[dict]:
    """Live (not cancelled) windows, by default those not yet over; a pile's include its
    site's. Rows as WindowPublic has them, `timezone` the site's."""
    where, params = ["w.cancelled_at IS NULL"], {}
    if not include_past:
        where.append(_NOT_OVER)
    if pile_id:
        where.append("(w.pile_id = %(pile)s OR w.site_id = (SELECT site_id FROM piles WHERE id = %(pile)s))")
        params["pile"] = pile_id
    if site_id:
        where.append("w.site_id = %(site)s")
        params["site"] = site_id
    order = "ORDER BY w.recurrence IS NOT NULL, w.starts_at, w.first_day NULLS FIRST, w.id"
    with conn.cursor(row_factory=dict_row) as cur:
        return [_public(r) for r in cur.execute(f"{_SELECT} WHERE {' AND '.join(where)} {order}", params)]


def get_window(conn: psycopg.Connection, window_id: int) -> dict:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"{_SELECT} WHERE w.id = %s", (window_id,)).fetchone()
    if row is None:
        raise NotFound(f"maintenance window {window_id} does not exist")
    return _public(row)


def create_window(conn: psycopg.Connection, body: WindowCreate, actor: str) -> dict:
    """Record a window planned by `actor`; InvalidInput (422) names an unknown pile or site."""
    table, key = ("piles", body.pile_id) if body.pile_id else ("sites", body.site_id)
    r = body.recurrence
    with conn.cursor(row_factory=tuple_row) as cur:
        if cur.execute(f"SELECT 1 FROM {table} WHERE id = %s", (key,)).fetchone() is None:
            raise InvalidInput(f"{table[:-1]}_id: {table[:-1]} {key!r} does not exist")
        window_id = cur.execute(
            "INSERT INTO maintenance_windows (pile_id, site_id, starts_at, ends_at, recurrence, start_time, end_time, "
            "weekdays, first_day, last_day, reason, created_by) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (body.pile_id, body.site_id, body.starts_at, body.ends_at, r and r.frequency.value, r and r.start_time,
             r and r.end_time, r and r.weekdays, r and r.first_day, r and r.last_day, body.reason, actor)).fetchone()[0]
    return get_window(conn, window_id)


def cancel_window(conn: psycopg.Connection, window_id: int, actor: str) -> None:
    """Cancel a window (who and when recorded); NotFound, or Conflict if already cancelled."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("UPDATE maintenance_windows SET cancelled_at = now(), cancelled_by = %s "
                          "WHERE id = %s AND cancelled_at IS NULL RETURNING id", (actor, window_id)).fetchone()
        missing = row is None and cur.execute(
            "SELECT 1 FROM maintenance_windows WHERE id = %s", (window_id,)).fetchone() is None
    if missing:
        raise NotFound(f"maintenance window {window_id} does not exist")
    if row is None:
        raise Conflict(f"maintenance window {window_id} is already cancelled")
