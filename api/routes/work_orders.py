"""Work orders: filterable list, detail (timeline, alarms, checklist, SLA clocks),
manual fault reports, transitions and comments."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from psycopg.rows import dict_row, tuple_row
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import DESK, DISPATCH, Actor, CurrentUser, Role, User, require
from api.deps import Conn, PlainConn, PolicyDep
from maintenance.alarms import rulestore
from maintenance.orders.policy_step import notify, take_out_of_service
from pilecare.domain import Severity
from maintenance.orders.sla import SlaStatus
from maintenance.orders.lifecycle import (TRANSITIONS, WorkOrderKind, WorkOrderState, create_installation, note,
                                    open_corrective, transition)
from pilecare.errors import Conflict, Forbidden, InvalidInput, NotFound

router = APIRouter(prefix="/work-orders", tags=["work orders"])


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
    resolution: str | None = Field(description="remote | cleared_at_pile | repaired")
    due_at: datetime | None = Field(description="Planned orders: when the work is due.")
    sla: SlaStatus = Field(description="The worse of the response and resolve clocks.")
    response_due_at: datetime | None = Field(description="When the response clock runs out.")
    responded_at: datetime | None = Field(description="First response: an engineer accepted it, or the remote "
                                                      "first line resolved it.")
    resolve_due_at: datetime | None = Field(description="When the resolve clock runs out.")
    resolved_at: datetime | None = Field(description="When the pile was working again.")
    escalation_level: int
    repeat_of: int | None = Field(description="R-NO-REPEAT: the closed order for the same fault this repeats.")
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


class FaultReport(BaseModel):
    """A fault reported by a person (phone, e-mail, web; R-INTAKE)."""

    pile_id: str
    fault_category: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    severity: Severity = Severity.MAJOR
    safety: bool = False


class InstallationCreate(BaseModel):
    """An installation and commissioning job (R-INSTALL)."""

    pile_id: str
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    due_at: AwareDatetime | None = Field(default=None, description="The date agreed with the customer.")


class Transition(BaseModel):
    to: WorkOrderState
    note: str | None = Field(default=None, max_length=4000)


class Comment(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


def _clock(due: str, done: str) -> str:
    return f"""CASE WHEN o.{due} IS NULL THEN 'none'
        WHEN o.{done} IS NOT NULL THEN CASE WHEN o.{done} <= o.{due} THEN 'met' ELSE 'breached' END
        WHEN now() > o.{due} THEN 'breached'
        WHEN now() >= o.created_at + (o.{due} - o.created_at) * %(warn)s THEN 'warning' ELSE 'ok' END"""


_CLOCKS = f"{_clock('response_due_at', 'responded_at')} AS response_sla, {_clock('resolve_due_at', 'resolved_at')} AS resolve_sla"
_RANK = "ARRAY['none', 'met', 'ok', 'warning', 'breached']"
_SELECT = f"""
SELECT * , ({_RANK})[greatest(array_position({_RANK}, response_sla), array_position({_RANK}, resolve_sla))] AS sla
FROM (SELECT o.*, p.site_id AS pile_site, s.customer_id, {_CLOCKS}
      FROM work_orders o JOIN piles p ON p.id = o.pile_id JOIN sites s ON s.id = coalesce(o.site_id, p.site_id)) o
"""


def _public(row: dict) -> dict:
    return row | {"site_id": row["site_id"] or row["pile_site"]}


@router.get("", summary="Work orders, most urgent first; filter by state, kind, pile, site, priority, SLA status")
def list_work_orders(
    conn: Conn,
    policy: PolicyDep,
    user: CurrentUser,
    state: Annotated[list[WorkOrderState] | None, Query()] = None,
    kind: WorkOrderKind | None = None,
    pile_id: str | None = None,
    site_id: str | None = None,
    priority: Annotated[int | None, Query(ge=1, le=5)] = None,
    sla: SlaStatus | None = None,
    open: bool | None = Query(default=None, description="true: not closed or cancelled"),
    repeat: bool | None = Query(default=None, description="true: repeat repairs only"),
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> WorkOrdersPublic:
    where, params = [], {"warn": policy.sla.warn_at}
    if state:
        where.append("state = ANY(%(states)s)")
        params["states"] = [s.value for s in state]
    for column, value in (("kind", kind), ("pile_id", pile_id), ("priority", priority), ("sla", sla)):
        if value is not None:
            where.append(f"{column} = %({column})s")
            params[column] = getattr(value, "value", value)
    if user.role is Role.ENGINEER:
        # An engineer's list holds only the orders they hold.
        where.append("engineer_id = %(engineer)s")
        params["engineer"] = user.engineer_id
    if site_id is not None:
        where.append("coalesce(site_id, pile_site) = %(site)s")
        params["site"] = site_id
    if open is not None:
        where.append("(state NOT IN ('closed', 'cancelled')) = %(open)s")
        params["open"] = open
    if repeat is not None:
        where.append("(repeat_of IS NOT NULL) = %(repeat)s")
        params["repeat"] = repeat
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    base = f"SELECT * FROM ({_SELECT}) w{clause}"
    rows = conn.execute(base + " ORDER BY priority, created_at LIMIT %(limit)s OFFSET %(offset)s",
                        params | {"limit": limit, "offset": offset}).fetchall()
    count = conn.execute(f"SELECT count(*) AS n FROM ({base}) c", params).fetchone()["n"]
    return WorkOrdersPublic(data=[WorkOrderPublic(**_public(r)) for r in rows], count=count)


@router.get("/{order_id}", summary="One work order with its timeline, alarms, checklist and SLA clocks")
def get_work_order(conn: Conn, policy: PolicyDep, user: CurrentUser, order_id: int) -> WorkOrderDetail:
    if user.role is Role.ENGINEER:
        visible(conn, user, order_id)
    return _read(conn, policy, order_id)


def visible(conn, user, order_id: int) -> None:
    """Engineers see only the orders they hold: for them any other order does not exist."""
    if user.role is Role.ENGINEER and conn.execute(
            "SELECT 1 FROM work_orders WHERE id = %s AND engineer_id = %s", (order_id, user.engineer_id)).fetchone() is None:
        raise NotFound(f"work order {order_id} does not exist")


def _read(conn, policy, order_id: int) -> WorkOrderDetail:
    row = conn.execute(f"SELECT * FROM ({_SELECT}) w WHERE id = %(id)s",
                       {"id": order_id, "warn": policy.sla.warn_at}).fetchone()
    if row is None:
        raise NotFound(f"work order {order_id} does not exist")
    timeline = conn.execute("SELECT at, actor, from_state, to_state, note FROM work_order_events "
                            "WHERE work_order_id = %s ORDER BY id", (order_id,)).fetchall()
    linked = conn.execute(
        "SELECT a.id, a.rule_id, a.connector_id, a.severity, a.state, a.first_seen, a.cleared_at FROM alarms a "
        "JOIN work_order_alarms l ON l.alarm_id = a.id WHERE l.work_order_id = %s ORDER BY a.id", (order_id,)).fetchall()
    return WorkOrderDetail(
        **_public(row),
        response=SlaClock(due_at=row["response_due_at"], done_at=row["responded_at"], status=row["response_sla"]),
        resolve=SlaClock(due_at=row["resolve_due_at"], done_at=row["resolved_at"], status=row["resolve_sla"]),
        timeline=[TimelineEntry(**t) for t in timeline], alarms=[LinkedAlarm(**a) for a in linked])


@router.post("", dependencies=[Depends(require(*DESK))], status_code=status.HTTP_201_CREATED,
             summary="Report a fault by hand; joins the pile's open order for the category if there is one (200)")
def report_fault(conn: PlainConn, actor: Actor, policy: PolicyDep, request: Request, body: FaultReport,
                 response: Response) -> WorkOrderDetail:
    # One vocabulary of fault categories: the rule set's. A made-up one would open an
    # order no rule, KPI or triage setting ever matches.
    categories = {rule.category for rule in rulestore.load(conn)[0].rules} | {"other"}
    if body.fault_category not in categories:
        raise InvalidInput(f"unknown fault_category {body.fault_category!r}; "
                           f"valid: {', '.join(sorted(categories))}")
    tier = conn.execute("SELECT c.tier FROM piles p JOIN sites s ON s.id = p.site_id JOIN customers c "
                        "ON c.id = s.customer_id WHERE p.id = %s", (body.pile_id,)).fetchone()
    if tier is None:
        raise NotFound(f"pile {body.pile_id!r} does not exist")
    response_h, resolve_h = policy.sla_for(body.severity, tier[0], body.safety)
    order_id, created = open_corrective(
        conn, body.pile_id, body.fault_category, title=body.title, actor=actor, severity=body.severity.value,
        priority=policy.priority_for(body.severity, tier[0], body.safety), safety=body.safety,
        description=body.description, response_h=response_h, resolve_h=resolve_h, repeat_days=policy.repeat_days)
    if not created:
        note(conn, order_id, f"reported again by {actor}: {body.title}", actor=actor)
        response.status_code = status.HTTP_200_OK
    elif body.safety:
        # As for a safety fault a rule found (orders.open_from_alarms): the supervisor is
        # told and the pile goes out of service, after the order committed.
        notify(conn, "safety", "supervisor", f"Safety fault {body.title} on pile {body.pile_id} (reported by "
                                             f"{actor}): order {order_id}", work_order_id=order_id,
               pile_id=body.pile_id)
        if policy.safety_out_of_service:
            from api.routes.field import _downlink  # field imports this module: import at call time

            take_out_of_service(conn, _downlink(request), order_id, body.pile_id, actor=actor)
    return _detail(conn, policy, order_id)


@router.post("/installations", dependencies=[Depends(require(*DESK))], status_code=status.HTTP_201_CREATED, summary="Schedule an installation job")
def schedule_installation(conn: PlainConn, actor: Actor, policy: PolicyDep, body: InstallationCreate) -> WorkOrderDetail:
    if conn.execute("SELECT 1 FROM piles WHERE id = %s", (body.pile_id,)).fetchone() is None:
        raise NotFound(f"pile {body.pile_id!r} does not exist")
    order_id = create_installation(conn, body.pile_id, title=body.title, actor=actor, description=body.description,
                                   due_at=body.due_at)
    return _detail(conn, policy, order_id)


S = WorkOrderState
# The moves the office makes by hand. The others belong to someone who checks what a bare
# move cannot: the engineer's phone (an open offer, arrival at the pile, a complete report),
# the dispatcher's assignment (an offer row), remote triage and verification (telemetry).
# A safety order is the exception: a supervisor verifies it here (_verify_by_hand).
_BY_HAND = {S.ON_HOLD, S.CANCELLED, S.ESCALATED, S.READY_FOR_DISPATCH}
_ELSEWHERE = {
    S.ASSIGNED: "assign it by hand with POST /work-orders/{id}/assign, or let a dispatch pass offer it",
    S.ACCEPTED: "the engineer accepts the offer with POST /field/work-orders/{id}/accept",
    S.EN_ROUTE: "the engineer sets off with POST /field/work-orders/{id}/en-route",
    S.ON_SITE: "the engineer arrives with POST /field/work-orders/{id}/arrive",
    S.RESOLVED: "the engineer completes it with POST /field/work-orders/{id}/complete and a complete report",
    S.VERIFIED: "verification from telemetry verifies it; a supervisor verifies a safety order here",
    S.TRIAGE: "remote triage takes new orders by itself; only an order on hold goes back to triage here",
    S.CLOSED: "only a verified order is closed here; an escalated one is decided with "
              "POST /work-orders/{id}/escalation-decision",
}


def _by_hand(current: WorkOrderState, to: WorkOrderState) -> bool:
    return (to in _BY_HAND or (current is S.ON_HOLD and to is S.TRIAGE)
            or (current is S.VERIFIED and to is S.CLOSED))


@router.post("/{order_id}/transitions", dependencies=[Depends(require(*DISPATCH))],
             summary="Hold, cancel, escalate, send back to dispatch, close a verified order, or (supervisor) "
                     "verify a resolved safety order (409 names the allowed moves, or the endpoint that makes this one)")
def move(conn: PlainConn, user: CurrentUser, policy: PolicyDep, order_id: int, body: Transition) -> WorkOrderDetail:
    row = conn.execute("SELECT state, safety FROM work_orders WHERE id = %s", (order_id,)).fetchone()
    if row is None:
        raise NotFound(f"work order {order_id} does not exist")
    current, safety = WorkOrderState(row[0]), row[1]
    if current is S.RESOLVED and body.to is S.VERIFIED:
        _verify_by_hand(conn, user, order_id, safety)
    elif body.to in TRANSITIONS[current] and not _by_hand(current, body.to):
        raise Conflict(f"work order {order_id} does not go from {current.value} to {body.to.value} by a bare move: "
                       + _ELSEWHERE[body.to].replace("{id}", str(order_id)))
    if current is S.VERIFIED and body.to is S.CLOSED:
        _refuse_while_faulty(conn, order_id, "closed")
    # expect: the checks above hold for the state we read, not one another process made meanwhile.
    transition(conn, order_id, body.to, actor=user.id, note=body.note, expect=current)
    return _detail(conn, policy, order_id)


def _verify_by_hand(conn, user: User, order_id: int, safety: bool) -> None:
    """Safety faults are verified by a person, never by telemetry alone (R-REPAIR): a
    supervisor, and only once the pile no longer reports the fault."""
    if user.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise Forbidden(f"only a supervisor verifies a safety order; you are {user.role.value}")
    if not safety:
        raise Conflict(f"work order {order_id} is not a safety order: it is verified from telemetry once the pile "
                       "has stayed healthy, not by hand")
    _refuse_while_faulty(conn, order_id, "verified")


def _refuse_while_faulty(conn, order_id: int, to: str) -> None:
    active = [r[0] for r in conn.execute(
        "SELECT a.id FROM work_order_alarms l JOIN alarms a ON a.id = l.alarm_id "
        "WHERE l.work_order_id = %s AND a.state = 'active' ORDER BY a.id", (order_id,)).fetchall()]
    if active:
        raise Conflict(f"work order {order_id} cannot be {to} while its alarm(s) "
                       f"{', '.join(map(str, active))} are still active: the pile still reports the fault")


@router.post("/{order_id}/comments", status_code=status.HTTP_201_CREATED, summary="Add a comment to the timeline")
def add_comment(conn: PlainConn, user: Annotated[User, Depends(require(*DESK, Role.ENGINEER))], order_id: int,
                body: Comment) -> None:
    visible(conn, user, order_id)
    if conn.execute("SELECT 1 FROM work_orders WHERE id = %s", (order_id,)).fetchone() is None:
        raise NotFound(f"work order {order_id} does not exist")
    note(conn, order_id, body.text, actor=user.id)


def _detail(conn, policy, order_id: int) -> WorkOrderDetail:
    conn.row_factory = dict_row
    try:
        return _read(conn, policy, order_id)
    finally:
        conn.row_factory = tuple_row
