"""Complaints (R-COMPLAINT): the list, one complaint with its plan and timeline, each step of
its lifecycle, and the analysis by engineer, team, category and period.

Agents, dispatchers, supervisors and admins act; viewers read; closing a complaint is a
supervisor's decision (supervisor or admin). The lifecycle's rules are the server's
(maintenance/servicedesk/complaints.py): a 409 names the step that is missing.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Literal

import psycopg
from fastapi import APIRouter, Depends, Query
from psycopg.rows import dict_row
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import DESK, OFFICE, SUPERVISE, Actor, require
from api.deps import Conn, Offset, PlainConn
from api.models import RequestBody
from maintenance.servicedesk import complaint_analysis, complaints
from maintenance.servicedesk.complaint_analysis import AnalysisPeriod as Period
from maintenance.servicedesk.complaints import Category, ComplaintState, Measure, ResponsibleParty
from pilecare.errors import InvalidInput, NotFound

router = APIRouter(prefix="/complaints", tags=["complaints"])

READ = [Depends(require(*OFFICE))]
ACT = [Depends(require(*DESK))]
MAX_RANGE = timedelta(days=5 * 366)


class ComplaintPublic(BaseModel):
    id: int
    request_id: int
    customer_id: str
    customer_name: str
    subject: str = Field(description="The complaint request's subject.")
    state: ComplaintState
    round: int = Field(description="The plan's round: 1, and one more each time a follow-up finds the customer "
                                   "not satisfied.")
    category: Category | None
    cause_class: str | None
    responsible_party: ResponsibleParty | None
    engineer_id: str | None = Field(description="The engineer found responsible (responsible_party engineer).")
    work_order_id: int | None
    satisfied: bool | None = Field(description="The customer's last answer to a follow-up; null before one.")
    close_reason: str | None = Field(description="A supervisor's reason to close it without the customer satisfied.")
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    closed_by: str | None


class ComplaintsPublic(BaseModel):
    data: list[ComplaintPublic]
    count: int


class MeasurePublic(BaseModel):
    id: int
    round: int
    measure: str
    owner: str
    deadline: date
    done_at: datetime | None
    done_by: str | None
    created_at: datetime
    created_by: str


class ComplaintEventPublic(BaseModel):
    at: datetime
    actor: str
    from_state: ComplaintState | None
    to_state: ComplaintState | None
    note: str | None


class ComplaintFollowUpPublic(BaseModel):
    id: int
    due_at: datetime
    done_at: datetime | None
    channel: str | None
    solved: bool | None = Field(description="Whether the customer said they are satisfied.")
    satisfaction: int | None
    comments: str | None
    recorded_by: str | None
    withdrawn_at: datetime | None


class ComplaintDetail(ComplaintPublic):
    measures: list[MeasurePublic] = Field(description="Every round's measures, oldest first.")
    timeline: list[ComplaintEventPublic] = Field(description="Every step with who and when, oldest first.")
    follow_ups: list[ComplaintFollowUpPublic]


class Investigation(RequestBody):
    cause_class: str = Field(min_length=1, max_length=100, description="The cause found, as a short class "
                                                                       "(e.g. 'missed appointment'); what recurs "
                                                                       "is counted by it.")
    responsible_party: ResponsibleParty
    category: Category
    engineer_id: str | None = Field(default=None, max_length=64, description="Required when the responsible "
                                                                            "party is an engineer; else absent.")
    work_order_id: int | None = Field(default=None, ge=1, le=2**63 - 1, description="The work order concerned.")


class MeasureCreate(RequestBody):
    measure: str = Field(min_length=1, max_length=500)
    owner: str = Field(min_length=1, max_length=100, description="Who carries it out.")
    deadline: date = Field(description="By when (today or later, UTC).")


class Plan(RequestBody):
    measures: list[MeasureCreate] = Field(max_length=50, description="At least one.")


class Progress(RequestBody):
    text: str = Field(min_length=1, max_length=10_000)
    channel: Literal["phone", "email", "web"] | None = Field(
        default=None, description="How the customer is told; default: the channel the complaint came by.")


class Close(RequestBody):
    close_reason: str | None = Field(default=None, max_length=2000,
                                     description="Why it closes; required unless the customer said they are satisfied.")


class PeriodCount(BaseModel):
    start: date
    count: int
    by_category: dict[str, int]


class EngineerCount(BaseModel):
    engineer_id: str
    name: str
    team: str | None = Field(description="The engineer's first region.")
    count: int


class TeamCount(BaseModel):
    team: str | None
    count: int


class CauseCount(BaseModel):
    cause_class: str
    count: int
    categories: list[str | None]


class ComplaintAnalysis(BaseModel):
    model_config = {"populate_by_name": True}

    period: Period
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    total: int
    uncategorised: int = Field(description="Not investigated yet: no category.")
    periods: list[PeriodCount] = Field(description="Every calendar period (UTC) in the range, oldest first.")
    by_category: dict[str, int]
    by_party: dict[str, int]
    by_engineer: list[EngineerCount] = Field(description="Complaints whose investigation found the engineer "
                                                         "responsible, most first.")
    by_team: list[TeamCount] = Field(description="The same, per team (an engineer's first region).")
    recurring: list[CauseCount] = Field(description="The causes found, most frequent first: what recurs.")


_SELECT = ("SELECT c.id, c.request_id, c.customer_id, cu.name AS customer_name, r.subject, c.state, c.round, "
           "c.category, c.cause_class, c.responsible_party, c.engineer_id, c.work_order_id, c.satisfied, "
           "c.close_reason, c.created_at, c.updated_at, c.closed_at, c.closed_by "
           "FROM complaints c JOIN requests r ON r.id = c.request_id JOIN customers cu ON cu.id = c.customer_id")


@router.get("", dependencies=READ, summary="Complaints, newest first; filter by state, customer, engineer, category")
def list_complaints(
    conn: Conn,
    state: Annotated[list[ComplaintState] | None, Query()] = None,
    open: bool | None = Query(default=None, description="true: not closed"),
    customer_id: str | None = None,
    engineer_id: str | None = None,
    category: Category | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> ComplaintsPublic:
    where, params = [], {}
    if state:
        where.append("c.state = ANY(%(states)s)")
        params["states"] = [s.value for s in state]
    if open is not None:
        where.append("(c.state <> 'closed') = %(open)s")
        params["open"] = open
    for column, value in (("customer_id", customer_id), ("engineer_id", engineer_id), ("category", category)):
        if value is not None:
            where.append(f"c.{column} = %({column})s")
            params[column] = getattr(value, "value", value)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    rows = conn.execute(f"{_SELECT}{clause} ORDER BY c.created_at DESC, c.id DESC LIMIT %(limit)s OFFSET %(offset)s",
                        params | {"limit": limit, "offset": offset}).fetchall()
    count = conn.execute(f"SELECT count(*) AS n FROM complaints c{clause}", params).fetchone()["n"]
    return ComplaintsPublic(data=[ComplaintPublic(**r) for r in rows], count=count)


@router.get("/analysis", dependencies=READ,
            summary="Complaints by period, category, responsible party, engineer and team, and the causes that "
                    "recur (default: the last 12 months by month)")
def analysis(
    conn: PlainConn,
    period: Period = Period.MONTH,
    start: Annotated[AwareDatetime | None, Query(alias="from", description="default: 365 days before `to`")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to", description="default: now")] = None,
) -> ComplaintAnalysis:
    end = end or datetime.now(timezone.utc)
    start = start or end - timedelta(days=365)
    if start >= end:
        raise InvalidInput("from: must be before to")
    if end - start > MAX_RANGE:
        raise InvalidInput("from: the range from … to may span at most 5 years")
    found = complaint_analysis.analysis(conn, start=start, end=end, period=period)
    return ComplaintAnalysis(period=period, start=start, end=end, **found)


def detail(conn: psycopg.Connection, complaint_id: int) -> ComplaintDetail:
    """One complaint with its measures, follow-ups and timeline, whatever the connection's row factory."""
    cur = conn.cursor(row_factory=dict_row)
    row = cur.execute(f"{_SELECT} WHERE c.id = %s", (complaint_id,)).fetchone()
    if row is None:
        raise NotFound(f"complaint {complaint_id} does not exist")
    measures = cur.execute("SELECT id, round, measure, owner, deadline, done_at, done_by, created_at, created_by "
                            "FROM complaint_measures WHERE complaint_id = %s ORDER BY round, id",
                            (complaint_id,)).fetchall()
    timeline = cur.execute("SELECT at, actor, from_state, to_state, note FROM complaint_events "
                            "WHERE complaint_id = %s ORDER BY at, id", (complaint_id,)).fetchall()
    follow_ups = cur.execute("SELECT id, due_at, done_at, channel, solved, satisfaction, comments, recorded_by, "
                              "withdrawn_at FROM follow_ups WHERE complaint_id = %s ORDER BY id",
                              (complaint_id,)).fetchall()
    return ComplaintDetail(**row, measures=[MeasurePublic(**m) for m in measures],
                           timeline=[ComplaintEventPublic(**e) for e in timeline],
                           follow_ups=[ComplaintFollowUpPublic(**f) for f in follow_ups])


@router.get("/{complaint_id}", dependencies=READ, summary="One complaint with its measures, follow-ups and timeline")
def get_complaint(conn: Conn, complaint_id: int) -> ComplaintDetail:
    return detail(conn, complaint_id)


@router.post("/{complaint_id}/pass-to-supervisor", dependencies=ACT,
             summary="Pass a recorded complaint to the supervisor (a notice to the supervisor role)")
def pass_to_supervisor(conn: PlainConn, actor: Actor, complaint_id: int) -> ComplaintDetail:
    complaints.pass_to_supervisor(conn, complaint_id, actor=actor)
    return detail(conn, complaint_id)


@router.post("/{complaint_id}/investigation", dependencies=ACT,
             summary="Record (or, while investigating, correct) the investigation: cause class, responsible party "
                     "(engineer_id when an engineer), category, the work order concerned")
def investigate(conn: PlainConn, actor: Actor, complaint_id: int, body: Investigation) -> ComplaintDetail:
    complaints.investigate(conn, complaint_id, cause_class=body.cause_class, responsible_party=body.responsible_party,
                           category=body.category, engineer_id=body.engineer_id, work_order_id=body.work_order_id,
                           actor=actor)
    return detail(conn, complaint_id)


@router.post("/{complaint_id}/plan", dependencies=ACT,
             summary="Answer the investigation with a plan: one or more measures, each with an owner and a deadline "
                     "(the only way out of investigation)")
def plan(conn: PlainConn, actor: Actor, complaint_id: int, body: Plan) -> ComplaintDetail:
    complaints.plan(conn, complaint_id, [Measure(m.measure, m.owner, m.deadline) for m in body.measures], actor=actor)
    return detail(conn, complaint_id)


@router.post("/{complaint_id}/measures/{measure_id}/done", dependencies=ACT,
             summary="Mark a measure of the plan done; the last one starts the follow-up with the customer")
def measure_done(conn: PlainConn, actor: Actor, complaint_id: int, measure_id: int) -> ComplaintDetail:
    complaints.measure_done(conn, complaint_id, measure_id, actor=actor)
    return detail(conn, complaint_id)


@router.post("/{complaint_id}/follow-up", dependencies=ACT,
             summary="Ask the customer whether they are satisfied: a follow-up for an agent's call (and its survey "
                     "link); answered with POST /follow-ups/{id}")
def follow_up(conn: PlainConn, actor: Actor, complaint_id: int) -> ComplaintDetail:
    complaints.follow_up(conn, complaint_id, actor=actor)
    return detail(conn, complaint_id)


@router.post("/{complaint_id}/progress", dependencies=ACT,
             summary="A progress update to the customer, in the complaint request's thread")
def progress(conn: PlainConn, actor: Actor, complaint_id: int, body: Progress) -> ComplaintDetail:
    complaints.progress(conn, complaint_id, body.text, actor=actor, channel=body.channel)
    return detail(conn, complaint_id)


@router.post("/{complaint_id}/close", dependencies=[Depends(require(*SUPERVISE))],
             summary="A supervisor closes the complaint; close_reason is required unless the customer said they are "
                     "satisfied")
def close(conn: PlainConn, actor: Actor, complaint_id: int, body: Close) -> ComplaintDetail:
    complaints.close(conn, complaint_id, actor=actor, close_reason=body.close_reason)
    return detail(conn, complaint_id)
