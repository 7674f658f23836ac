"""The follow-up's second channel (R-FOLLOWUP): when a follow-up falls due, its survey link
(no login) is mailed once to the customer, beside the agent's call.

The address: the request's sender or contact (for a follow-up of a request or complaint, or
of an order a request is linked to), else the customer's first active contact. Sent in the
request's thread when there is one (the reply threads on it), else as a mail of its own.
Each follow-up is claimed with a conditional update, so two workers never mail it twice.
"""
from __future__ import annotations

import uuid

import psycopg
from psycopg.rows import tuple_row

from maintenance.outbox.mail import OutgoingMail, enqueue_mail
from maintenance.servicedesk import mail_out
from maintenance.servicedesk.follow_ups import survey_path
from maintenance.servicedesk.requests import MessageKind, number

AUTHOR = "pilecare"
TEXT = ("Hello,\n\nwe recently {what}. Is the problem solved, and how satisfied are you with our service?\n"
        "Please tell us in one minute, no login needed:\n\n{link}\n\n"
        "-- \npilecare service desk\n(This message was sent automatically.)")

# Each due follow-up with the request whose thread it belongs to (if any) and an address.
_DUE = """
SELECT f.id, f.survey_token, f.customer_id, f.work_order_id, t.request_id,
       coalesce(CASE WHEN t.caller LIKE '%%@%%' THEN t.caller END, rc.email, cc.email) AS address
FROM follow_ups f
LEFT JOIN complaints k ON k.id = f.complaint_id
LEFT JOIN LATERAL (
    SELECT r.id AS request_id, r.caller, r.contact_id FROM requests r
    WHERE r.id = coalesce(f.request_id, k.request_id)
       OR (f.work_order_id IS NOT NULL AND r.work_order_id = f.work_order_id)
    ORDER BY r.id DESC LIMIT 1) t ON true
LEFT JOIN customer_contacts rc ON rc.id = t.contact_id AND rc.active
LEFT JOIN LATERAL (
    SELECT email FROM customer_contacts WHERE customer_id = f.customer_id AND active AND email IS NOT NULL
    ORDER BY id LIMIT 1) cc ON true
WHERE f.due_at <= now() AND f.done_at IS NULL AND f.survey_sent_at IS NULL AND f.withdrawn_at IS NULL
ORDER BY f.due_at LIMIT %s
"""


def send_due(conn: psycopg.Connection, public_base: str, *, batch: int = 200) -> int:
    """Mail the survey link of every due follow-up not yet mailed; returns how many were
    sent. `public_base`: where customers reach pilecare (Settings.public_base()). A
    follow-up with no address is marked too (nothing to send; the call remains)."""
    cur = conn.cursor(row_factory=tuple_row)
    sent = 0
    with conn.transaction():
        for follow_up_id, token, customer_id, order_id, request_id, address in cur.execute(_DUE, (batch,)).fetchall():
            if not cur.execute("UPDATE follow_ups SET survey_sent_at = now() WHERE id = %s AND survey_sent_at IS NULL",
                               (follow_up_id,)).rowcount or address is None:
                continue
            what = f"repaired your charging pile (work order {order_id})" if order_id else \
                f"worked on your request {number(request_id)}" if request_id else "were in touch with you"
            body = TEXT.format(what=what, link=public_base + survey_path(token))
            if request_id is not None:
                mail_out.send(conn, request_id, kind=MessageKind.SURVEY, body=body, author=AUTHOR, to=address)
            else:
                enqueue_mail(conn, OutgoingMail(to=address, subject="How did we do?", body=body,
                                                message_id=f"fu{follow_up_id}.{uuid.uuid4().hex}@pilecare",
                                                in_reply_to=None, references=()),
                             {"follow_up_id": follow_up_id, "kind": MessageKind.SURVEY.value}, customer_id=customer_id)
            sent += 1
    return sent
