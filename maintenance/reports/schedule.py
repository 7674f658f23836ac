"""Scheduled reports (R-KPI: "monthly report by the 5th of the next month; quarterly analysis"):
`generate_due`, which the maintenance worker runs every hour, produces last month's service
report on the policy's due day (the 5th: the month's follow-ups, due a few days after its last
jobs, are in by then), and after a quarter its fault analysis, each exactly once whatever the
number of workers (store.produce's claim), and mails it to the policy's recipients.

The mail carries a link to each file, not the files: outbound mail goes through the outbox
(maintenance/outbox/mail.py), which carries text; and a report holds customer and staff
figures (R-INFO) that stay behind the login, with the roles that may read them, instead of
sitting in mailboxes. A worker down on the 5th produces it when it is back (the same
period, later); only the latest month and quarter are produced automatically.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta, timezone

import psycopg

from maintenance.outbox.events import Event
from maintenance.outbox.mail import OutgoingMail, enqueue_mail
from maintenance.policy import Policy
from maintenance.reports import periods, store
from maintenance.reports.periods import Period, ReportKind

log = logging.getLogger(__name__)

ACTOR = "schedule"


def due(now: datetime, due_day: int = 5) -> list[Period]:
    """The periods whose scheduled report is due at `now`: last month from its due day (the
    `due_day`th of this month, 00:00 UTC) on, and last quarter from the due day of the month
    after it."""
    first = now.astimezone(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if now < first + timedelta(days=due_day - 1):
        return []
    last_month = periods.month((first - timedelta(days=1)).date())
    result = [last_month]
    if first.month in (1, 4, 7, 10):
        result.append(periods.quarter(last_month.start.date()))
    return result


def _mail(base_url: str, recipients: list[str], period: Period):
    """The on_stored step: one mail per recipient, in the report's transaction."""
    what = "Monthly service report" if period.kind is ReportKind.MONTHLY else "Quarterly fault analysis"

    def send(conn: psycopg.Connection, report_id: int) -> None:
        body = (f"The {what.lower()} for {period.name} is ready.\n\n"
                f"PDF:  {base_url}/reports/{report_id}.pdf\n"
                f"XLSX: {base_url}/reports/{report_id}.xlsx\n\n"
                "Log in to pilecare to download it (managers and supervisors).\n")
        for address in recipients:
            message_id = f"report{report_id}.{uuid.uuid4().hex}@pilecare"
            enqueue_mail(conn, OutgoingMail(to=address, subject=f"[pilecare] {what} {period.name}", body=body,
                                            message_id=message_id),
                         {"report_id": report_id, "kind": period.kind.value, "period": period.name,
                          "message_id": message_id}, event=Event.REPORT_MAIL)
        conn.execute("UPDATE reports SET recipients = %s WHERE id = %s", (recipients, report_id))

    return send


def generate_due(conn: psycopg.Connection, now: datetime | None = None, *, policy: Policy,
                 base_url: str = "http://127.0.0.1:8000") -> list[int]:
    """Produce and mail the scheduled reports due at `now` that no worker has produced yet;
    returns the ids produced by this call. `conn`: an idle autocommit connection."""
    now = now or datetime.now(timezone.utc)
    produced = []
    for period in due(now, policy.reports.due_day):
        report_id = store.produce(conn, period, actor=ACTOR, trigger=store.Trigger.SCHEDULE, now=now,
                                  policy=policy,
                                  on_stored=_mail(base_url.rstrip("/"), policy.reports.recipients, period))
        if report_id is not None:
            log.info("%s report %s produced (id %d), mailed to %d", period.kind.value, period.name, report_id,
                     len(policy.reports.recipients))
            produced.append(report_id)
    return produced
