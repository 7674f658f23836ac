"""Maintenance windows: planned work on a pile or a whole site, during which alarms are
suppressed and open no work orders. One span, or a recurrence on the site's local clock
(maintenance/alarms/windows.py holds the rules)."""
from __future__ import annotations

from datetime import date, datetime, time

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, Field

from api.auth import DISPATCH, OFFICE, Actor, require
from api.deps import Conn
from maintenance.alarms import windows
from maintenance.alarms.windows import Frequency, WindowCreate

router = APIRouter(prefix="/maintenance/windows", tags=["maintenance"], dependencies=[Depends(require(*OFFICE))])

_SHAPES = (
    "A window is one span (`starts_at`, `ends_at`: instants with an offset) or a `recurrence` on the local clock of "
    "the site (of the pile's site for a pile window; `PATCH /sites/{id}` sets its `timezone`), never both: "
    "`{\"frequency\": \"daily\", \"start_time\": \"02:00\", \"end_time\": \"04:00\"}` is inside at 02:30 local time "
    "on both sides of a daylight-saving change. `weekly` takes `weekdays` (ISO, 1 = Monday); an `end_time` at or "
    "before `start_time` runs past midnight; `first_day`/`last_day` bound the local days an occurrence starts. On the "
    "night the clock jumps forward a skipped local time is read with the offset before the jump (the window starts "
    "when the clock jumps); when it goes back, a repeated local time is read as its second occurrence. Unknown fields "
    "are refused (422 naming the field): `timezone` belongs to the site, not the window.")


class RecurrencePublic(BaseModel):
    frequency: Frequency
    start_time: time
    end_time: time
    weekdays: list[int] | None
    first_day: date | None
    last_day: date | None


class WindowPublic(BaseModel):
    id: int
    pile_id: str | None
    site_id: str | None
    starts_at: datetime | None = Field(description="One span: its start (null for a recurrence).")
    ends_at: datetime | None = Field(description="One span: its end (null for a recurrence).")
    recurrence: RecurrencePublic | None
    timezone: str = Field(description="The site's time zone, whose clock a recurrence follows.")
    reason: str
    created_at: datetime
    created_by: str
    cancelled_at: datetime | None
    cancelled_by: str | None
    active: bool = Field(description="The window covers this moment.")


@router.get("", summary="Maintenance windows; by default those not yet over")
def list_windows(conn: Conn, pile_id: str | None = None, site_id: str | None = None,
                 include_past: bool = False) -> list[WindowPublic]:
    return [WindowPublic(**r) for r in windows.list_windows(conn, pile_id=pile_id, site_id=site_id,
                                                            include_past=include_past)]


@router.post("", dependencies=[Depends(require(*DISPATCH))], status_code=status.HTTP_201_CREATED,
             summary="Plan a window on a pile or a site: one span or a recurrence on the site's local clock",
             description=_SHAPES)
def create_window(conn: Conn, actor: Actor, body: WindowCreate) -> WindowPublic:
    return WindowPublic(**windows.create_window(conn, body, actor))


@router.delete("/{window_id}", dependencies=[Depends(require(*DISPATCH))], status_code=status.HTTP_204_NO_CONTENT,
               summary="Cancel a window")
def cancel_window(conn: Conn, actor: Actor, window_id: int) -> None:
    windows.cancel_window(conn, window_id, actor)
