"""Periodic inspection rounds per site (R-INSPECT) and their record of findings; a
finding that needs a repair opens a corrective order for that pile.

A round is one work order of kind 'inspection' for the whole site: `work_orders.site_id`
names the site and, because every order has a pile, `pile_id` holds the site's first
pile by id. The partial unique index on open inspection orders per site makes
`plan_rounds` safe from several processes without a lock.

A site's next round falls due its interval (per site, else the default) after its last
closed round, or after the site was registered for the first one.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, model_validator

from maintenance.policy import Policy
from pilecare.domain import Severity
from maintenance.orders import WorkOrderKind, open_corrective
from pilecare.errors import Conflict, InvalidInput, NotFound

DEFAULT_INTERVAL_DAYS = 90
LEAD_DAYS = 7
PRIORITY = 4  # routine, like preventive orders
CHECKLIST = (
    "Site safety: barriers and bollards, lighting, signage, trip hazards, parking bays",
    "Each pile: enclosure, display and seals intact; no water ingress, corrosion or vandalism",
    "Each pile: cables and connectors undamaged, holsters and cable management in place",
    "Each pile: emergency stop present and unobstructed",
    "Each pile: status lights and screen agree with the status the platform shows",
    "Distribution board and cabinets: locked, no heat marks, breakers and RCDs in position",
    "Record a finding per defect; findings that need a repair open a corrective order",
)
# Findings are recorded on inspection rounds and on PM orders (hidden defects, R-PM).
_RECORDED_ON = (WorkOrderKind.INSPECTION.value, WorkOrderKind.PREVENTIVE.value)


@dataclass
class RoundsResult:
    created: list[int] = field(default_factory=list)  # inspection work order ids

    def __str__(self) -> str:
        return f"{len(self.created)} rounds opened"


_PLAN_ROUNDS = """
WITH last AS (
    SELECT site_id, max(closed_at) AS closed_at FROM work_orders
    WHERE kind = 'inspection' AND state = 'closed' GROUP BY site_id
), due AS (
    SELECT s.id AS site_id, s.name, first.pile_id, first.piles,
           coalesce(l.closed_at, s.created_at)
             + make_interval(days => coalesce(s.inspection_interval_days, %(interval)s)) AS due_at
    FROM sites s
    LEFT JOIN last l ON l.site_id = s.id
    JOIN LATERAL (SELECT min(p.id) AS pile_id, count(*) AS piles FROM piles p WHERE p.site_id = s.id) first
      ON first.pile_id IS NOT NULL  -- a site without piles has nothing to inspect yet
), created AS (
    INSERT INTO work_orders (kind, pile_id, site_id, due_at, checklist, title, priority, created_by)
    SELECT 'inspection', pile_id, site_id, due_at, %(checklist)s,
           'Inspection round: ' || name || ' (' || piles || ' piles)', %(priority)s, %(actor)s
    FROM due WHERE due_at - make_interval(days => %(lead)s) <= %(now)s
    ON CONFLICT (site_id) WHERE kind = 'inspection' AND state NOT IN ('closed', 'cancelled') DO NOTHING
    RETURNING id, title
)
INSERT INTO work_order_events (work_order_id, actor, to_state, note)
SELECT id, %(actor)s, 'new', title FROM created
RETURNING work_order_id
"""


def plan_rounds(conn: psycopg.Connection, now: datetime | None = None, *,
                default_interval_days: int = DEFAULT_INTERVAL_DAYS, lead_days: int = LEAD_DAYS,
                actor: str = "planner") -> RoundsResult:
    """Open the inspection rounds that have come within `lead_days` of falling due.

    One statement for all sites; safe to run from several processes at once.
    """
    now = now or datetime.now(timezone.utc)
    checklist = Jsonb([{"item": item, "done": False} for item in CHECKLIST])
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(_PLAN_ROUNDS, {"interval": default_interval_days, "checklist": checklist,
                                          "priority": PRIORITY, "actor": actor, "lead": lead_days,
                                          "now": now}).fetchall()
    return RoundsResult(created=sorted(r[0] for r in rows))


def set_interval(conn: psycopg.Connection, site_id: str, interval_days: int | None) -> None:
    """Set a site's inspection interval; None returns it to the default."""
    if conn.execute("UPDATE sites SET inspection_interval_days = %s WHERE id = %s",
                    (interval_days, site_id)).rowcount == 0:
        raise NotFound(f"site {site_id!r} does not exist")


class FindingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pile_id: str
    item: str = Field(min_length=1, max_length=200, description="The checklist item or part concerned.")
    observation: str | None = Field(default=None, max_length=2000)
    needs_repair: bool = False
    fault_category: str | None = Field(default=None, min_length=1, max_length=40,
                                       description="Required with needs_repair: the corrective order's category.")
    priority: int = Field(default=3, ge=1, le=5, description="Priority of the corrective order.")
    recorded_by: str = Field(default="api", min_length=1, max_length=120,
                             description="Who found it; the API sets it to the logged-in user.")

    @model_validator(mode="after")
    def _category_for_repairs(self):
        if self.needs_repair and self.fault_category is None:
            raise ValueError("a finding that needs a repair needs a fault_category for its corrective order")
        return self


@contextmanager
def _tuple_rows(conn: psycopg.Connection) -> Iterator[None]:
    # maintenance.orders.lifecycle reads rows by position; the API's pooled connections
    # return dicts. Switch for the call, and put the caller's factory back.
    saved = conn.row_factory
    conn.row_factory = tuple_row
    try:
        yield
    finally:
        conn.row_factory = saved


_FINDING_COLUMNS = ("id, work_order_id, pile_id, item, observation, needs_repair, fault_category, "
                    "corrective_order_id, recorded_at, recorded_by")


def record_finding(conn: psycopg.Connection, policy: Policy, order_id: int, finding: FindingCreate) -> dict:
    """Add a finding to an open inspection (or PM) order; open the repair it calls for."""
    with conn.transaction():
        with conn.cursor(row_factory=tuple_row) as cur:
            # FOR SHARE: the order cannot be closed under a finding being recorded.
            order = cur.execute("SELECT w.kind, w.state, coalesce(w.site_id, p.site_id) FROM work_orders w "
                                "JOIN piles p ON p.id = w.pile_id WHERE w.id = %s FOR SHARE OF w",
                                (order_id,)).fetchone()
            if order is None or order[0] not in _RECORDED_ON:
                raise NotFound(f"no inspection or preventive order {order_id}")
            kind, state, site_id = order
            if state in ("closed", "cancelled"):
                raise Conflict(f"{kind} order {order_id} is {state}; findings are recorded while it is open")
            pile = cur.execute("SELECT site_id FROM piles WHERE id = %s", (finding.pile_id,)).fetchone()
        if pile is None:
            raise InvalidInput(f"pile_id: no pile {finding.pile_id!r}")
        if pile[0] != site_id:
            raise InvalidInput(f"pile_id: {finding.pile_id} is at {pile[0]}, not at {site_id} where order {order_id} is")
        corrective_id = None
        if finding.needs_repair:
            with _tuple_rows(conn):
                # A defect found on a round is not yet a breakdown: the minor clocks apply.
                response_h, resolve_h = policy.sla_for(Severity.MINOR, None, False)
                corrective_id, _ = open_corrective(
                    conn, finding.pile_id, finding.fault_category, priority=finding.priority,
                    title=f"Found on {kind} #{order_id}: {finding.item}", actor=finding.recorded_by,
                    severity=Severity.MINOR.value, response_h=response_h, resolve_h=resolve_h)
        with conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(
                "INSERT INTO inspection_findings (work_order_id, pile_id, item, observation, needs_repair, "
                "fault_category, corrective_order_id, recorded_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                f"RETURNING {_FINDING_COLUMNS}",
                (order_id, finding.pile_id, finding.item, finding.observation, finding.needs_repair,
                 finding.fault_category, corrective_id, finding.recorded_by)).fetchone()


def findings(conn: psycopg.Connection, order_id: int) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {_FINDING_COLUMNS} FROM inspection_findings WHERE work_order_id = %s ORDER BY id",
                           (order_id,)).fetchall()


_ROUNDS = """
SELECT w.id, w.site_id, s.name AS site_name, w.pile_id, w.state, w.title, w.due_at, w.checklist,
       w.created_at, w.closed_at,
       (SELECT count(*) FROM piles p WHERE p.site_id = w.site_id) AS piles,
       (SELECT count(*) FROM inspection_findings f WHERE f.work_order_id = w.id) AS finding_count,
       (SELECT count(*) FROM inspection_findings f WHERE f.work_order_id = w.id AND f.needs_repair) AS repair_count
FROM work_orders w JOIN sites s ON s.id = w.site_id
WHERE w.kind = 'inspection'
"""


def list_rounds(conn: psycopg.Connection, *, site_id: str | None = None, open_only: bool | None = None,
                limit: int = 100, offset: int = 0) -> tuple[list[dict], int]:
    """Inspection rounds, newest due first, with their finding counts; and the total."""
    where, params = [], {"limit": limit, "offset": offset}
    if site_id is not None:
        where.append("w.site_id = %(site)s")
        params["site"] = site_id
    if open_only is not None:
        where.append(("" if open_only else "NOT ") + "(w.state NOT IN ('closed', 'cancelled'))")
    clause = "".join(" AND " + w for w in where)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_ROUNDS + clause + " ORDER BY w.due_at DESC, w.id DESC LIMIT %(limit)s OFFSET %(offset)s",
                           params).fetchall()
        count = cur.execute("SELECT count(*) AS n FROM work_orders w WHERE w.kind = 'inspection'" + clause,
                            params).fetchone()["n"]
    return rows, count


def get_round(conn: psycopg.Connection, order_id: int) -> dict:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_ROUNDS + " AND w.id = %s", (order_id,)).fetchone()
    if row is None:
        raise NotFound(f"no inspection round {order_id}")
    return row
