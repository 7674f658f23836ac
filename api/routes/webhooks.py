"""Webhook endpoints and their deliveries (admin only): register an endpoint (its signing
secret is shown once), subscribe it to events, see every delivery with its attempts and
last error, retry a dead one by hand. See docs/webhooks.md for receivers."""
from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

import psycopg
from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, Field, field_validator

from api.auth import User, require
from api.deps import Conn, Offset
from api.models import RequestBody
from maintenance.outbox import delivery as deliver
from maintenance.outbox.delivery import CUSTOMER_EVENTS
from maintenance.outbox.events import Event
from pilecare.errors import InvalidInput, NotFound

router = APIRouter(tags=["webhooks"])

Admin = Annotated[User, Depends(require())]  # no other role: endpoints receive customers' data
DeliveryState = Literal["pending", "delivered", "dead"]


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


class WebhookCreate(RequestBody):
    url: str = Field(max_length=2000, examples=["https://ops.example.com/pilecare"])
    events: list[Event] = Field(default=[], description="Events to receive; empty for all it may receive.")
    customer_id: str | None = Field(default=None, min_length=1, max_length=40,
                                    description="A customer's own endpoint: only that customer's "
                                                "arrival.eta and work_order.updated events.")
    description: str | None = Field(default=None, max_length=500)

    _url = field_validator("url")(_check_url)


class WebhookUpdate(RequestBody):
    url: str | None = Field(default=None, max_length=2000)
    events: list[Event] | None = None
    description: str | None = Field(default=None, max_length=500)
    active: bool | None = Field(default=None, description="true re-enables a disabled endpoint and clears its "
                                                          "failure count; its waiting deliveries then go out.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)


class WebhookPublic(BaseModel):
    id: int
    url: str
    events: list[str]
    customer_id: str | None
    description: str | None
    active: bool
    created_at: datetime
    created_by: str
    disabled_at: datetime | None
    disabled_reason: str | None
    consecutive_dead: int = Field(description="Dead deliveries in a row; enough of them disable the endpoint.")
    pending: int
    dead: int


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="The signing secret. Shown only now: keep it.")


class WebhooksPublic(BaseModel):
    data: list[WebhookPublic]
    count: int


class SecretPublic(BaseModel):
    secret: str


class DeliveryPublic(BaseModel):
    id: int
    outbox_id: int
    event: str
    channel: str
    webhook_id: int | None
    url: str | None
    engineer_id: str | None
    role: str | None = Field(description="MQTT to a role's topic (a notice) instead of an engineer's.")
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None = Field(description="Pending: when the next attempt is due.")
    last_status: int | None = Field(description="HTTP status of the last attempt.")
    last_error: str | None
    last_duration_ms: int | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveriesPublic(BaseModel):
    data: list[DeliveryPublic]
    count: int


_WEBHOOK = (
    "SELECT w.id, w.url, w.events, w.customer_id, w.description, w.active, w.created_at, w.created_by, "
    "w.disabled_at, w.disabled_reason, w.consecutive_dead, "
    "(SELECT count(*) FROM deliveries d WHERE d.webhook_id = w.id AND d.state = 'pending') AS pending, "
    "(SELECT count(*) FROM deliveries d WHERE d.webhook_id = w.id AND d.state = 'dead') AS dead "
    "FROM webhooks w"
)
_DELIVERY = (
    "SELECT d.id, d.outbox_id, o.event, d.channel, d.webhook_id, w.url, d.engineer_id, d.role, d.state, d.attempts, "
    "CASE WHEN d.state = 'pending' THEN d.next_attempt_at END AS next_attempt_at, d.last_status, d.last_error, "
    "d.last_duration_ms, d.delivered_at, d.created_at "
    "FROM deliveries d JOIN outbox o ON o.id = d.outbox_id LEFT JOIN webhooks w ON w.id = d.webhook_id"
)


def _check_events(events: list[Event], customer_id: str | None) -> list[str]:
    if customer_id is not None:
        allowed = {e.value for e in CUSTOMER_EVENTS}
        extra = sorted({e.value for e in events} - allowed)
        if extra:
            raise InvalidInput(f"a customer's endpoint receives only {', '.join(sorted(allowed))}; "
                               f"not {', '.join(extra)}")
    return sorted({e.value for e in events})


def _get(conn: psycopg.Connection, webhook_id: int) -> dict:
    row = conn.execute(_WEBHOOK + " WHERE w.id = %s", (webhook_id,)).fetchone()
    if row is None:
        raise NotFound(f"webhook {webhook_id} does not exist")
    return row


@router.post("/webhooks", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated)
def create_webhook(body: WebhookCreate, conn: Conn, user: Admin):
    """Register an endpoint; the answer holds its signing secret, which is never shown again."""
    events = _check_events(body.events, body.customer_id)
    if body.customer_id is not None and conn.execute("SELECT 1 FROM customers WHERE id = %s",
                                                     (body.customer_id,)).fetchone() is None:
        raise InvalidInput(f"customer_id: customer {body.customer_id!r} does not exist")
    secret = "whsec_" + secrets.token_urlsafe(32)
    row = conn.execute(
        "INSERT INTO webhooks (url, secret, events, customer_id, description, created_by) "
        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (body.url, secret, events, body.customer_id, body.description, user.id)).fetchone()
    return {**_get(conn, row["id"]), "secret": secret}


@router.get("/webhooks", response_model=WebhooksPublic)
def list_webhooks(conn: Conn, user: Admin, active: bool | None = None):
    rows = conn.execute(_WEBHOOK + " WHERE (%(active)s::boolean IS NULL OR w.active = %(active)s) ORDER BY w.id",
                        {"active": active}).fetchall()
    return {"data": rows, "count": len(rows)}


@router.get("/webhooks/{webhook_id}", response_model=WebhookPublic)
def get_webhook(webhook_id: int, conn: Conn, user: Admin):
    return _get(conn, webhook_id)


@router.patch("/webhooks/{webhook_id}", response_model=WebhookPublic)
def update_webhook(webhook_id: int, body: WebhookUpdate, conn: Conn, user: Admin):
    """Change the URL, events or description; deactivate, or re-enable (clearing failures)."""
    current = _get(conn, webhook_id)
    events = None if body.events is None else _check_events(body.events, current["customer_id"])
    conn.execute(
        "UPDATE webhooks SET url = coalesce(%(url)s, url), events = coalesce(%(events)s, events), "
        "description = coalesce(%(description)s, description), "
        "active = coalesce(%(active)s::boolean, active), "
        "consecutive_dead = CASE WHEN %(active)s::boolean THEN 0 ELSE consecutive_dead END, "
        "disabled_at = CASE WHEN %(active)s::boolean THEN NULL "
        "                   WHEN NOT %(active)s::boolean AND active THEN now() ELSE disabled_at END, "
        "disabled_reason = CASE WHEN %(active)s::boolean THEN NULL "
        "                       WHEN NOT %(active)s::boolean AND active THEN %(reason)s ELSE disabled_reason END "
        "WHERE id = %(id)s",
        {"url": body.url, "events": events, "description": body.description, "active": body.active,
         "reason": f"deactivated by {user.id}", "id": webhook_id})
    return _get(conn, webhook_id)


@router.post("/webhooks/{webhook_id}/secret", response_model=SecretPublic)
def rotate_secret(webhook_id: int, conn: Conn, user: Admin):
    """A new signing secret, effective for the next attempt; the old one stops at once."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    if conn.execute("UPDATE webhooks SET secret = %s WHERE id = %s", (secret, webhook_id)).rowcount == 0:
        raise NotFound(f"webhook {webhook_id} does not exist")
    return {"secret": secret}


@router.delete("/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(webhook_id: int, conn: Conn, user: Admin):
    """Remove the endpoint and its delivery history (to keep the history, deactivate it instead)."""
    if conn.execute("DELETE FROM webhooks WHERE id = %s", (webhook_id,)).rowcount == 0:
        raise NotFound(f"webhook {webhook_id} does not exist")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _deliveries(conn: psycopg.Connection, where: str, params: dict, limit: int, offset: int) -> dict:
    count = conn.execute("SELECT count(*) AS n FROM deliveries d WHERE " + where, params).fetchone()["n"]
    rows = conn.execute(_DELIVERY + " WHERE " + where + " ORDER BY d.id DESC LIMIT %(limit)s OFFSET %(offset)s",
                        {**params, "limit": limit, "offset": offset}).fetchall()
    return {"data": rows, "count": count}


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveriesPublic)
def webhook_deliveries(webhook_id: int, conn: Conn, user: Admin, state: DeliveryState | None = None,
                       limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Offset = 0):
    """This endpoint's deliveries, newest first: attempts, last status and error, next attempt."""
    _get(conn, webhook_id)
    return _deliveries(conn, "d.webhook_id = %(webhook)s AND (%(state)s::text IS NULL OR d.state = %(state)s)",
                       {"webhook": webhook_id, "state": state}, limit, offset)


@router.get("/deliveries", response_model=DeliveriesPublic)
def list_deliveries(conn: Conn, user: Admin, state: DeliveryState | None = None,
                    channel: Literal["mqtt", "webhook"] | None = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Offset = 0):
    """Every channel's deliveries, newest first; `?state=dead` is the list of failures to look at."""
    return _deliveries(conn, "(%(state)s::text IS NULL OR d.state = %(state)s) "
                             "AND (%(channel)s::text IS NULL OR d.channel = %(channel)s)",
                       {"state": state, "channel": channel}, limit, offset)


@router.post("/deliveries/{delivery_id}/retry", response_model=DeliveryPublic)
def retry_delivery(delivery_id: int, conn: Conn, user: Admin):
    """Send a dead delivery once more, now (409 unless it is dead and its endpoint active)."""
    deliver.retry(conn, delivery_id)
    return conn.execute(_DELIVERY + " WHERE d.id = %s", (delivery_id,)).fetchone()
