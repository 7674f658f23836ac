"""The service desk's KPIs (R-KPI, issue 13 item 6) over a period, from the desk's own
records; each is spelled out in docs/kpi.md and in GET /kpis/definitions.

- customer satisfaction (CSAT): of the follow-ups done in the period with a score
  (1–5), the mean score and the share scoring 4 or 5 (the usual CSAT share).
- first-response time: request arrival → first response by a person (an answer, a
  progress update, a promise, an apology, resolving it; not the automatic
  acknowledgement), hours, median and 90th percentile, over the requests that arrived in
  the period and have had one. Time waiting for the customer is not taken out of it: it is
  the time the customer waited for a first word.
- breach share: of the requests that arrived in the period whose first-response clock has
  ended (answered, or past due now), the share answered late or not at all (a clock paused
  while the request waits for the customer is not past due).
- complaint handling rate: of the complaints recorded in the period, the share closed
  (by now); handling time: mean hours recorded → closed of those closed in the period;
  satisfied share: of those closed in the period, closed with the customer satisfied.
- follow-up completion: of the follow-ups due in the period (due by now), the share done;
  a follow-up withdrawn (its complaint closed by a supervisor) is not counted.

`compute` gives one period for the fleet or one customer; `breakdown` gives the same
figures per channel, tier, agent, engineer or team (team: the engineer's first region —
pilecare keeps no other team record).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import Enum

import psycopg
from psycopg.rows import dict_row


class Dimension(str, Enum):
    """What a breakdown groups by."""

    CHANNEL = "channel"
    TIER = "tier"
    AGENT = "agent"
    ENGINEER = "engineer"
    TEAM = "team"


@dataclass
class DeskKpis:
    group: str | None                   # the channel, tier, agent, engineer or team; None: all
    requests: int = 0                   # arrived in the period
    responded: int = 0                  # of those, with a first response
    first_response_median_h: float | None = None
    first_response_p90_h: float | None = None
    response_clock_ended: int = 0       # answered, or past due now: the breach share's basis
    response_breached: int = 0
    breach_share: float | None = None
    follow_ups_scored: int = 0
    csat_mean: float | None = None      # 1..5
    csat_share: float | None = None     # share scoring 4 or 5
    complaints: int = 0                 # recorded in the period
    complaints_closed: int = 0          # of those, closed by now
    complaint_handling_rate: float | None = None
    complaints_closed_in_period: int = 0
    complaint_handling_h: float | None = None
    complaints_satisfied: int = 0       # closed in the period with the customer satisfied
    follow_ups_due: int = 0             # due in the period, by now
    follow_ups_done: int = 0
    follow_up_completion: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _rate(numerator: int, denominator: int) -> float | None:
    return None if not denominator else round(numerator / denominator, 4)


def _hours(seconds) -> float | None:
    return None if seconds is None else round(float(seconds) / 3600, 2)


# Each part yields rows (grp, …); the group key per dimension, for requests, follow-ups and
# complaints. A request's engineer is the engineer of its work order; a follow-up's is its
# order's; a complaint's is the engineer found responsible.
_REQUEST_GROUP = {None: "NULL", Dimension.CHANNEL: "r.channel", Dimension.TIER: "r.tier", Dimension.AGENT: "r.agent",
                  Dimension.ENGINEER: "wo.engineer_id", Dimension.TEAM: "e.regions[1]"}
_FOLLOW_UP_GROUP = {None: "NULL", Dimension.CHANNEL: "coalesce(r.channel, 'telemetry')",
                    Dimension.TIER: "c.tier", Dimension.AGENT: "f.recorded_by",
                    Dimension.ENGINEER: "wo.engineer_id", Dimension.TEAM: "e.regions[1]"}
_COMPLAINT_GROUP = {None: "NULL", Dimension.CHANNEL: "r.channel", Dimension.TIER: "r.tier", Dimension.AGENT: "r.agent",
                    Dimension.ENGINEER: "k.engineer_id", Dimension.TEAM: "e.regions[1]"}

# The first-response due time as of now: a clock paused while the request waits for the
# customer has not run since (requests.move moves the column only when the wait ends).
_RESPONSE_DUE = ("(r.response_due_at + CASE WHEN r.waiting_since IS NOT NULL AND r.responded_at IS NULL "
                 "THEN now() - r.waiting_since ELSE interval '0' END)")

_REQUESTS = """
SELECT {g} AS grp,
  count(*) AS requests,
  count(r.responded_at) AS responded,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.responded_at - r.created_at)) AS median,
  percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM r.responded_at - r.created_at)) AS p90,
  count(*) FILTER (WHERE r.responded_at IS NOT NULL OR {due} < now()) AS ended,
  count(*) FILTER (WHERE coalesce(r.responded_at, now()) > {due}) AS breached
FROM requests r LEFT JOIN work_orders wo ON wo.id = r.work_order_id LEFT JOIN engineers e ON e.id = wo.engineer_id
WHERE r.created_at >= %(s)s AND r.created_at < %(e)s {scope}
GROUP BY 1
"""

_FOLLOW_UPS = """
SELECT {g} AS grp,
  count(*) FILTER (WHERE f.done_at >= %(s)s AND f.done_at < %(e)s AND f.satisfaction IS NOT NULL) AS scored,
  avg(f.satisfaction) FILTER (WHERE f.done_at >= %(s)s AND f.done_at < %(e)s) AS csat_mean,
  count(*) FILTER (WHERE f.done_at >= %(s)s AND f.done_at < %(e)s AND f.satisfaction >= 4) AS satisfied,
  count(*) FILTER (WHERE f.due_at >= %(s)s AND f.due_at < %(e)s AND f.due_at <= now()) AS due,
  count(*) FILTER (WHERE f.due_at >= %(s)s AND f.due_at < %(e)s AND f.due_at <= now() AND f.done_at IS NOT NULL) AS done
FROM follow_ups f JOIN customers c ON c.id = f.customer_id
  LEFT JOIN requests r ON r.id = f.request_id
  LEFT JOIN work_orders wo ON wo.id = f.work_order_id LEFT JOIN engineers e ON e.id = wo.engineer_id
WHERE ((f.done_at >= %(s)s AND f.done_at < %(e)s) OR (f.due_at >= %(s)s AND f.due_at < %(e)s))
  AND f.withdrawn_at IS NULL {scope}
GROUP BY 1
"""

_COMPLAINTS = """
SELECT {g} AS grp,
  count(*) FILTER (WHERE k.created_at >= %(s)s AND k.created_at < %(e)s) AS complaints,
  count(*) FILTER (WHERE k.created_at >= %(s)s AND k.created_at < %(e)s AND k.state = 'closed') AS closed,
  count(*) FILTER (WHERE k.closed_at >= %(s)s AND k.closed_at < %(e)s) AS closed_in_period,
  avg(extract(epoch FROM k.closed_at - k.created_at)) FILTER (WHERE k.closed_at >= %(s)s AND k.closed_at < %(e)s)
      AS handling,
  count(*) FILTER (WHERE k.closed_at >= %(s)s AND k.closed_at < %(e)s AND k.satisfied) AS satisfied
FROM complaints k JOIN requests r ON r.id = k.request_id LEFT JOIN engineers e ON e.id = k.engineer_id
WHERE ((k.created_at >= %(s)s AND k.created_at < %(e)s) OR (k.closed_at >= %(s)s AND k.closed_at < %(e)s)) {scope}
GROUP BY 1
"""


def breakdown(conn: psycopg.Connection, start: datetime, end: datetime, by: Dimension | None = None, *,
              customer_id: str | None = None) -> list[DeskKpis]:
    """The desk KPIs of [start, end) per group of `by` (one row, group None, when `by` is
    None), for the fleet or one customer; groups sorted by name, an unknown group (e.g.
    requests with no engineer) as None last."""
    params = {"s": start, "e": end, "customer": customer_id}
    cur = conn.cursor(row_factory=dict_row)
    rows: dict[str | None, DeskKpis] = {}

    def row(group) -> DeskKpis:
        return rows.setdefault(group, DeskKpis(group=group))

    scope = " AND r.customer_id = %(customer)s" if customer_id else ""
    for r in cur.execute(_REQUESTS.format(g=_REQUEST_GROUP[by], scope=scope, due=_RESPONSE_DUE), params):
        k = row(r["grp"])
        k.requests, k.responded = r["requests"], r["responded"]
        k.first_response_median_h, k.first_response_p90_h = _hours(r["median"]), _hours(r["p90"])
        k.response_clock_ended, k.response_breached = r["ended"], r["breached"]
        k.breach_share = _rate(r["breached"], r["ended"])
    scope = " AND f.customer_id = %(customer)s" if customer_id else ""
    for r in cur.execute(_FOLLOW_UPS.format(g=_FOLLOW_UP_GROUP[by], scope=scope), params):
        k = row(r["grp"])
        k.follow_ups_scored = r["scored"]
        k.csat_mean = None if r["csat_mean"] is None else round(float(r["csat_mean"]), 2)
        k.csat_share = _rate(r["satisfied"], r["scored"])
        k.follow_ups_due, k.follow_ups_done = r["due"], r["done"]
        k.follow_up_completion = _rate(r["done"], r["due"])
    scope = " AND k.customer_id = %(customer)s" if customer_id else ""
    for r in cur.execute(_COMPLAINTS.format(g=_COMPLAINT_GROUP[by], scope=scope), params):
        k = row(r["grp"])
        k.complaints, k.complaints_closed = r["complaints"], r["closed"]
        k.complaint_handling_rate = _rate(r["closed"], r["complaints"])
        k.complaints_closed_in_period = r["closed_in_period"]
        k.complaint_handling_h = _hours(r["handling"])
        k.complaints_satisfied = r["satisfied"]
    if by is None:
        return [rows.get(None) or DeskKpis(group=None)]
    return sorted(rows.values(), key=lambda k: (k.group is None, str(k.group)))


def compute(conn: psycopg.Connection, start: datetime, end: datetime, *, customer_id: str | None = None) -> DeskKpis:
    """The desk KPIs of [start, end), fleet-wide or for one customer."""
    return breakdown(conn, start, end, None, customer_id=customer_id)[0]
