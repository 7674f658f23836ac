"""One service history per customer and per pile (R-INFO): requests, work orders (those the
piles opened themselves through telemetry too), service reports, complaints and follow-ups,
in time order. A read model over the desk's, the orders' and the field's tables; it changes
nothing. Internal notes, actors and who is responsible for a complaint are not in it: the
customer's portal shows the same history as the desk.
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal

import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

Kind = Literal["request", "work_order", "service_report", "complaint", "follow_up"]


class HistoryEntry(BaseModel):
    at: datetime = Field(description="Requests, orders, complaints: when opened; a service report: when completed; "
                                     "a follow-up: when done, else when due.")
    kind: Kind
    id: int = Field(description="The object's id; a service report's is its work order's.")
    pile_id: str | None
    work_order_id: int | None
    request_id: int | None
    title: str
    state: str | None
    source: str | None = Field(description="Requests: phone, email or web. Work orders: telemetry (the pile's own "
                                           "alarms opened it), planned (preventive, inspection) or desk (a person).")
    detail: dict = Field(description="What the kind adds: a request's class, an order's kind and resolution, a "
                                     "report's cause, action, test and rating, a follow-up's answer.")


class ServiceHistory(BaseModel):
    customer_id: str | None
    pile_id: str | None
    data: list[HistoryEntry]
    count: int = Field(description="Entries in the history (data holds at most `limit` of them from `since`).")


# Each branch names its customer and pile, so one filter outside serves both histories
# (PostgreSQL pushes it into every branch of the UNION ALL).
_ORDERS = """
SELECT o.*, s.customer_id FROM work_orders o JOIN piles p ON p.id = o.pile_id
JOIN sites s ON s.id = coalesce(o.site_id, p.site_id)
"""
_REPORT_DETAIL = """jsonb_build_object('diagnosis', r.diagnosis, 'fault_cause', r.fault_cause,
    'action_taken', r.action_taken, 'test_passed', r.test_passed, 'customer_rating', r.customer_rating,
    'customer_opinion', r.customer_opinion, 'earlier_visit', {earlier})"""
_ENTRIES = f"""
SELECT r.created_at AS at, 1 AS rank, 'request' AS kind, r.id, r.customer_id, r.pile_id, r.work_order_id,
       r.id AS request_id, r.subject AS title, r.state, r.channel AS source,
       jsonb_build_object('number', 'SR-' || r.id, 'class', r.class, 'resolved_at', r.resolved_at) AS detail
FROM requests r
UNION ALL
SELECT o.created_at, 2, 'work_order', o.id, o.customer_id, o.pile_id, o.id, NULL, o.title, o.state,
       CASE WHEN o.created_by = 'rules' THEN 'telemetry'
            WHEN o.kind IN ('preventive', 'inspection') THEN 'planned' ELSE 'desk' END,
       jsonb_build_object('kind', o.kind, 'fault_category', o.fault_category, 'priority', o.priority,
                          'resolution', o.resolution, 'closed_at', o.closed_at)
FROM ({_ORDERS}) o
UNION ALL
SELECT r.completed_at, 3, 'service_report', o.id, o.customer_id, o.pile_id, o.id, NULL,
       coalesce(r.fault_cause, r.diagnosis, o.title), CASE WHEN r.test_passed THEN 'passed' WHEN NOT r.test_passed
       THEN 'failed' END, NULL, {_REPORT_DETAIL.format(earlier="false")}
FROM service_reports r JOIN ({_ORDERS}) o ON o.id = r.work_order_id WHERE r.completed_at IS NOT NULL
UNION ALL
SELECT r.completed_at, 3, 'service_report', o.id, o.customer_id, o.pile_id, o.id, NULL,
       coalesce(r.fault_cause, r.diagnosis, o.title), CASE WHEN r.test_passed THEN 'passed' WHEN NOT r.test_passed
       THEN 'failed' END, NULL, {_REPORT_DETAIL.format(earlier="true")}
FROM service_report_history r JOIN ({_ORDERS}) o ON o.id = r.work_order_id WHERE r.completed_at IS NOT NULL
UNION ALL
SELECT c.created_at, 4, 'complaint', c.id, c.customer_id, coalesce(rq.pile_id, o.pile_id), c.work_order_id,
       c.request_id, coalesce(rq.subject, 'complaint'), c.state, rq.channel,
       jsonb_build_object('category', c.category, 'satisfied', c.satisfied, 'closed_at', c.closed_at)
FROM complaints c JOIN requests rq ON rq.id = c.request_id LEFT JOIN work_orders o ON o.id = c.work_order_id
UNION ALL
SELECT coalesce(f.done_at, f.due_at), 5, 'follow_up', f.id, f.customer_id,
       coalesce(o.pile_id, rq.pile_id, co.pile_id), coalesce(f.work_order_id, rq.work_order_id),
       coalesce(f.request_id, cp.request_id), 'follow-up',
       CASE WHEN f.withdrawn_at IS NOT NULL THEN 'withdrawn' WHEN f.done_at IS NULL THEN 'due' ELSE 'done' END,
       f.channel, jsonb_build_object('due_at', f.due_at, 'solved', f.solved, 'satisfaction', f.satisfaction,
                                     'comments', f.comments, 'complaint_id', f.complaint_id)
FROM follow_ups f LEFT JOIN work_orders o ON o.id = f.work_order_id LEFT JOIN requests rq ON rq.id = f.request_id
LEFT JOIN complaints cp ON cp.id = f.complaint_id
LEFT JOIN (SELECT c.id, coalesce(r.pile_id, w.pile_id) AS pile_id FROM complaints c
           JOIN requests r ON r.id = c.request_id LEFT JOIN work_orders w ON w.id = c.work_order_id) co
       ON co.id = f.complaint_id
"""


def history(conn: psycopg.Connection, *, customer_id: str | None = None, pile_id: str | None = None,
            since: datetime | None = None, limit: int = 1000) -> ServiceHistory:
    """The history of a customer or a pile (one of the two), oldest first; entries at the same
    instant in the order they arise (request, order, report, complaint, follow-up). `since`
    (timezone-aware) drops older entries from `data`; `count` counts every entry."""
    column, key = ("customer_id", customer_id) if customer_id is not None else ("pile_id", pile_id)
    where = f"h.{column} = %(key)s"
    params = {"key": key, "since": since, "limit": limit}
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(
        f"SELECT h.* FROM ({_ENTRIES}) h WHERE {where} AND h.at >= coalesce(%(since)s::timestamptz, '-infinity') "
        "ORDER BY h.at, h.rank, h.id LIMIT %(limit)s", params).fetchall()
    count = cur.execute(f"SELECT count(*) AS n FROM ({_ENTRIES}) h WHERE {where}", params).fetchone()["n"]
    return ServiceHistory(customer_id=customer_id, pile_id=pile_id, count=count,
                          data=[HistoryEntry(**r) for r in rows])
