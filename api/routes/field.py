"""The engineer's phone (R-REPAIR, R-REPORT, R-WARRANTY, R-PM): my orders, accept or decline,
en route with an ETA, arrive, diagnose, quote, parts, checklist, test, complete, escalate. Plus the
customer's answer to a quote (recorded by a service agent) and the supervisor's decision
on an escalation.

An engineer acts only on orders they hold; any other order answers 404, as if it did not
exist.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import ANYONE, DESK, SUPERVISE, EngineerUser, Role, User, require
from api.deps import DispatchConfigDep, DownlinkDep, PlainConn, PolicyDep
from api.work_order_view import WorkOrderDetail, detail
from api.models import RequestBody
from maintenance.dispatch import offers as dispatch
from maintenance import fieldwork as field
from maintenance.fieldwork import CauseClass, SupervisorAction
from pilecare.errors import InvalidInput

router = APIRouter(tags=["field"])

Engineer = EngineerUser
Desk = Annotated[User, Depends(require(*DESK))]
Supervisor = Annotated[User, Depends(require(*SUPERVISE))]


class MyOrder(BaseModel):
    id: int
    state: str
    priority: int
    title: str
    pile_id: str
    site_name: str
    address: str | None
    lat: float
    lon: float
    eta: datetime | None
    accept_by: datetime | None = Field(description="Answer the offer by then, or it goes to someone else.")
    safety: bool
    warranty: str | None
    # The engineer going there needs to reach the customer's contact (R-INFO).
    contact_name: str | None
    contact_phone: str | None


class Decline(RequestBody):
    reason: str = Field(min_length=1, max_length=500)


class EnRoute(RequestBody):
    eta: AwareDatetime


class Position(RequestBody):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Diagnosis(RequestBody):
    diagnosis: str = Field(min_length=1, max_length=4000)
    cause_class: CauseClass


class QuoteLine(RequestBody):
    part_id: str
    quantity: int = Field(ge=1, le=1000)


class QuoteCreate(RequestBody):
    parts: list[QuoteLine] = Field(default_factory=list)
    labour_h: float = Field(ge=0, le=200)
    travel_km: float = Field(ge=0, le=5000)


class PartUsed(RequestBody):
    part_id: str
    quantity: int = Field(ge=1, le=1000)
    location_id: str = Field(description="The engineer's van or a warehouse.")
    defective_returned: bool = Field(default=False, description="The removed part goes back for analysis.")
    request_id: str | None = Field(default=None, min_length=1, max_length=200,
                                   description="Same as the Idempotency-Key header: a repeat is recorded once.")


class TestResult(RequestBody):
    passed: bool
    notes: str = Field(min_length=1, max_length=4000)


class ChecklistTick(RequestBody):
    """One checklist item of planned work answered on site (R-PM, R-INSPECT, R-INSTALL)."""

    item: str = Field(min_length=1, max_length=200, description="The item exactly as the order's checklist names it.")
    done: bool
    note: str | None = Field(default=None, max_length=4000,
                             description="Required to complete when done is false: why it could not be done.")
    reading: str | None = Field(default=None, max_length=200, description="A measured value, e.g. '520 MΩ'.")


class Report(RequestBody):
    """The service report (R-REPORT); fields already recorded may be left out. Planned work
    needs only the sign-off name here (with its checklist and test); see maintenance/fieldwork/report.py complete."""

    fault_cause: str | None = Field(default=None, max_length=4000)
    action_taken: str | None = Field(default=None, max_length=4000)
    no_parts: bool | None = Field(default=None, description="Say so explicitly when no part was used.")
    customer_opinion: str | None = Field(default=None, max_length=4000)
    customer_rating: int | None = Field(default=None, ge=1, le=5)
    customer_signoff_name: str | None = Field(default=None, max_length=200)


class Escalation(RequestBody):
    reason: str = Field(min_length=1, max_length=4000)
    safety: bool = False


class QuoteDecision(RequestBody):
    approve: bool
    approver_name: str = Field(min_length=1, max_length=200, description="The customer's person who answered.")


class SupervisorDecision(RequestBody):
    action: SupervisorAction
    note: str = Field(min_length=1, max_length=4000)


@router.get("/field/work-orders", summary="My open orders (offered, accepted, under way)")
def my_orders(conn: PlainConn, user: Engineer) -> list[MyOrder]:
    rows = conn.execute(
        "SELECT o.id, o.state, o.priority, o.title, o.pile_id, s.name, s.address, coalesce(p.lat, s.lat), "
        "coalesce(p.lon, s.lon), o.eta, a.accept_by, o.safety, o.warranty, c.contact_name, c.contact_phone "
        "FROM work_orders o JOIN piles p ON p.id = o.pile_id JOIN sites s ON s.id = p.site_id "
        "JOIN customers c ON c.id = s.customer_id "
        "LEFT JOIN assignments a ON a.work_order_id = o.id AND a.state = 'offered' "
        "WHERE o.engineer_id = %s AND o.closed_at IS NULL ORDER BY o.priority, o.created_at",
        (user.engineer_id,)).fetchall()
    names = list(MyOrder.model_fields)
    return [MyOrder(**dict(zip(names, r))) for r in rows]


@router.post("/field/work-orders/{order_id}/accept", summary="Accept the offer")
def accept(conn: PlainConn, policy: PolicyDep, user: Engineer, order_id: int) -> WorkOrderDetail:
    dispatch.accept(conn, order_id, user.engineer_id)
    return detail(conn, policy, order_id)


@router.post("/field/work-orders/{order_id}/decline", summary="Decline the offer; dispatch picks someone else")
def decline(conn: PlainConn, policy: PolicyDep, config: DispatchConfigDep, user: Engineer, order_id: int,
            body: Decline) -> WorkOrderDetail:
    dispatch.decline(conn, order_id, user.engineer_id, body.reason, config=config)
    return detail(conn, policy, order_id)


@router.post("/field/work-orders/{order_id}/en-route", summary="On the way, with an ETA the customer is told")
def en_route(conn: PlainConn, policy: PolicyDep, user: Engineer, order_id: int, body: EnRoute) -> WorkOrderDetail:
    field.start_travel(conn, order_id, user.engineer_id, eta=body.eta, actor=user.id)
    return detail(conn, policy, order_id)


@router.post("/field/work-orders/{order_id}/arrive", summary="Arrived: the position must be at the pile")
def arrive(conn: PlainConn, policy: PolicyDep, user: Engineer, order_id: int, body: Position) -> WorkOrderDetail:
    field.arrive(conn, policy, order_id, user.engineer_id, lat=body.lat, lon=body.lon, actor=user.id)
    return detail(conn, policy, order_id)


@router.post("/field/work-orders/{order_id}/diagnosis", summary="Diagnosis; it settles warranty")
def diagnose(conn: PlainConn, policy: PolicyDep, user: Engineer, order_id: int, body: Diagnosis) -> WorkOrderDetail:
    field.diagnose(conn, policy, order_id, user.engineer_id, diagnosis=body.diagnosis, cause_class=body.cause_class,
                   actor=user.id)
    return detail(conn, policy, order_id)


@router.post("/field/work-orders/{order_id}/quote", status_code=201, summary="Quote work outside warranty")
def quote(conn: PlainConn, policy: PolicyDep, user: Engineer, order_id: int, body: QuoteCreate) -> dict:
    quote_id = field.make_quote(conn, policy, order_id, user.engineer_id,
                                parts=[(line.part_id, line.quantity) for line in body.parts],
                                labour_h=body.labour_h, travel_km=body.travel_km, actor=user.id)
    return field.quote(conn, quote_id)


@router.post("/field/work-orders/{order_id}/parts", status_code=201,
             summary="Parts used (stock goes down); a repeat with the same Idempotency-Key is recorded once")
def use_part(conn: PlainConn, policy: PolicyDep, user: Engineer, order_id: int, body: PartUsed,
             idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None) -> WorkOrderDetail:
    if idempotency_key and body.request_id and idempotency_key != body.request_id:
        raise InvalidInput("the Idempotency-Key header and request_id differ; send one of them")
    field.use_part(conn, order_id, user.engineer_id, part_id=body.part_id, quantity=body.quantity,
                   location_id=body.location_id, defective_returned=body.defective_returned, actor=user.id,
                   request_id=idempotency_key or body.request_id)
    return detail(conn, policy, order_id)


@router.post("/field/work-orders/{order_id}/test", summary="The on-site test result")
def test(conn: PlainConn, policy: PolicyDep, user: Engineer, order_id: int, body: TestResult) -> WorkOrderDetail:
    field.record_test(conn, order_id, user.engineer_id, passed=body.passed, notes=body.notes, actor=user.id)
    return detail(conn, policy, order_id)


@router.post("/field/work-orders/{order_id}/checklist", summary="Tick one checklist item of planned work")
def tick(conn: PlainConn, policy: PolicyDep, user: Engineer, order_id: int, body: ChecklistTick) -> WorkOrderDetail:
    field.tick(conn, order_id, user.engineer_id, item=body.item, done=body.done, note_text=body.note,
               reading=body.reading, actor=user.id)
    return detail(conn, policy, order_id)


@router.post("/field/work-orders/{order_id}/complete", summary="Complete: refused unless the report is complete")
def complete(conn: PlainConn, policy: PolicyDep, user: Engineer, order_id: int, body: Report) -> WorkOrderDetail:
    field.complete(conn, order_id, user.engineer_id, actor=user.id, **body.model_dump())
    return detail(conn, policy, order_id)


@router.post("/field/work-orders/{order_id}/escalate", summary="Safety or severe quality finding: to the supervisor")
def escalate(conn: PlainConn, policy: PolicyDep, user: Engineer, order_id: int, body: Escalation) -> WorkOrderDetail:
    field.escalate(conn, order_id, user.engineer_id, reason=body.reason, safety=body.safety, actor=user.id)
    return detail(conn, policy, order_id)


@router.get("/work-orders/{order_id}/report",
            summary="The service report, parts used and quotes; a reopened order's earlier visits too")
def report(conn: PlainConn, user: Annotated[User, Depends(require(*ANYONE))], order_id: int) -> dict:
    return field.service_report(conn, order_id, user.engineer_id if user.role is Role.ENGINEER else None)


@router.post("/quotes/{quote_id}/decision", summary="Record the customer's answer to a quote")
def decide_quote(conn: PlainConn, user: Desk, quote_id: int, body: QuoteDecision) -> dict:
    field.decide_quote(conn, quote_id, approve=body.approve, approver_name=body.approver_name, actor=user.id)
    return field.quote(conn, quote_id)


@router.post("/work-orders/{order_id}/escalation-decision", summary="Supervisor: out of service, replace, or back")
def decide(conn: PlainConn, policy: PolicyDep, user: Supervisor, downlink: DownlinkDep, order_id: int,
           body: SupervisorDecision) -> WorkOrderDetail:
    field.decide_escalation(conn, downlink, order_id, action=body.action, note_text=body.note, actor=user.id,
                            settle_s=policy.command_settle_s)
    return detail(conn, policy, order_id)
