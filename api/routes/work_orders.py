"""Work orders: filterable list, detail (timeline, alarms, checklist, SLA clocks),
manual fault reports, transitions and comments."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import DESK, DISPATCH, Actor, CurrentUser, Role, User, groups_of, require
from api.deps import Conn, DownlinkDep, Offset, PlainConn, PolicyDep
from api.customer_scope import is_customer, narrow, portal
from api.work_order_view import (SELECT, WorkOrderDetail, WorkOrderPublic, WorkOrdersPublic, detail, for_customer,
                                 public, visible)
from api.models import RequestBody
from maintenance.orders import WorkOrderKind, WorkOrderState, create_installation, desk, fault_reports, note
from maintenance.orders.sla import SlaStatus
from pilecare.domain import Severity
from pilecare.errors import NotFound

router = APIRouter(prefix="/work-orders", tags=["work orders"])


class FaultReport(RequestBody):
    """A fault reported by a person (phone, e-mail, web; R-INTAKE)."""

    pile_id: str
    fault_category: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    severity: Severity = Severity.MAJOR
    safety: bool = False


class InstallationCreate(RequestBody):
    """An installation and commissioning job (R-INSTALL)."""

    pile_id: str
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    due_at: AwareDatetime | None = Field(default=None, description="The date agreed with the customer.")


class Transition(RequestBody):
    to: WorkOrderState
    note: str | None = Field(default=None, max_length=4000)


class SlaPolicy(BaseModel):
    warn_at: float = Field(description="Share (0..1) of a clock's window after which it is in warning (amber).")


class Comment(RequestBody):
    text: str = Field(min_length=1, max_length=4000)


@router.get("", summary="Work orders, most urgent first; filter by state, kind, pile, site, customer, priority, "
                        "SLA status (an engineer: the orders they hold; a customer's portal login: its own)")
@portal
def list_work_orders(
    conn: Conn,
    policy: PolicyDep,
    user: CurrentUser,
    state: Annotated[list[WorkOrderState] | None, Query()] = None,
    kind: WorkOrderKind | None = None,
    pile_id: str | None = None,
    site_id: str | None = None,
    customer_id: str | None = None,
    priority: Annotated[int | None, Query(ge=1, le=5)] = None,
    sla: SlaStatus | None = None,
    open: bool | None = Query(default=None, description="true: not closed or cancelled"),
    repeat: bool | None = Query(default=None, description="true: repeat repairs only"),
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Offset = 0,
) -> WorkOrdersPublic:
    where, params = [], {"warn": policy.sla.warn_at}
    if state:
        where.append("state = ANY(%(states)s)")
        params["states"] = [s.value for s in state]
    for column, value in (("kind", kind), ("pile_id", pile_id), ("customer_id", customer_id), ("priority", priority),
                          ("sla", sla)):
        if value is not None:
            where.append(f"{column} = %({column})s")
            params[column] = getattr(value, "value", value)
    if user.role is Role.ENGINEER:
        # An engineer's list holds only the orders they hold.
        where.append("engineer_id = %(engineer)s")
        params["engineer"] = user.engineer_id
    narrow(user, "customer_id", where, params)
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
    base = f"SELECT * FROM ({SELECT}) w{clause}"
    rows = conn.execute(base + " ORDER BY priority, created_at LIMIT %(limit)s OFFSET %(offset)s",
                        params | {"limit": limit, "offset": offset}).fetchall()
    count = conn.execute(f"SELECT count(*) AS n FROM ({base}) c", params).fetchone()["n"]
    return WorkOrdersPublic(data=[WorkOrderPublic(**public(r)) for r in rows], count=count)


@router.get("/sla-policy", summary="The SLA settings the console needs: the share of a clock after which it "
                                   "turns amber (the policy's sla.warn_at, when the warning goes out)")
def sla_policy(policy: PolicyDep) -> SlaPolicy:
    return SlaPolicy(warn_at=policy.sla.warn_at)


@router.get("/fault-categories", summary="The fault categories a reported fault may name: the live rule set's and "
                                         "'other' (what POST /work-orders accepts)")
def fault_categories(conn: PlainConn) -> list[str]:
    return sorted(fault_reports.categories(conn))


@router.get("/{order_id}", summary="One work order with its timeline, alarms, checklist and SLA clocks "
                                  "(its customer's portal login: without the staff's notes)")
@portal
def get_work_order(conn: Conn, policy: PolicyDep, user: CurrentUser, order_id: int) -> WorkOrderDetail:
    visible(conn, user, order_id)
    order = detail(conn, policy, order_id)
    return for_customer(order) if is_customer(user) else order


@router.post("", dependencies=[Depends(require(*DESK))], status_code=status.HTTP_201_CREATED,
             summary="Report a fault by hand; joins the pile's open order for the category if there is one (200)")
def report_fault(conn: PlainConn, actor: Actor, policy: PolicyDep, downlink: DownlinkDep, body: FaultReport,
                 response: Response) -> WorkOrderDetail:
    order_id, created = fault_reports.report_fault(
        conn, policy, downlink, pile_id=body.pile_id, fault_category=body.fault_category, title=body.title,
        description=body.description, severity=body.severity, safety=body.safety, actor=actor)
    if not created:
        response.status_code = status.HTTP_200_OK
    return detail(conn, policy, order_id)


@router.post("/installations", dependencies=[Depends(require(*DESK))], status_code=status.HTTP_201_CREATED, summary="Schedule an installation job")
def schedule_installation(conn: PlainConn, actor: Actor, policy: PolicyDep, body: InstallationCreate) -> WorkOrderDetail:
    if conn.execute("SELECT 1 FROM piles WHERE id = %s", (body.pile_id,)).fetchone() is None:
        raise NotFound(f"pile {body.pile_id!r} does not exist")
    order_id = create_installation(conn, body.pile_id, title=body.title, actor=actor, description=body.description,
                                   due_at=body.due_at)
    return detail(conn, policy, order_id)


@router.post("/{order_id}/transitions", dependencies=[Depends(require(*DISPATCH))],
             summary="Hold, cancel, escalate, send back to dispatch, close a verified order, or (supervisor) "
                     "verify a resolved safety order (409 names the allowed moves, or the endpoint that makes this one)")
def move(conn: PlainConn, user: CurrentUser, policy: PolicyDep, order_id: int, body: Transition) -> WorkOrderDetail:
    desk.move(conn, order_id, body.to, actor=user.id, note=body.note,
              supervisor="supervise" in groups_of(user.role))
    return detail(conn, policy, order_id)


class Merge(RequestBody):
    into: int = Field(ge=1, le=2**63 - 1, description="The open order of the same pile that carries on.")


@router.post("/{order_id}/merge", dependencies=[Depends(require(*DISPATCH))],
             summary="Merge this open order into another open order of the same pile: its alarms move there, it is "
                     "cancelled as merged (one fault, one visit); answers the order that carries on")
def merge(conn: PlainConn, user: CurrentUser, policy: PolicyDep, order_id: int, body: Merge) -> WorkOrderDetail:
    desk.merge(conn, order_id, body.into, actor=user.id)
    return detail(conn, policy, body.into)


@router.post("/{order_id}/comments", status_code=status.HTTP_201_CREATED, summary="Add a comment to the timeline")
def add_comment(conn: PlainConn, user: Annotated[User, Depends(require(*DESK, Role.ENGINEER))], order_id: int,
                body: Comment) -> None:
    visible(conn, user, order_id)
    if conn.execute("SELECT 1 FROM work_orders WHERE id = %s", (order_id,)).fetchone() is None:
        raise NotFound(f"work order {order_id} does not exist")
    note(conn, order_id, body.text, actor=user.id)
