"""Delivering the outbox: fan each event out to its targets, then send with retries.

Two stages, both claimed in PostgreSQL so any number of deliverers can run at once:
- `fan_out` turns unfanned outbox rows (locked with SKIP LOCKED) into one `deliveries`
  row per target (an engineer's or, for a notice, a role's MQTT topic; each subscribed
  webhook; a customer's mail to the relay); a unique constraint makes a second fan-out of
  the same row a no-op.
- `deliver_due` leases due deliveries (SKIP LOCKED plus a lease time, so a crashed
  deliverer's claims come back), sends them outside any transaction, and records the
  outcome only if its lease token still holds: delivered, or attempts + 1 with the
  error and the next attempt after an exponential, jittered backoff; dead after the
  last attempt. An endpoint whose deliveries keep dying is disabled, with the reason.
"""
from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import tuple_row

from maintenance.outbox.transports import Delivery, MqttTransport, Transport, TransportError, WebhookTransport, envelope
from maintenance.outbox.events import Event
from maintenance.outbox.mail import MailTransport, OutgoingMail
from pilecare.db import database_url
from pilecare.errors import Conflict, NotFound
from pilecare.settings import Settings

log = logging.getLogger(__name__)

# What reaches an engineer's phone: offers and withdrawals, and changes to their orders.
ENGINEER_EVENTS = (Event.ASSIGNMENT_OFFERED, Event.ASSIGNMENT_WITHDRAWN, Event.WORK_ORDER_UPDATED)
# What a customer's own endpoint may receive (never escalations or offers to engineers).
CUSTOMER_EVENTS = (Event.ARRIVAL_ETA, Event.WORK_ORDER_UPDATED)


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts 1…max_attempts wait 10 s, 20 s, 40 s … doubling up to an hour between
    tries (±20 % jitter so endpoints that failed together are not retried together):
    with 12 attempts an endpoint has about 3.5 hours to come back before a delivery dies.
    """

    base_delay_s: float = 10.0
    max_delay_s: float = 3600.0
    jitter: float = 0.2
    max_attempts: int = 12
    # Dead deliveries in a row that disable a webhook; each took hours of failures.
    disable_after_dead: int = 5
    # Longer than a batch can take to send (timeouts × batch / workers), so a slow but
    # live deliverer keeps its claims; a crashed one's come back after this.
    lease_s: float = 300.0

    def delay_s(self, attempts: int) -> float:
        """The wait after the `attempts`-th failed attempt."""
        base = min(self.max_delay_s, self.base_delay_s * 2 ** max(0, attempts - 1))
        return min(self.max_delay_s, base * (1 + self.jitter * (2 * random.random() - 1)))


DEFAULT_POLICY = RetryPolicy()


def _rows(conn: psycopg.Connection, sql: str, params=None) -> list[tuple]:
    # The API hands out dict-row connections; these functions read tuples whatever the caller's.
    cur = conn.cursor(row_factory=tuple_row)
    cur.execute(sql, params)
    return cur.fetchall() if cur.description else []


# --- fan-out ------------------------------------------------------------------------

def fan_out(conn: psycopg.Connection, limit: int = 500) -> int:
    """Create the deliveries of up to `limit` unfanned outbox rows; returns rows fanned out."""
    with conn.transaction():
        ids = [r[0] for r in _rows(
            conn, "SELECT id FROM outbox WHERE fanned_out_at IS NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
            (limit,))]
        if not ids:
            return 0
        # An event naming no engineer still concerns the one holding its order (e.g. the
        # customer approved the quote): their phone gets it too.
        _rows(conn,
              "INSERT INTO deliveries (outbox_id, channel, engineer_id) "
              "SELECT o.id, 'mqtt', coalesce(o.engineer_id, wo.engineer_id) "
              "FROM outbox o LEFT JOIN work_orders wo ON wo.id = o.work_order_id "
              "WHERE o.id = ANY(%s) AND coalesce(o.engineer_id, wo.engineer_id) IS NOT NULL AND o.event = ANY(%s) "
              "ORDER BY o.id ON CONFLICT DO NOTHING",
              (ids, [e.value for e in ENGINEER_EVENTS]))
        # Integrations (no customer) get what they subscribed to; a customer's endpoint
        # only its own customer-facing events.
        _rows(conn,
              "INSERT INTO deliveries (outbox_id, channel, webhook_id, engineer_id) "
              "SELECT o.id, 'webhook', w.id, o.engineer_id FROM outbox o JOIN webhooks w "
              "  ON w.active AND (cardinality(w.events) = 0 OR o.event = ANY(w.events)) "
              " AND (w.customer_id IS NULL OR (w.customer_id = o.customer_id AND o.event = ANY(%s))) "
              "WHERE o.id = ANY(%s) ORDER BY o.id, w.id "
              "ON CONFLICT DO NOTHING",
              ([e.value for e in CUSTOMER_EVENTS], ids))
        # A notice goes to its role's topic; only notices are addressed to a role.
        _rows(conn,
              "INSERT INTO deliveries (outbox_id, channel, role) "
              "SELECT o.id, 'mqtt', o.role FROM outbox o WHERE o.id = ANY(%s) AND o.role IS NOT NULL "
              "ORDER BY o.id ON CONFLICT DO NOTHING", (ids,))
        # A mail (outbox/mail.py) goes to the relay, once.
        _rows(conn,
              "INSERT INTO deliveries (outbox_id, channel) SELECT m.outbox_id, 'email' FROM outbox_mail m "
              "WHERE m.outbox_id = ANY(%s) ORDER BY m.outbox_id ON CONFLICT DO NOTHING", (ids,))
        _rows(conn, "UPDATE outbox SET fanned_out_at = now() WHERE id = ANY(%s)", (ids,))
    return len(ids)


# --- sending ------------------------------------------------------------------------

def _claim(conn: psycopg.Connection, channels: list[str], now: datetime, limit: int,
           policy: RetryPolicy) -> list[tuple[uuid.UUID, Delivery]]:
    token = uuid.uuid4()
    # A delivery whose outcome could never be recorded has its attempts counted at each
    # claim: once they are spent and its last lease has run out, it is dead, not retried
    # for ever.
    _rows(conn, "UPDATE deliveries SET state = 'dead', leased_until = NULL, lease_token = NULL, "
                "last_error = coalesce(last_error, 'no outcome could be recorded for its attempts') "
                "WHERE state = 'pending' AND attempts >= %s AND leased_until <= %s RETURNING id",
          (policy.max_attempts, now))
    claimed = _rows(
        conn,
        "WITH due AS ("
        "  SELECT d.id FROM deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id"
        "  WHERE d.state = 'pending' AND d.next_attempt_at <= %(now)s"
        "    AND (d.leased_until IS NULL OR d.leased_until <= %(now)s)"
        "    AND d.channel = ANY(%(channels)s) AND (d.webhook_id IS NULL OR w.active)"
        "  ORDER BY d.next_attempt_at, d.id LIMIT %(limit)s FOR UPDATE OF d SKIP LOCKED) "
        "UPDATE deliveries d SET leased_until = %(now)s + make_interval(secs => %(lease)s), lease_token = %(token)s, "
        "  attempts = d.attempts + 1 "
        "FROM due WHERE d.id = due.id RETURNING d.id",
        {"now": now, "channels": channels, "limit": limit, "lease": policy.lease_s, "token": token},
    )
    if not claimed:
        return []
    rows = _rows(
        conn,
        "SELECT d.id, d.outbox_id, d.channel, d.attempts, d.engineer_id, d.role, d.webhook_id, w.url, w.secret, "
        "       o.event, o.at, o.payload, o.work_order_id, o.engineer_id, o.customer_id, "
        "       m.mail_to, m.subject, m.body, m.message_id, m.in_reply_to, m.refs "
        "FROM deliveries d JOIN outbox o ON o.id = d.outbox_id LEFT JOIN webhooks w ON w.id = d.webhook_id "
        "LEFT JOIN outbox_mail m ON d.channel = 'email' AND m.outbox_id = d.outbox_id "
        "WHERE d.id = ANY(%s) AND d.lease_token = %s ORDER BY d.next_attempt_at, d.id",
        ([r[0] for r in claimed], token),
    )
    out = []
    for (id_, outbox_id, channel, attempts, engineer_id, role, webhook_id, url, secret,
         event, at, payload, work_order_id, o_engineer, customer_id, *mail) in rows:
        payload = payload if isinstance(payload, dict) else json.loads(payload)
        body = envelope(outbox_id, event, at, payload, work_order_id=work_order_id, engineer_id=o_engineer,
                        customer_id=customer_id)
        out.append((token, Delivery(id=id_, outbox_id=outbox_id, channel=channel, event=event, body=body,
                                    attempts=attempts, engineer_id=engineer_id, webhook_id=webhook_id, url=url,
                                    secret=secret, role=role,
                                    mail=_mail(*mail))))
    return out


def _mail(to, subject, body, message_id, in_reply_to, refs) -> OutgoingMail | None:
    if to is None:
        return None  # not an email delivery
    return OutgoingMail(to=to, subject=subject, body=body, message_id=message_id, in_reply_to=in_reply_to,
                        references=tuple(refs or ()))


def _attempt(transport: Transport, delivery: Delivery) -> tuple[int | None, TransportError | None, int]:
    started = time.monotonic()
    try:
        status, error = transport.send(delivery), None
    except TransportError as failure:
        status, error = failure.status, failure
    except Exception as bug:  # a transport bug must not stop the other deliveries
        log.exception("delivery %s: unexpected error", delivery.id)
        status, error = None, TransportError(f"{type(bug).__name__}: {bug}")
    return status, error, int((time.monotonic() - started) * 1000)


def _record(conn: psycopg.Connection, token: uuid.UUID, delivery: Delivery, status: int | None,
            error: TransportError | None, duration_ms: int, now: datetime, policy: RetryPolicy) -> None:
    attempts = delivery.attempts  # counted when it was claimed
    with conn.transaction():
        if error is None:
            hit = _rows(
                conn,
                "UPDATE deliveries SET state = 'delivered', delivered_at = %s, "
                "last_status = %s, last_error = NULL, last_duration_ms = %s, leased_until = NULL, lease_token = NULL "
                "WHERE id = %s AND lease_token = %s AND state = 'pending' RETURNING id",
                (now, status, duration_ms, delivery.id, token))
            if hit and delivery.webhook_id is not None:
                _rows(conn, "UPDATE webhooks SET consecutive_dead = 0 WHERE id = %s AND consecutive_dead <> 0",
                      (delivery.webhook_id,))
            return
        dead = error.permanent or attempts >= policy.max_attempts
        next_at = now + timedelta(seconds=policy.delay_s(attempts))
        hit = _rows(
            conn,
            "UPDATE deliveries SET state = %s, next_attempt_at = %s, last_status = %s, "
            "last_error = %s, last_duration_ms = %s, leased_until = NULL, lease_token = NULL "
            "WHERE id = %s AND lease_token = %s AND state = 'pending' RETURNING id",
            ("dead" if dead else "pending", now if dead else next_at, status, _printable(error.message)[:2000],
             duration_ms,
             delivery.id, token))
        if not hit:
            return  # our lease ran out and another deliverer owns it now
        if dead:
            log.warning("delivery %s (%s) is dead after %d attempts: %s", delivery.id, delivery.event, attempts,
                        error.message)
        if dead and delivery.webhook_id is not None:
            reason = (f"disabled after {policy.disable_after_dead} dead deliveries in a row; "
                      f"last error: {_printable(error.message)[:500]}")
            disabled = _rows(
                conn,
                "UPDATE webhooks SET consecutive_dead = consecutive_dead + 1, "
                "  active = active AND consecutive_dead + 1 < %(limit)s, "
                "  disabled_at = CASE WHEN active AND consecutive_dead + 1 >= %(limit)s THEN %(now)s "
                "                ELSE disabled_at END, "
                "  disabled_reason = CASE WHEN active AND consecutive_dead + 1 >= %(limit)s THEN %(reason)s "
                "                    ELSE disabled_reason END "
                "WHERE id = %(id)s RETURNING active, disabled_at = %(now)s",
                {"limit": policy.disable_after_dead, "now": now, "reason": reason, "id": delivery.webhook_id})
            if disabled and not disabled[0][0] and disabled[0][1]:
                log.warning("webhook %s disabled: %s", delivery.webhook_id, reason)


def deliver_due(conn: psycopg.Connection, transports: dict[str, Transport], now: datetime | None = None,
                limit: int = 100, *, policy: RetryPolicy = DEFAULT_POLICY, workers: int = 8) -> int:
    """Send up to `limit` due deliveries of the channels in `transports`; returns how many
    were attempted (delivered or not). `now` drives the clock in tests."""
    # The database's clock by default: deliveries become due by its now() at fan-out.
    now = now or _rows(conn, "SELECT clock_timestamp()")[0][0]
    claimed = _claim(conn, list(transports), now, limit, policy)
    if not claimed:
        return 0
    # Sends run side by side so one endpoint that hangs until its timeout does not hold
    # up an engineer's offer; outcomes are recorded here, on this thread's connection.
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(claimed)))) as pool:
        futures = [(token, d, pool.submit(_attempt, transports[d.channel], d)) for token, d in claimed]
        for token, delivery, future in futures:
            status, error, duration_ms = future.result()
            try:
                _record(conn, token, delivery, status, error, duration_ms, now, policy)
            except psycopg.Error:
                # One outcome that cannot be stored must not cost the others theirs: this
                # delivery comes back when its lease runs out (its attempt already counted).
                log.exception("delivery %s: could not record the outcome", delivery.id)
    return len(claimed)


def _printable(text: str) -> str:
    """Text PostgreSQL will store and a person can read: no NUL, no control characters."""
    return "".join(c if c.isprintable() or c in "\n\t" else "\ufffd" for c in text)


def retry(conn: psycopg.Connection, delivery_id: int) -> None:
    """Make a dead delivery pending again, due now (one more attempt; the webhook must be active)."""
    found = _rows(conn, "SELECT d.state, w.active FROM deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id "
                        "WHERE d.id = %s", (delivery_id,))
    if not found:
        raise NotFound(f"delivery {delivery_id} does not exist")
    state, active = found[0]
    if active is False:
        raise Conflict(f"delivery {delivery_id}: its webhook is disabled; re-enable the webhook first")
    hit = _rows(conn, "UPDATE deliveries SET state = 'pending', next_attempt_at = now(), leased_until = NULL, "
                      "lease_token = NULL WHERE id = %s AND state = 'dead' RETURNING id", (delivery_id,))
    if not hit:
        raise Conflict(f"delivery {delivery_id} is {state}; only dead deliveries are retried")


# --- the process --------------------------------------------------------------------

class Deliverer:
    """One deliverer: `tick()` fans out and sends what is due (the run-once entry tests use)."""

    def __init__(self, settings: Settings, *, policy: RetryPolicy = DEFAULT_POLICY,
                 transports: dict[str, Transport] | None = None, name: str | None = None, batch: int = 50,
                 workers: int = 8, webhook_timeout_s: float = 10.0):
        self.settings = settings
        self.policy = policy
        self.name = name or f"pilecare-deliver-{socket.gethostname()}-{os.getpid()}"
        self.transports = transports if transports is not None else {
            # Its own client id: sharing one with the process's downlink would make the broker
            # drop one of the two connections each time the other connects.
            "mqtt": MqttTransport(settings, client_id=f"{self.name}-notify"),
            "webhook": WebhookTransport(webhook_timeout_s),
        }
        if transports is None and settings.relay() is not None:
            self.transports["email"] = MailTransport(settings.relay(), settings.desk_address)
        elif transports is None:
            # Mail waits in the outbox (its deliveries stay pending) until a relay is configured.
            log.warning("no mail relay (PILECARE_MAIL_RELAY): the service desk's mail is queued, not sent")
        self.batch = batch
        self.workers = workers
        self.conn: psycopg.Connection | None = None

    def _connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.conn = psycopg.connect(database_url(self.settings), autocommit=True, application_name=self.name)
        return self.conn

    def tick(self, now: datetime | None = None) -> int:
        """Fan out everything new, then send what is due; returns rows fanned out + attempts made."""
        conn = self._connection()
        done = 0
        while (n := fan_out(conn)):
            done += n
        while True:
            n = deliver_due(conn, self.transports, now, self.batch, policy=self.policy, workers=self.workers)
            done += n
            if n < self.batch:
                return done

    def close(self) -> None:
        for transport in self.transports.values():
            transport.close()
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run(settings: Settings, stop: threading.Event, poll_s: float = 1.0, **options) -> None:
    """Deliver until `stop` is set: woken at once by NOTIFY pilecare_outbox (sent at the
    commit of every enqueue), otherwise every `poll_s` for retries that fall due."""
    deliverer = Deliverer(settings, **options)
    listener: psycopg.Connection | None = None
    try:
        while not stop.is_set():
            try:
                if listener is None or listener.closed or listener.broken:
                    listener = psycopg.connect(database_url(settings), autocommit=True)
                    listener.execute("LISTEN pilecare_outbox")
                if deliverer.tick():
                    continue  # a backlog: keep going
                for _ in listener.notifies(timeout=poll_s, stop_after=1):
                    pass
            except Exception:
                # Logged and retried after a pause: a database or broker outage must not
                # crash-loop the process, and nothing is lost (the rows wait in PostgreSQL).
                log.exception("deliverer pass failed; retrying in %.0f s", max(poll_s, 1.0))
                if listener is not None:
                    listener.close()
                    listener = None
                stop.wait(max(poll_s, 1.0))
    finally:
        deliverer.close()
        if listener is not None:
            listener.close()
