"""Alarms: filterable list, detail with timeline, acknowledge, comment."""
from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field

from api.auth import DESK, OFFICE, Actor, require
from api.deps import Conn, Offset, PlainConn
from api.models import RequestBody
from maintenance.alarms import lifecycle as alarms
from pilecare.domain import Severity
from pilecare.errors import NotFound

router = APIRouter(prefix="/alarms", tags=["alarms"], dependencies=[Depends(require(*OFFICE))])


class AlarmState(str, Enum):
    ACTIVE = "active"
    CLEARED = "cleared"


class AlarmPublic(BaseModel):
    id: int
    pile_id: str
    site_id: str
    connector_id: int
    rule_id: str
    kind: str
    fault_category: str
    severity: Severity
    safety: bool
    state: AlarmState
    clearing: bool = Field(description="The fault went away; the alarm clears after the rule's hold-off.")
    suppressed: bool = Field(description="Raised inside a maintenance window: opens no work order.")
    occurrences: int
    flaps: int
    first_seen: datetime
    last_seen: datetime
    cleared_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    work_order_id: int | None
    detail: dict


class AlarmEvent(BaseModel):
    at: datetime
    actor: str
    action: str
    note: str | None


class AlarmDetail(AlarmPublic):
    events: list[AlarmEvent]


class AlarmsPublic(BaseModel):
    data: list[AlarmPublic]
    count: int


class Acknowledge(RequestBody):
    note: str | None = Field(default=None, max_length=2000)


class Comment(RequestBody):
    text: str = Field(min_length=1, max_length=4000)


_SELECT = """
SELECT a.id, a.pile_id, p.site_id, a.connector_id, a.rule_id, a.kind, a.fault_category, a.severity, a.safety, a.state,
       a.clear_requested_at IS NOT NULL AND a.state = 'active' AS clearing, a.suppressed, a.occurrences, a.flaps,
       a.first_seen, a.last_seen, a.cleared_at, a.acknowledged_at, a.acknowledged_by, a.work_order_id, a.detail
FROM alarms a JOIN piles p ON p.id = a.pile_id
"""


@router.get("", summary="Alarms, newest first; filter by state, severity, pile, site, customer, rule")
def list_alarms(
    conn: Conn,
    state: AlarmState | None = None,
    severity: Severity | None = None,
    pile_id: str | None = None,
    site_id: str | None = None,
    customer_id: str | None = None,
    rule_id: str | None = None,
    acknowledged: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Offset = 0,
) -> AlarmsPublic:
    where, params = [], {}
    for column, value in (("a.state", state), ("a.severity", severity), ("a.pile_id", pile_id),
                          ("p.site_id", site_id), ("a.rule_id", rule_id)):
        if value is not None:
            key = column.split(".")[1]
            where.append(f"{column} = %({key})s")
            params[key] = getattr(value, "value", value)
    if customer_id is not None:
        where.append("p.site_id IN (SELECT id FROM sites WHERE customer_id = %(customer)s)")
        params["customer"] = customer_id
    if acknowledged is not None:
        where.append("(a.acknowledged_at IS NOT NULL) = %(ack)s")
        params["ack"] = acknowledged
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    rows = conn.execute(_SELECT + clause + " ORDER BY a.id DESC LIMIT %(limit)s OFFSET %(offset)s",
                        params | {"limit": limit, "offset": offset}).fetchall()
    count = conn.execute("SELECT count(*) AS n FROM alarms a JOIN piles p ON p.id = a.pile_id" + clause,
                         params).fetchone()["n"]
    return AlarmsPublic(data=[AlarmPublic(**r) for r in rows], count=count)


@router.get("/{alarm_id}", summary="One alarm with its timeline")
def get_alarm(conn: Conn, alarm_id: int) -> AlarmDetail:
    row = conn.execute(_SELECT + " WHERE a.id = %s", (alarm_id,)).fetchone()
    if row is None:
        raise NotFound(f"alarm {alarm_id} does not exist")
    events = conn.execute("SELECT at, actor, action, note FROM alarm_events WHERE alarm_id = %s ORDER BY id",
                          (alarm_id,)).fetchall()
    return AlarmDetail(**row, events=[AlarmEvent(**e) for e in events])


@router.post("/{alarm_id}/ack", dependencies=[Depends(require(*DESK))], status_code=status.HTTP_204_NO_CONTENT, summary="Acknowledge (once; 409 after)")
def acknowledge(conn: PlainConn, actor: Actor, alarm_id: int, body: Acknowledge | None = None) -> None:
    alarms.acknowledge(conn, alarm_id, actor=actor, note=body.note if body else None)


@router.post("/{alarm_id}/comments", dependencies=[Depends(require(*DESK))], status_code=status.HTTP_201_CREATED, summary="Add a comment to the timeline")
def add_comment(conn: PlainConn, actor: Actor, alarm_id: int, body: Comment) -> None:
    alarms.comment(conn, alarm_id, actor=actor, text=body.text)
