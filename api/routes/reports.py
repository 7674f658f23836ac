"""Management reports (R-KPI, R-COST): the stored monthly service reports and quarterly fault
analyses with their PDF and XLSX, a manager's regeneration, the live fault analysis of a
quarter and staff scorecards. For managers and supervisors (and admins); producing a report
on demand is a manager's (maintenance/reports/)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import MANAGE, SUPERVISE, Actor, require
from api.deps import Offset, PlainConn, PolicyDep
from api.models import RequestBody
from maintenance import reports
from maintenance.reports import store
from maintenance.reports.periods import ReportKind
from pilecare.errors import InvalidInput

router = APIRouter(prefix="/reports", tags=["reports"])

READ = [Depends(require(*MANAGE, *SUPERVISE))]
PRODUCE = [Depends(require(*MANAGE))]
MAX_RANGE = timedelta(days=366)
ReportId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class ReportPublic(BaseModel):
    id: int
    kind: ReportKind
    period: str = Field(description="The month (2026-10) or quarter (2026Q3) it covers, UTC.")
    version: int = Field(description="1, and one more each time it is produced again; earlier ones are kept.")
    trigger: store.Trigger = Field(description="schedule: produced by the worker by the due day and mailed; "
                                               "manager: produced on demand.")
    generated_at: datetime
    generated_by: str
    recipients: list[str] = Field(description="Whom it was mailed to (a link), for a scheduled report.")
    pdf_bytes: int
    xlsx_bytes: int
    pdf_url: str
    xlsx_url: str


class ReportsPublic(BaseModel):
    data: list[ReportPublic]
    count: int


class ReportDetail(ReportPublic):
    totals: dict[str, Any] = Field(description="The report's data model: every figure its PDF and XLSX show "
                                               "(docs/reports.md).")


class ReportCreate(RequestBody):
    kind: ReportKind
    period: str = Field(min_length=1, max_length=10, description="A month (2026-10) for monthly, a quarter (2026Q3) "
                                                                "for quarterly; one that is over.")


class ScorecardPublic(BaseModel):
    group: str | None = Field(description="The engineer's id, or the team (an engineer's first region); null: no "
                                          "team.")
    name: str | None
    team: str | None
    engineers: int
    jobs: int = Field(description="Work orders the engineer finished that closed in the period.")
    repairs: int
    fixed_first_time: int
    first_time_fix_rate: float | None
    repeat_repairs: int = Field(description="Repeats opened in the period of repairs the engineer finished "
                                            "(R-NO-REPEAT).")
    repeat_repair_rate: float | None
    resolved: int
    resolved_in_time: int
    timeliness_rate: float | None
    follow_ups_scored: int
    csat_mean: float | None
    csat_share: float | None
    complaints: int


class ScorecardsPublic(BaseModel):
    data: list[ScorecardPublic]
    count: int


def _public(r: store.StoredReport, detail: bool = False) -> ReportPublic:
    fields = {k: v for k, v in vars(r).items() if k != "totals"}
    urls = {"pdf_url": f"/reports/{r.id}.pdf", "xlsx_url": f"/reports/{r.id}.xlsx"}
    return ReportDetail(**fields, **urls, totals=r.totals) if detail else ReportPublic(**fields, **urls)


@router.get("", dependencies=READ, summary="Stored reports, newest first; filter by kind and period")
def list_reports(conn: PlainConn, kind: ReportKind | None = None,
                 period: Annotated[str | None, Query(max_length=10)] = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Offset = 0) -> ReportsPublic:
    found, count = store.listing(conn, kind=kind, period=period, limit=limit, offset=offset)
    return ReportsPublic(data=[_public(r) for r in found], count=count)


@router.post("", dependencies=PRODUCE, status_code=201,
             summary="Produce a report again (or first) as its next version; earlier versions are kept")
def produce(conn: PlainConn, actor: Actor, policy: PolicyDep, body: ReportCreate) -> ReportDetail:
    period = reports.parse(body.kind, body.period)
    report_id = store.produce(conn, period, actor=actor, policy=policy)
    return _public(store.get(conn, report_id), detail=True)


@router.get("/fault-analysis", dependencies=READ,
            summary="The quarter's faults per pile model: ranked by count, downtime and job cost (parts, labour, "
                    "travel, other) per 100 installed piles, against the previous quarter")
def fault_analysis(conn: PlainConn, policy: PolicyDep,
                   quarter: Annotated[str, Query(max_length=10, description="e.g. 2026Q3")]) -> dict[str, Any]:
    found = reports.fault_analysis(conn, reports.parse(ReportKind.QUARTERLY, quarter, field="quarter"),
                                   policy=policy)
    return found.as_dict()


@router.get("/scorecards", dependencies=READ,
            summary="Staff scorecards per engineer or team: jobs, first-time fix, repeat repairs, timeliness, "
                    "satisfaction, complaints (default: the last 30 days)")
def scorecards(
    conn: PlainConn,
    by: reports.ScorecardBy = reports.ScorecardBy.ENGINEER,
    start: Annotated[AwareDatetime | None, Query(alias="from", description="default: 30 days before `to`")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to", description="default: now")] = None,
) -> ScorecardsPublic:
    end = end or datetime.now(timezone.utc)
    start = start or end - timedelta(days=30)
    if start >= end:
        raise InvalidInput("from: must be before to")
    if end - start > MAX_RANGE:
        raise InvalidInput("from: the range from … to may span at most 366 days")
    cards = reports.scorecards(conn, start, end, by)
    return ScorecardsPublic(data=[ScorecardPublic(**c.as_dict()) for c in cards], count=len(cards))


def _file(conn, report_id: int, fmt: store.FileFormat) -> Response:
    content, name = store.file(conn, report_id, fmt)
    return Response(content, media_type=store.MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/{report_id}.pdf", dependencies=READ, summary="A stored report's PDF",
            response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
def report_pdf(conn: PlainConn, report_id: ReportId) -> Response:
    return _file(conn, report_id, store.FileFormat.PDF)


@router.get("/{report_id}.xlsx", dependencies=READ, summary="A stored report's workbook (one sheet per section)",
            response_class=Response, responses={200: {"content": {store.MEDIA_TYPES[store.FileFormat.XLSX]: {}}}})
def report_xlsx(conn: PlainConn, report_id: ReportId) -> Response:
    return _file(conn, report_id, store.FileFormat.XLSX)


@router.get("/{report_id}", dependencies=READ, summary="One stored report with its figures (its data model)")
def get_report(conn: PlainConn, report_id: ReportId) -> ReportDetail:
    return _public(store.get(conn, report_id), detail=True)
