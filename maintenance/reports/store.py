"""Reports as stored (migration 0043): each one built, rendered to PDF and XLSX, and kept with
its data model (`totals`) in one row, so what was sent is what is downloaded later.

Producing one is claimed in PostgreSQL: a transaction-scoped advisory lock per (kind, period)
serialises producers of the same report, and the scheduled report's row is unique per
(kind, period) (`reports_one_scheduled`), so any number of workers produce it once. The
report is built inside that transaction, in one snapshot (REPEATABLE READ): its sections
agree with each other. A producer that fails rolls back and leaves nothing behind.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row

from maintenance.policy import Policy
from maintenance.reports import faults, layout, monthly, pdf, xlsx
from maintenance.reports.periods import Period, ReportKind
from pilecare.errors import InvalidInput, NotFound


class Trigger(str, Enum):
    """Why a report was produced (reports.trigger)."""

    SCHEDULE = "schedule"     # the worker, by the due day; mailed
    MANAGER = "manager"       # on demand: a new version beside the earlier ones


class FileFormat(str, Enum):
    PDF = "pdf"
    XLSX = "xlsx"


MEDIA_TYPES = {FileFormat.PDF: "application/pdf",
               FileFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@dataclass
class StoredReport:
    id: int
    kind: ReportKind
    period: str
    version: int
    trigger: Trigger
    generated_at: datetime
    generated_by: str
    recipients: list[str]
    pdf_bytes: int
    xlsx_bytes: int
    totals: dict | None = None     # the data model; only when asked for one report


@dataclass
class Rendered:
    totals: dict
    pdf: bytes
    xlsx: bytes


_COLUMNS = ("id, kind, period, version, trigger, generated_at, generated_by, recipients, octet_length(pdf), "
            "octet_length(xlsx)")


def render(conn: psycopg.Connection, period: Period, *, now: datetime, policy: Policy | None = None) -> Rendered:
    """Build the report of `period` from the records and render it; nothing is stored. Money in
    `policy`'s currency, job costs at its rates (default: the shipped policy)."""
    if period.kind is ReportKind.MONTHLY:
        model = monthly.build(conn, period, now=now, policy=policy)
        title, subtitle, tables = (f"Monthly service report {period.name}",
                                   f"Month {period.start:%Y-%m-%d} to {period.end:%Y-%m-%d} (UTC, end exclusive).",
                                   layout.monthly(model))
    else:
        model = faults.analysis(conn, period, now=now, policy=policy)
        title, subtitle, tables = (f"Quarterly fault analysis {period.name}",
                                   f"Faults per pile model, per 100 installed piles, against {model.previous_period}.",
                                   layout.quarterly(model))
    totals = json.loads(json.dumps(model.as_dict(), default=str))
    return Rendered(totals, pdf.render(title, subtitle, tables, generated_at=now), xlsx.render(title, tables))


def _lock(conn: psycopg.Connection, period: Period, *, wait: bool) -> bool:
    """Take the session's advisory lock on (kind, period); False if another holds it and not `wait`.
    Taken before the report's transaction begins, so that its snapshot sees what the previous
    holder committed."""
    function = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
    row = conn.cursor(row_factory=tuple_row).execute(
        f"SELECT {function}(hashtext('pilecare.reports'), hashtext(%s))::text", (_key(period),)).fetchone()
    return wait or row[0] == "true"


def _unlock(conn: psycopg.Connection, period: Period) -> None:
    if conn.broken:
        return   # the session, and its lock, are gone with it
    conn.execute("SELECT pg_advisory_unlock(hashtext('pilecare.reports'), hashtext(%s))", (_key(period),))


def _key(period: Period) -> str:
    return f"{period.kind.value}:{period.name}"


def _insert(conn: psycopg.Connection, period: Period, rendered: Rendered, *, trigger: Trigger, actor: str,
            now: datetime) -> int | None:
    """The next version's row; None when the scheduled one exists already."""
    conflict = "ON CONFLICT (kind, period) WHERE trigger = 'schedule' DO NOTHING" if trigger is Trigger.SCHEDULE else ""
    row = conn.cursor(row_factory=tuple_row).execute(
        "INSERT INTO reports (kind, period, version, trigger, generated_at, generated_by, pdf, xlsx, totals) "
        "SELECT %(kind)s, %(period)s, coalesce(max(version), 0) + 1, %(trigger)s, %(now)s, %(actor)s, %(pdf)s, "
        "       %(xlsx)s, %(totals)s FROM reports WHERE kind = %(kind)s AND period = %(period)s "
        f"{conflict} RETURNING id",
        {"kind": period.kind.value, "period": period.name, "trigger": trigger.value, "now": now, "actor": actor,
         "pdf": rendered.pdf, "xlsx": rendered.xlsx, "totals": json.dumps(rendered.totals)}).fetchone()
    return row[0] if row else None


def produce(conn: psycopg.Connection, period: Period, *, actor: str, trigger: Trigger = Trigger.MANAGER,
            now: datetime | None = None, policy: Policy | None = None, on_stored=None) -> int | None:
    """Build, render and store the report of `period` as its next version; returns its id.

    A scheduled report (`trigger` SCHEDULE) is produced at most once per period: None when it
    exists or another worker is producing it now. `on_stored(conn, report_id)` runs in the
    same transaction (the mail to recipients: sent only if the report is stored). `policy`:
    the currency and the job costs' rates (default: the shipped policy). `conn`
    must be in autocommit mode and outside a transaction.
    Raises InvalidInput naming `period` for a period not over yet."""
    now = now or datetime.now(timezone.utc)
    if period.end > now:
        raise InvalidInput(f"period: {period.name} is not over yet (it ends {period.end:%Y-%m-%d} UTC)")
    if not conn.autocommit or conn.info.transaction_status != TransactionStatus.IDLE:
        raise RuntimeError("a report is produced in its own transaction: give an idle autocommit connection")
    if not _lock(conn, period, wait=trigger is Trigger.MANAGER):
        return None   # another worker holds the claim and is producing it now
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            if trigger is Trigger.SCHEDULE and conn.execute(
                    "SELECT 1 FROM reports WHERE kind = %s AND period = %s AND trigger = 'schedule'",
                    (period.kind.value, period.name)).fetchone():
                return None
            report_id = _insert(conn, period, render(conn, period, now=now, policy=policy), trigger=trigger,
                                actor=actor, now=now)
            if report_id is not None and on_stored is not None:
                on_stored(conn, report_id)
    finally:
        _unlock(conn, period)
    return report_id


def _stored(row, totals=None) -> StoredReport:
    id_, kind, period, version, trigger, at, by, recipients, pdf_n, xlsx_n = row
    return StoredReport(id_, ReportKind(kind), period, version, Trigger(trigger), at, by, list(recipients), pdf_n,
                        xlsx_n, totals)


def listing(conn: psycopg.Connection, *, kind: ReportKind | None = None, period: str | None = None,
            limit: int = 100, offset: int = 0) -> tuple[list[StoredReport], int]:
    """Stored reports, newest first (without their files), and how many match."""
    where = ("WHERE (%(kind)s::text IS NULL OR kind = %(kind)s) "
             "AND (%(period)s::text IS NULL OR period = %(period)s)")
    params = {"kind": kind.value if kind else None, "period": period, "limit": limit, "offset": offset}
    cur = conn.cursor(row_factory=tuple_row)
    rows = cur.execute(f"SELECT {_COLUMNS} FROM reports {where} ORDER BY generated_at DESC, id DESC "
                       "LIMIT %(limit)s OFFSET %(offset)s", params).fetchall()
    count = cur.execute(f"SELECT count(*) FROM reports {where}", params).fetchone()[0]
    return [_stored(r) for r in rows], count


def get(conn: psycopg.Connection, report_id: int) -> StoredReport:
    """One stored report with its data model. Raises NotFound."""
    row = conn.cursor(row_factory=tuple_row).execute(f"SELECT {_COLUMNS}, totals FROM reports WHERE id = %s",
                                                     (report_id,)).fetchone()
    if row is None:
        raise NotFound(f"report {report_id} does not exist")
    return _stored(row[:-1], row[-1])


def file(conn: psycopg.Connection, report_id: int, fmt: FileFormat) -> tuple[bytes, str]:
    """A stored report's PDF or XLSX and its file name. Raises NotFound."""
    fmt = FileFormat(fmt)
    row = conn.cursor(row_factory=tuple_row).execute(
        f"SELECT kind, period, version, {fmt.value} FROM reports WHERE id = %s", (report_id,)).fetchone()
    if row is None:
        raise NotFound(f"report {report_id} does not exist")
    kind, period, version, content = row
    return bytes(content), f"pilecare-{kind}-{period}-v{version}.{fmt.value}"
