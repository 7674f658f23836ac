"""Customers' requests as the desk and the portal read them: the inbox row, the request
page (thread, timeline, linked order, complaint, follow-up) and who may see which.

A customer's user sees only their own customer's requests, and never internal notes or
the timeline; anyone else's request answers 404, as if it did not exist (R-INFO).
"""
from __future__ import annotations

from datetime import datetime

import psycopg
from pydantic import BaseModel, Field

from api.accounts import User
from api.customer_scope import Owned, check, is_customer
from maintenance.servicedesk import number
from pilecare.errors import NotFound

COLUMNS = ("r.id, r.customer_id, c.name AS customer_name, r.contact_id, ct.name AS contact_name, r.pile_id, r.site_id, "
           "r.channel, r.class, r.suggested_class, r.state, r.subject, r.caller, r.tier, r.created_at, r.created_by, "
           "r.updated_at, r.response_due_at, r.responded_at, r.resolve_due_at, r.resolved_at, r.closed_at, "
           "r.waiting_since, r.promised_at, r.agent, r.work_order_id, r.next_due_at, r.sla_warned_at, r.sla_breached_at")
FROM = ("FROM requests r LEFT JOIN customers c ON c.id = r.customer_id "
        "LEFT JOIN customer_contacts ct ON ct.id = r.contact_id")


class RequestPublic(BaseModel):
    """One customer request (R-INTAKE) with its clocks (R-RESPONSE). Times are UTC."""

    id: int
    number: str = Field(description="As the customer sees it, e.g. SR-123 (in mail subjects).")
    customer_id: str | None = Field(description="None: a sender no contact has, waiting for an agent to link it.")
    customer_name: str | None
    contact_id: int | None
    contact_name: str | None
    pile_id: str | None
    site_id: str | None
    channel: str
    request_class: str | None = Field(description="consultation, fault_report, installation_request, complaint, "
                                                  "suggestion; None until an agent decides.")
    suggested_class: str | None
    state: str
    subject: str
    caller: str | None = Field(description="The number (E.164) or address it came from; staff only.")
    tier: str
    created_at: datetime
    created_by: str
    updated_at: datetime
    response_due_at: datetime
    responded_at: datetime | None
    resolve_due_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    waiting_since: datetime | None = Field(description="Set while the request waits for the customer: clocks paused.")
    promised_at: datetime | None
    agent: str | None
    work_order_id: int | None
    next_due_at: datetime = Field(description="The clock raced next: first response until given, then resolution.")
    sla_warned_at: datetime | None
    sla_breached_at: datetime | None


class RequestsPublic(BaseModel):
    data: list[RequestPublic]
    count: int


class MessagePublic(BaseModel):
    id: int
    at: datetime
    direction: str = Field(description="in (from the customer), out (to the customer), note (internal).")
    channel: str
    author: str
    kind: str
    body: str


class EventPublic(BaseModel):
    at: datetime
    actor: str
    from_state: str | None
    to_state: str | None
    note: str | None


class RequestDetail(RequestPublic):
    description: str | None
    messages: list[MessagePublic]
    timeline: list[EventPublic] = Field(description="Every state change and decision with who and when; staff only.")
    complaint_id: int | None
    follow_up_id: int | None


SERVICE_DESK = "service desk"   # who staff are to a customer


def public(row: dict, user: User) -> dict:
    out = dict(row)
    out["number"] = number(row["id"])
    out["request_class"] = out.pop("class")
    if is_customer(user):
        # Staff stay "the service desk" to a customer, as on their work orders.
        out["caller"], out["agent"] = None, None
        out["created_by"] = SERVICE_DESK if row["channel"] == "phone" else row["created_by"]
    return out


def visible(conn: psycopg.Connection, user: User, request_id: int) -> None:
    """Raise NotFound unless `user` may see the request (a customer: only their own)."""
    check(conn, user, Owned.REQUEST, request_id)


def detail(conn: psycopg.Connection, user: User, request_id: int) -> RequestDetail:
    row = conn.execute(f"SELECT {COLUMNS}, r.description {FROM} WHERE r.id = %s", (request_id,)).fetchone()
    if row is None:
        raise NotFound(f"request {request_id} does not exist")
    customer = is_customer(user)
    messages = conn.execute(
        "SELECT id, at, direction, channel, author, kind, body FROM request_messages WHERE request_id = %s "
        + ("AND direction <> 'note' " if customer else "") + "ORDER BY at, id", (request_id,)).fetchall()
    if customer:
        messages = [m | {"author": SERVICE_DESK} if m["direction"] == "out" else m for m in messages]
    timeline = [] if customer else conn.execute(
        "SELECT at, actor, from_state, to_state, note FROM request_events WHERE request_id = %s ORDER BY at, id",
        (request_id,)).fetchall()
    complaint = conn.execute("SELECT id FROM complaints WHERE request_id = %s", (request_id,)).fetchone()
    follow_up = conn.execute("SELECT id FROM follow_ups WHERE request_id = %s OR (work_order_id = %s) LIMIT 1",
                             (request_id, row["work_order_id"])).fetchone()
    return RequestDetail(**public(row, user), messages=[MessagePublic(**m) for m in messages],
                         timeline=[EventPublic(**e) for e in timeline],
                         complaint_id=complaint["id"] if complaint else None,
                         follow_up_id=follow_up["id"] if follow_up else None)
