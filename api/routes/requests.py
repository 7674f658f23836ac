"""Customers' requests (issue 13; R-INTAKE, R-RESPONSE): the agents' inbox ordered by due
time, logging a call, the request page, classifying, answering, waiting for the customer,
resolving; and the customer portal's side (open a request, follow it, reply)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import AwareDatetime, Field

from api.auth import DESK, Actor, CurrentUser, Role, require
from api.customer_scope import Owned, check, is_customer, narrow, portal
from api.deps import Conn, DownlinkDep, Offset, PlainConn, PolicyDep
from api.models import RequestBody
from api.request_view import COLUMNS, FROM, RequestDetail, RequestPublic, RequestsPublic, detail, public, visible
from maintenance.servicedesk import Channel, MessageKind, RequestClass, RequestState, add_message, move, open_request
from maintenance.servicedesk import contacts, intake, mail_out, requests as desk_requests
from pilecare.domain import Severity
from pilecare.errors import InvalidInput, NotFound

router = APIRouter(prefix="/requests", tags=["service desk"])
STAFF_OR_CUSTOMER = (*DESK, Role.CUSTOMER)


class CallLog(RequestBody):
    """A phone call an agent takes (R-INTAKE). The caller's number is normalised (E.164) and
    matched to a contact; the pile is found by id, serial number or site."""

    caller: str = Field(min_length=3, max_length=40, description="The number the call came from, as shown.")
    customer_id: str | None = Field(default=None, description="When the number matches no contact.")
    pile: str | None = Field(default=None, max_length=64, description="Pile id or serial number.")
    site_id: str | None = None
    subject: str = Field(min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=8000)
    request_class: RequestClass | None = Field(default=None, description="Decide at once; else later.")
    fault_category: str | None = Field(default=None, max_length=40)
    severity: Severity = Severity.MAJOR
    safety: bool = False
    answer: str | None = Field(default=None, max_length=8000,
                               description="A simple question answered on the call: the request is resolved at once.")


class PortalRequest(RequestBody):
    """A request from the customer portal (channel web)."""

    subject: str = Field(min_length=1, max_length=300)
    description: str = Field(min_length=1, max_length=8000)
    pile_id: str | None = None
    site_id: str | None = None
    customer_id: str | None = Field(default=None, description="Staff entering a web request for a customer; "
                                                              "a customer's own user leaves it out.")


class Classification(RequestBody):
    request_class: RequestClass
    fault_category: str | None = Field(default=None, max_length=40, description="Needed for a fault report.")
    severity: Severity = Severity.MAJOR
    safety: bool = False


class MessageCreate(RequestBody):
    body: str = Field(min_length=1, max_length=8000)
    kind: MessageKind = Field(default=MessageKind.ANSWER,
                              description="Staff: answer, progress, message or note (internal). A customer's "
                                          "message is always a message.")


class Move(RequestBody):
    note: str | None = Field(default=None, max_length=4000)


class Promise(RequestBody):
    promised_at: AwareDatetime = Field(description="When the full answer will be given (R-RESPONSE).")
    note: str | None = Field(default=None, max_length=4000)


class Link(RequestBody):
    customer_id: str
    contact_id: int | None = Field(default=None, ge=1)


class Take(RequestBody):
    pile_id: str | None = Field(default=None, description="Set or correct the request's pile.")


_STAFF_KINDS = {MessageKind.ANSWER, MessageKind.PROGRESS, MessageKind.MESSAGE, MessageKind.NOTE}


@router.get("", dependencies=[Depends(require(*STAFF_OR_CUSTOMER))],
            summary="Requests, next due first (the agents' inbox); a customer sees only their own")
@portal
def list_requests(
    conn: Conn,
    user: CurrentUser,
    state: Annotated[list[RequestState] | None, Query()] = None,
    open: bool | None = Query(default=None, description="true: new, open or waiting for the customer"),
    request_class: Annotated[RequestClass | None, Query(alias="class")] = None,
    channel: Channel | None = None,
    customer_id: str | None = None,
    pile_id: str | None = None,
    agent: str | None = None,
    breached: bool | None = Query(default=None, description="true: past a due time (escalated)"),
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Offset = 0,
) -> RequestsPublic:
    where, params = [], {}
    if state:
        where.append("r.state = ANY(%(states)s)")
        params["states"] = [s.value for s in state]
    if open is not None:
        where.append(("" if open else "NOT ") + "(r.state IN ('new', 'open', 'waiting_customer'))")
    for column, value in (("class", request_class), ("channel", channel), ("customer_id", customer_id),
                          ("pile_id", pile_id), ("agent", agent)):
        if value is not None:
            where.append(f"r.{column} = %({column})s")
            params[column] = getattr(value, "value", value)
    if breached is not None:
        where.append(("" if breached else "NOT ") + "(r.sla_breached_at IS NOT NULL)")
    narrow(user, "r.customer_id", where, params)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    rows = conn.execute(f"SELECT {COLUMNS} {FROM}{clause} ORDER BY r.next_due_at, r.id LIMIT %(limit)s "
                        f"OFFSET %(offset)s", params | {"limit": limit, "offset": offset}).fetchall()
    count = conn.execute(f"SELECT count(*) AS n FROM requests r{clause}", params).fetchone()["n"]
    return RequestsPublic(data=[RequestPublic(**public(r, user)) for r in rows], count=count)


@router.get("/{request_id}", dependencies=[Depends(require(*STAFF_OR_CUSTOMER))],
            summary="One request: its thread, timeline (staff), linked order, complaint and follow-up")
@portal
def get_request(conn: Conn, user: CurrentUser, request_id: int) -> RequestDetail:
    visible(conn, user, request_id)
    return detail(conn, user, request_id)


@router.post("/calls", dependencies=[Depends(require(*DESK))], status_code=status.HTTP_201_CREATED,
             summary="Log a phone call: the caller matched to a contact, the pile found, classified at once if known")
def log_call(conn: PlainConn, dict_conn: Conn, user: CurrentUser, actor: Actor, policy: PolicyDep,
             downlink: DownlinkDep, body: CallLog) -> RequestDetail:
    caller = contacts.normalise_phone(body.caller, policy.desk.phone_region, field="caller")
    match = contacts.by_phone(conn, caller)
    customer_id = body.customer_id or (match.customer_id if match else None)
    if customer_id is None:
        raise InvalidInput(f"customer_id: no contact has the number {caller}; name the customer")
    contact_id = match.contact_id if match and match.customer_id == customer_id else None
    pile_id = _pile(conn, body.pile) if body.pile else None
    with conn.transaction():
        request_id = open_request(conn, policy, customer_id=customer_id, channel=Channel.PHONE, subject=body.subject,
                                  description=body.description, contact_id=contact_id, pile_id=pile_id,
                                  site_id=body.site_id, caller=caller, actor=actor,
                                  suggested_class=intake.suggest(f"{body.subject}\n{body.description or ''}"))
        if body.description:
            add_message(conn, request_id, direction="in", channel="phone", author=caller, body=body.description)
        conn.execute("UPDATE requests SET agent = %s WHERE id = %s", (actor, request_id))
        if body.request_class is not None:
            intake.classify(conn, policy, downlink, request_id, body.request_class, actor=actor,
                            fault_category=body.fault_category, severity=body.severity, safety=body.safety)
        if body.answer:
            add_message(conn, request_id, direction="out", channel="phone", author=actor, kind=MessageKind.ANSWER,
                        body=body.answer)
            move(conn, request_id, RequestState.RESOLVED, actor=actor, note="answered on the call")
    return detail(dict_conn, user, request_id)


def _pile(conn, ref: str) -> str:
    row = conn.execute("SELECT id FROM piles WHERE id = %s OR serial = %s ORDER BY (id = %s) DESC LIMIT 1",
                       (ref, ref, ref)).fetchone()
    if row is None:
        raise NotFound(f"pile: no pile has the id or serial number {ref!r}")
    return row[0]


@router.post("", dependencies=[Depends(require(*STAFF_OR_CUSTOMER))], status_code=status.HTTP_201_CREATED,
             summary="Open a request from the portal (channel web); a customer's user opens it for their customer")
@portal
def open_web_request(conn: PlainConn, dict_conn: Conn, user: CurrentUser, actor: Actor, policy: PolicyDep,
                     body: PortalRequest) -> RequestDetail:
    if is_customer(user):
        if body.customer_id not in (None, user.customer_id):
            raise NotFound(f"customer {body.customer_id!r} does not exist")
        customer_id = user.customer_id
        # Another customer's pile or site answers as a missing one (R-INFO), never "belongs to another customer".
        for field, kind, key in (("pile_id", Owned.PILE, body.pile_id), ("site_id", Owned.SITE, body.site_id)):
            if key is not None:
                try:
                    check(dict_conn, user, kind, key)
                except NotFound:
                    raise NotFound(f"{field}: {kind.value} {key!r} does not exist") from None
    elif body.customer_id is None:
        raise InvalidInput("customer_id: staff name the customer the request is for")
    else:
        customer_id = body.customer_id
    with conn.transaction():
        request_id = open_request(conn, policy, customer_id=customer_id, channel=Channel.WEB, subject=body.subject,
                                  description=body.description, pile_id=body.pile_id, site_id=body.site_id,
                                  actor=actor, suggested_class=intake.suggest(f"{body.subject}\n{body.description}"))
        add_message(conn, request_id, direction="in", channel="web", author=actor, body=body.description)
    return detail(dict_conn, user, request_id)


@router.post("/{request_id}/messages", dependencies=[Depends(require(*STAFF_OR_CUSTOMER))],
             status_code=status.HTTP_201_CREATED,
             summary="Add to the thread: staff answer, update or note; the customer replies (resumes a paused clock)")
@portal
def post_message(conn: PlainConn, dict_conn: Conn, user: CurrentUser, actor: Actor, request_id: int,
                 body: MessageCreate) -> RequestDetail:
    visible(dict_conn, user, request_id)
    if is_customer(user):
        add_message(conn, request_id, direction="in", channel="web", author=actor, body=body.body)
    else:
        if body.kind not in _STAFF_KINDS:
            raise InvalidInput(f"kind: staff write {', '.join(sorted(k.value for k in _STAFF_KINDS))}; "
                               f"{body.kind.value} is sent by pilecare itself")
        if body.kind is MessageKind.NOTE:
            add_message(conn, request_id, direction="note", channel="internal", author=actor, kind=body.kind,
                        body=body.body)
        else:   # by e-mail for a request that came by e-mail
            mail_out.reply(conn, request_id, kind=body.kind, body=body.body, author=actor)
    return detail(dict_conn, user, request_id)


@router.post("/{request_id}/classify", dependencies=[Depends(require(*DESK))],
             summary="Decide the class: a fault report joins or opens the pile's order, an installation request "
                     "opens an installation job, a complaint starts its lifecycle")
def classify(conn: PlainConn, dict_conn: Conn, user: CurrentUser, actor: Actor, policy: PolicyDep,
             downlink: DownlinkDep, request_id: int, body: Classification) -> RequestDetail:
    intake.classify(conn, policy, downlink, request_id, body.request_class, actor=actor,
                    fault_category=body.fault_category, severity=body.severity, safety=body.safety)
    return detail(dict_conn, user, request_id)


_MOVES = {"wait": (RequestState.WAITING_CUSTOMER, "Wait for the customer: both clocks pause"),
          "resolve": (RequestState.RESOLVED, "Resolved: answered, or its job done"),
          "close": (RequestState.CLOSED, "Close"),
          "reopen": (RequestState.OPEN, "Reopen (or resume a request waiting for the customer)")}


def _mover(to: RequestState):
    def handler(conn: PlainConn, dict_conn: Conn, user: CurrentUser, actor: Actor, request_id: int,
                body: Move | None = None) -> RequestDetail:
        move(conn, request_id, to, actor=actor, note=body.note if body else None)
        return detail(dict_conn, user, request_id)
    return handler


for _path, (_to, _summary) in _MOVES.items():
    router.add_api_route(f"/{{request_id}}/{_path}", _mover(_to), methods=["POST"], summary=_summary,
                         dependencies=[Depends(require(*DESK))], response_model=RequestDetail,
                         name=f"request_{_path}")


@router.post("/{request_id}/promise", dependencies=[Depends(require(*DESK))],
             summary="A complex question: promise when the full answer comes (a response; R-RESPONSE)")
def promise(conn: PlainConn, dict_conn: Conn, user: CurrentUser, actor: Actor, request_id: int,
            body: Promise) -> RequestDetail:
    desk_requests.promise(conn, request_id, body.promised_at, actor=actor)
    if body.note:
        mail_out.reply(conn, request_id, kind=MessageKind.PROGRESS, body=body.note, author=actor)
    return detail(dict_conn, user, request_id)


@router.post("/{request_id}/link", dependencies=[Depends(require(*DESK))],
             summary="Link a request from an unknown sender to its customer (and contact)")
def link(conn: PlainConn, dict_conn: Conn, user: CurrentUser, actor: Actor, request_id: int,
         body: Link) -> RequestDetail:
    desk_requests.link_customer(conn, request_id, body.customer_id, actor=actor, contact_id=body.contact_id)
    return detail(dict_conn, user, request_id)


@router.post("/{request_id}/take", dependencies=[Depends(require(*DESK))],
             summary="Take the request (it becomes yours); optionally set its pile")
def take(conn: PlainConn, dict_conn: Conn, user: CurrentUser, actor: Actor, request_id: int,
         body: Take | None = None) -> RequestDetail:
    desk_requests.take(conn, request_id, actor=actor, pile_id=_pile(conn, body.pile_id) if body and body.pile_id
                       else None)
    return detail(dict_conn, user, request_id)
