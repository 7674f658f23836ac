"""Classifying a request and what each class sets in motion (R-INTAKE).

The agent decides the class; pilecare suggests one from the words of the request. A fault
report links to the pile's open corrective order for its category or opens one (the
one-open-order rule in maintenance/orders decides which); an installation request opens an
installation job; a complaint starts the complaint lifecycle (complaints.py).
"""
from __future__ import annotations

import re

import psycopg
from psycopg.rows import tuple_row

from maintenance.orders import create_installation, fault_reports
from maintenance.policy import Policy
from maintenance.servicedesk import complaints
from maintenance.servicedesk.requests import RequestClass, event, state_of
from pilecare.domain import Severity
from pilecare.errors import Conflict, InvalidInput

C = RequestClass
# Words that point at a class, checked in this order (a complaint about a fault is a complaint).
_HINTS: tuple[tuple[RequestClass, re.Pattern], ...] = (
    (C.COMPLAINT, re.compile(r"\b(complain\w*|unacceptable|disappointed|angry|rude|refund|terrible|worst)\b", re.I)),
    (C.INSTALLATION_REQUEST, re.compile(r"\b(install\w*|commission\w*|new (pile|charger|station)s?)\b", re.I)),
    (C.FAULT_REPORT, re.compile(r"\b(fault\w*|error|broken|not (charging|working|starting)|doesn'?t (charge|work)|"
                                r"won'?t (charge|start)|fail\w*|offline|dead|stuck|lock\w*|trip\w*|smoke|burn\w*)\b", re.I)),
    (C.SUGGESTION, re.compile(r"\b(suggest\w*|would be (nice|great|good)|feature|idea|improve\w*|wish)\b", re.I)),
)


def suggest(text: str) -> RequestClass:
    """A suggested class from the request's subject and text: the first class whose words
    appear, else consultation (a question). Only a suggestion: the agent decides."""
    for request_class, words in _HINTS:
        if words.search(text or ""):
            return request_class
    return C.CONSULTATION


def classify(conn: psycopg.Connection, policy: Policy, downlink, request_id: int, request_class: RequestClass, *,
             actor: str, fault_category: str | None = None, severity: Severity = Severity.MAJOR,
             safety: bool = False) -> int | None:
    """Set the request's class and start what it calls for; returns the linked work order id
    (fault report, installation request) or None.

    A fault report needs the request's pile and a fault category (one of the live rule
    set's, or "other"); it joins the pile's open corrective order for the category or opens
    one (R-INTAKE, one open order per pile and fault). An installation request needs a pile
    and opens an installation job (R-INSTALL). A complaint is recorded as a complaint
    (R-COMPLAINT). The class is set once: raises Conflict when it was already decided, and
    InvalidInput (naming the field) when the pile or category is missing."""
    cur = conn.cursor(row_factory=tuple_row)
    state_of(conn, request_id)
    row = cur.execute("SELECT class, pile_id, subject, description FROM requests WHERE id = %s", (request_id,)).fetchone()
    decided, pile_id, subject, description = row
    if decided is not None:
        raise Conflict(f"request {request_id} is already classified as {decided}")
    request_class = RequestClass(request_class)
    if request_class in (C.FAULT_REPORT, C.INSTALLATION_REQUEST) and pile_id is None:
        raise InvalidInput(f"pile_id: a {request_class.value.replace('_', ' ')} needs the request's pile; set it first")
    if request_class is C.FAULT_REPORT and not fault_category:
        raise InvalidInput("fault_category: a fault report needs a fault category")
    order_id = None
    with conn.transaction():
        claimed = cur.execute("UPDATE requests SET class = %s, updated_at = now() WHERE id = %s AND class IS NULL",
                              (request_class.value, request_id)).rowcount
        if not claimed:
            raise Conflict(f"request {request_id} was classified meanwhile")
        if request_class is C.FAULT_REPORT:
            order_id, created = fault_reports.report_fault(
                conn, policy, downlink, pile_id=pile_id, fault_category=fault_category,
                title=f"{subject} (request SR-{request_id})", description=description, severity=severity,
                safety=safety, actor=actor)
            event(conn, request_id, actor, f"fault report: {'opened' if created else 'joined the open'} "
                                           f"work order {order_id}")
        elif request_class is C.INSTALLATION_REQUEST:
            order_id = create_installation(conn, pile_id, title=f"{subject} (request SR-{request_id})", actor=actor)
            event(conn, request_id, actor, f"installation request: installation job {order_id}")
        elif request_class is C.COMPLAINT:
            complaints.record(conn, request_id, actor=actor)
        else:
            event(conn, request_id, actor, f"classified as {request_class.value}")
        if order_id is not None:
            cur.execute("UPDATE requests SET work_order_id = %s WHERE id = %s", (order_id, request_id))
    return order_id
