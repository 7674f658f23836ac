"""The engineer's phone (R-REPAIR, R-REPORT, R-WARRANTY, R-PM): my orders, accept or decline,
en route with an ETA, arrive, diagnose, quote, parts, checklist, test, photos, the customer's
signature, complete, escalate. Plus the customer's answer to a quote (recorded by a service
agent) and the supervisor's decision on an escalation.

An engineer acts only on orders they hold; any other order answers 404, as if it did not
exist. Every POST here takes an optional Idempotency-Key header, so a phone that sends its
offline queue again applies each action once (api/idempotency.py, docs/field-api.md).
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Response, UploadFile
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from api.auth import ANYONE, DESK, SUPERVISE, EngineerUser, Role, User, require
from api.deps import BIGINT_MAX, DispatchConfigDep, DownlinkDep, PlainConn, PolicyDep
from api.idempotency import IdempotencyKey, IdempotentRoute
from api.customer_scope import portal
from api.work_order_view import WorkOrderDetail, detail, visible
from api.models import RequestBody
from maintenance.dispatch import offers as dispatch
from maintenance import fieldwork as field
from maintenance.fieldwork import MAX_PHOTO_BYTES, MAX_SIGNATURE_BYTES, CauseClass, PhotoStage, SupervisorAction
from maintenance.orders import WorkOrderKind
from pilecare.errors import InvalidInput, NotFound

router = APIRouter(tags=["field"], route_class=IdempotentRoute)

Engineer = EngineerUser
# A person's name as typed on a phone: "  " is no name, so it cannot sign a report off (R-REPORT).
Name = Annotated[str, StringConstraints(strip_whitespace=True)]
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
    kind: WorkOrderKind
    due_at: datetime | None = Field(description="Planned work: when it is due (null for corrective work).")
    due_date: date | None = Field(description="Planned work: the day it is due, on the site's calendar.")
    response_due_at: datetime | None = Field(description="When the response clock (SLA) runs out.")
    resolve_due_at: datetime | None = Field(description="When the resolve clock (SLA) runs out.")


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
    customer_signoff_name: Name | None = Field(default=None, max_length=200)


class Escalation(RequestBody):
    reason: str = Field(min_length=1, max_length=4000)
    safety: bool = False


class PhotoPublic(BaseModel):
    """A photo taken on the job (R-REPORT); its type and size are what decoding it found."""

    id: int
    order_id: int
    stage: PhotoStage
    content_type: str = Field(description="image/jpeg, image/png or image/webp, from decoding the file.")
    bytes: int = Field(description="Size of the image, in bytes.")
    width: int = Field(description="Pixels.")
    height: int = Field(description="Pixels.")
    caption: str | None
    taken_by: str = Field(description="The user who sent it.")
    created_at: datetime
    superseded_at: datetime | None = Field(
        default=None, description="Set for a photo of an earlier visit of a reopened order (that visit's mark).")
    url: str = Field(description="GET it for the image itself.")


class SignatureCreate(RequestBody):
    """The customer's signature drawn on the phone (R-REPORT)."""

    # A 256 KiB PNG is about 350,000 base64 characters; the bound keeps an absurd body from being parsed.
    image: str = Field(min_length=1, max_length=400_000, examples=["data:image/png;base64,iVBORw0KGgo…"],
                       description=f"A data URL, data:image/png;base64,…, of a PNG of at most "
                                   f"{MAX_SIGNATURE_BYTES // 1024} KiB decoded.")
    signer_name: Name = Field(min_length=1, max_length=200, description="The customer's person who signed.")


class SignaturePublic(BaseModel):
    order_id: int
    signer_name: str
    signed_at: datetime
    bytes: int = Field(description="Size of the PNG, in bytes.")
    url: str = Field(description="GET it for the PNG.")


class QuoteDecision(RequestBody):
    approve: bool
    approver_name: Name = Field(min_length=1, max_length=200, description="The customer's person who answered.")


class SupervisorDecision(RequestBody):
    action: SupervisorAction
    note: str = Field(min_length=1, max_length=4000)


@router.get("/field/work-orders", summary="My open orders (offered, accepted, under way)")
def my_orders(conn: PlainConn, user: Engineer) -> list[MyOrder]:
    rows = conn.execute(
        "SELECT o.id, o.state, o.priority, o.title, o.pile_id, s.name, s.address, coalesce(p.lat, s.lat), "
        "coalesce(p.lon, s.lon), o.eta, a.accept_by, o.safety, o.warranty, c.contact_name, c.contact_phone, "
        "o.kind, o.due_at, (o.due_at AT TIME ZONE s.timezone)::date, o.response_due_at, o.resolve_due_at "
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


@router.post("/field/work-orders/{order_id}/quote-decision",
             summary="The customer's answer to the pending quote, given on site (R-WARRANTY)")
def quote_on_site(conn: PlainConn, user: Engineer, order_id: int, body: QuoteDecision) -> dict:
    """The customer's person at the pile approves or rejects the order's pending quote on the
    engineer's phone; `approver_name` is theirs. 409 when no quote is pending or the order is
    not on site; a rejection puts the order on hold (as at the desk, /quotes/{id}/decision)."""
    quote_id = field.decide_on_site(conn, order_id, user.engineer_id, approve=body.approve,
                                    approver_name=body.approver_name, actor=user.id)
    return field.quote(conn, quote_id)


@router.post("/field/work-orders/{order_id}/parts", status_code=201,
             summary="Parts used (stock goes down); a repeat with the same Idempotency-Key is recorded once")
def use_part(conn: PlainConn, policy: PolicyDep, user: Engineer, order_id: int, body: PartUsed,
             idempotency_key: IdempotencyKey) -> WorkOrderDetail:
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


def _photo_url(photo: dict) -> str:
    return f"/work-orders/{photo['order_id']}/photos/{photo['id']}"


def _signature_url(order_id: int) -> str:
    return f"/work-orders/{order_id}/signature"


@router.post("/field/work-orders/{order_id}/photos", status_code=201,
             summary=f"A photo of the job, before or after (JPEG, PNG or WebP, ≤ {MAX_PHOTO_BYTES // 2**20} MiB, "
                     "≤ 20 per order)")
def add_photo(conn: PlainConn, user: Engineer, order_id: int,
              file: Annotated[UploadFile, File(description="The photo: JPEG, PNG or WebP, found by decoding it (the "
                                                           "file name and its content type are not trusted).")],
              stage: Annotated[PhotoStage, Form()],
              caption: Annotated[str | None, Form(max_length=500)] = None) -> PhotoPublic:
    """Refused: 413 (`file`) over 5 MiB, 422 (`file`) when it does not decode as a JPEG, PNG or
    WebP, 409 when the visit has 20 photos already or is not under way (accepted, en route,
    on site, resolved), 404 for an order the engineer does not hold."""
    data = file.file.read(MAX_PHOTO_BYTES + 1)  # one byte past the limit is enough to refuse it
    photo = field.add_photo(conn, order_id, user.engineer_id, data=data, stage=stage, caption=caption, actor=user.id)
    return PhotoPublic(**photo, url=_photo_url(photo))


@router.post("/field/work-orders/{order_id}/signature", status_code=201,
             summary="The customer's drawn signature (a PNG data URL); a new one replaces the earlier")
def sign(conn: PlainConn, user: Engineer, order_id: int, body: SignatureCreate) -> SignaturePublic:
    """Refused: 413 (`image`) over 256 KiB decoded, 422 (`image`) when it is not a base64 PNG
    data URL that decodes; 409 and 404 as for photos."""
    signed = field.sign(conn, order_id, user.engineer_id, image=body.image, signer_name=body.signer_name,
                        actor=user.id)
    return SignaturePublic(**signed, url=_signature_url(order_id))


Anyone = Annotated[User, Depends(require(*ANYONE))]
PhotoId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]


def _seen(conn, user: User, order_id: int) -> None:
    """NotFound unless the order exists and the user may see it (an engineer: only orders they hold)."""
    visible(conn, user, order_id)
    if conn.execute("SELECT 1 FROM work_orders WHERE id = %s", (order_id,)).fetchone() is None:
        raise NotFound(f"work order {order_id} does not exist")


_IMAGE_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private"}


@router.get("/work-orders/{order_id}/photos", summary="The order's photos (metadata; each url gives the image)")
@portal
def list_photos(conn: PlainConn, user: Anyone, order_id: int) -> list[PhotoPublic]:
    _seen(conn, user, order_id)
    return [PhotoPublic(**p, url=_photo_url(p)) for p in field.photos(conn, order_id)]


@router.get("/work-orders/{order_id}/photos/{photo_id}", response_class=Response,
            responses={200: {"content": {t: {"schema": {"type": "string", "format": "binary"}}
                                         for t in ("image/jpeg", "image/png", "image/webp")},
                             "description": "The image, with the type found when it was stored."}},
            summary="One photo's image")
@portal
def get_photo(conn: PlainConn, user: Anyone, order_id: int, photo_id: PhotoId) -> Response:
    _seen(conn, user, order_id)
    found = field.photo(conn, order_id, photo_id)
    if found is None:
        raise NotFound(f"work order {order_id} has no photo {photo_id}")
    return Response(content=found[1], media_type=found[0], headers=_IMAGE_HEADERS)


@router.get("/work-orders/{order_id}/signature", response_class=Response,
            responses={200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "The customer's signature."}},
            summary="The customer's signature (PNG)")
@portal
def get_signature(conn: PlainConn, user: Anyone, order_id: int) -> Response:
    _seen(conn, user, order_id)
    image = field.signature_image(conn, order_id)
    if image is None:
        raise NotFound(f"work order {order_id} has no customer signature")
    return Response(content=image, media_type="image/png", headers=_IMAGE_HEADERS)


@router.post("/field/work-orders/{order_id}/escalate", summary="Safety or severe quality finding: to the supervisor")
def escalate(conn: PlainConn, policy: PolicyDep, user: Engineer, order_id: int, body: Escalation) -> WorkOrderDetail:
    field.escalate(conn, order_id, user.engineer_id, reason=body.reason, safety=body.safety, actor=user.id)
    return detail(conn, policy, order_id)


@router.get("/work-orders/{order_id}/report",
            summary="The service report, parts used and quotes; a reopened order's earlier visits too")
@portal
def report(conn: PlainConn, user: Anyone, order_id: int) -> dict:
    """{report, parts, quotes, earlier_visits, signature: {signer_name, signed_at, url} | null,
    photos: [PhotoPublic, …]} (maintenance/fieldwork/report.py, service_report)."""
    visible(conn, user, order_id)
    found = field.service_report(conn, order_id, user.engineer_id if user.role is Role.ENGINEER else None)
    signature = found["signature"]
    return found | {"signature": signature and signature | {"url": _signature_url(order_id)},
                    "photos": _public_photos(found["photos"]),
                    "earlier_visits": [visit | {"photos": _public_photos(visit["photos"])}
                                       for visit in found["earlier_visits"]]}


def _public_photos(photos: list[dict]) -> list[dict]:
    return [PhotoPublic(**p, url=_photo_url(p)).model_dump() for p in photos]


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
