"""The work order as the API shows it: the list row and the detail (timeline, alarms,
checklist, both SLA clocks), read in one query per order. Shared by the desk's routes and
the engineer's phone."""
from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import dict_row, tuple_row
from pydantic import BaseModel, Field

from api.accounts import Role, User
from api.customer_scope import Owned, check
from maintenance.orders import WorkOrderKind, WorkOrderState
from maintenance.orders.sla import SlaStatus, clock_sql
from maintenance.policy import Policy
from pilecare.domain import Severity
from pilecare.errors import NotFound


class SlaClock(BaseModel):
    due_at: datetime | None
    done_at: datetime | None
    status: SlaStatus


class WorkOrderPublic(BaseModel):
    id: int
    kind: WorkOrderKind
    pile_id: str
    site_id: str
    customer_id: str
    fault_category: str | None
    state: WorkOrderState
    priority: int = Field(description="1 (most urgent) to 5")
    severity: Severity | None
    safety: bool
    title: str
    created_at: datetime
    created_by: str
    updated_at: datetime
    closed_at: datetime | None
    resolution: str | None = Field(description="remote | cleared_at_pile | repaired | merged")
    due_at: datetime | None = Field(description="Planned orders: when the work is due.")
    sla: SlaStatus = Field(description="The worse of the response and resolve clocks.")
    response_due_at: datetime | None = Field(description="When the response clock runs out.")
    responded_at: datetime | None = Field(description="First response: an engineer accepted it, or the remote "
                                                      "first line resolved it.")
    resolve_due_at: datetime | None = Field(description="When the resolve clock runs out.")
    resolved_at: datetime | None = Field(description="When the pile was working again.")
    escalation_level: int
    repeat_of: int | None = Field(description="R-NO-REPEAT: the closed order for the same fault this repeats.")
    merged_into: int | None = Field(default=None, description="A cancelled order merged by a dispatcher: the order "
                                                              "that carries on (its alarms moved there).")
    arrival_flags: list[str] = Field(default_factory=list, description="What made the engineer's arrival doubtful "
                                                                       "(docs/field-api.md); empty when plausible.")
    triage_attempts: int
    out_of_service_at: datetime | None
    engineer_id: str | None = Field(default=None, description="The engineer holding the order.")
    eta: datetime | None = Field(default=None, description="When the engineer expects to arrive.")
    warranty: str | None = Field(default=None, description="in_warranty | out_of_warranty, settled at diagnosis.")
    reopened_count: int = Field(default=0, description="Verification failures: each counts against first-time fix.")


class TimelineEntry(BaseModel):
    at: datetime
    actor: str
    from_state: str | None
    to_state: str
    note: str | None


class LinkedAlarm(BaseModel):
    id: int
    rule_id: str
    connector_id: int
    severity: str
    state: str
    first_seen: datetime
    cleared_at: datetime | None


class WorkOrderDetail(WorkOrderPublic):
    description: str | None
    plan_id: str | None
    visit_id: int | None
    checklist: list
    response: SlaClock
    resolve: SlaClock
    timeline: list[TimelineEntry]
    alarms: list[LinkedAlarm]


class WorkOrdersPublic(BaseModel):
    data: list[WorkOrderPublic]
    count: int


_CLOCKS = (f"{clock_sql('response_due_at', 'responded_at')} AS response_sla, "
           f"{clock_sql('resolve_due_at', 'resolved_at')} AS resolve_sla")
_RANK = "ARRAY['none', 'met', 'ok', 'warning', 'breached']"
# The list and the detail read the same rows; `sla` is the worse of the two clocks.
SELECT = f"""
SELECT * , ({_RANK})[greatest(array_position({_RANK}, response_sla), array_position({_RANK}, resolve_sla))] AS sla
FROM (SELECT o.*, p.site_id AS pile_site, s.customer_id, {_CLOCKS}
      FROM work_orders o JOIN piles p ON p.id = o.pile_id JOIN sites s ON s.id = coalesce(o.site_id, p.site_id)) o
"""


def public(row: dict) -> dict:
    """A SELECT row as WorkOrderPublic's fields (a pile-less site falls back to the pile's)."""
    return row | {"site_id": row["site_id"] or row["pile_site"]}


def visible(conn: psycopg.Connection, user: User, order_id: int) -> None:
    """Engineers see only the orders they hold, a customer's portal login only its customer's:
    for them any other order does not exist (NotFound)."""
    if user.role is Role.ENGINEER and conn.execute(
            "SELECT 1 FROM work_orders WHERE id = %s AND engineer_id = %s", (order_id, user.engineer_id)).fetchone() is None:
        raise NotFound(f"work order {order_id} does not exist")
    check(conn, user, Owned.WORK_ORDER, order_id)


def for_customer(order: WorkOrderDetail) -> WorkOrderDetail:
    """The order as its customer sees it: the timeline's states and times without the staff's
    notes and names (internal remarks are not the customer's to read)."""
    return order.model_copy(update={"timeline": [t.model_copy(update={"actor": "pilecare", "note": None})
                                                 for t in order.timeline]})


def detail(conn: psycopg.Connection, policy: Policy, order_id: int) -> WorkOrderDetail:
    """One order with its timeline, alarms and SLA clocks, whatever the connection's row factory."""
    previous = conn.row_factory
    conn.row_factory = dict_row
    try:
        row = conn.execute(f"SELECT * FROM ({SELECT}) w WHERE id = %(id)s",
                           {"id": order_id, "warn": policy.sla.warn_at}).fetchone()
        if row is None:
            raise NotFound(f"work order {order_id} does not exist")
        timeline = conn.execute("SELECT at, actor, from_state, to_state, note FROM work_order_events "
                                "WHERE work_order_id = %s ORDER BY id", (order_id,)).fetchall()
        linked = conn.execute(
            "SELECT a.id, a.rule_id, a.connector_id, a.severity, a.state, a.first_seen, a.cleared_at FROM alarms a "
            "JOIN work_order_alarms l ON l.alarm_id = a.id WHERE l.work_order_id = %s ORDER BY a.id",
            (order_id,)).fetchall()
    finally:
        conn.row_factory = previous
    return WorkOrderDetail(
        **public(row),
        response=SlaClock(due_at=row["response_due_at"], done_at=row["responded_at"], status=row["response_sla"]),
        resolve=SlaClock(due_at=row["resolve_due_at"], done_at=row["resolved_at"], status=row["resolve_sla"]),
        timeline=[TimelineEntry(**t) for t in timeline], alarms=[LinkedAlarm(**a) for a in linked])
