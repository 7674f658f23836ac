"""Calendar months for preventive plans (R-PM, "every N months").

"Every 1 month from 31 January" falls due on 28 February (29 in a leap year), 31 March,
30 April, 31 May …: each date is the anchor plus k × N months, counted from the anchor and
never from the previous due date, so a short month neither skips a month (as RFC 5545's
BYMONTHDAY rule, and dateutil's rrule with it, would) nor drifts the series to the 28th
(as adding a month to the previous date would). python-dateutil's `relativedelta` clamps a
day the month lacks to its last day.

Dates here are local calendar days of the pile's site (its `timezone`); a due date is the
end of that local day (`end_of_day`).
"""
from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

# The last whole second of a local day: work done that day is on time (compliance
# compares completion with due_at), and the instant still reads as that day.
_END_OF_DAY = time(23, 59, 59)


def nth(anchor: date, months: int, k: int) -> date:
    """anchor + k × months calendar months, a missing day clamped to the month's last."""
    return anchor + relativedelta(months=months * k)


def next_due(anchor: date, months: int, after: date) -> date:
    """The first date of the series anchor + k × months (k ≥ 1) later than `after`.

    ValueError for months < 1.
    """
    if months < 1:
        raise ValueError(f"months must be at least 1, not {months}")
    elapsed = (after.year - anchor.year) * 12 + after.month - anchor.month
    # One step short of the estimate, so clamping can never make the first pick overshoot.
    k = max(1, elapsed // months - 1)
    while (day := nth(anchor, months, k)) <= after:
        k += 1
    return day


def scaled_months(months: int, factor: float) -> int:
    """A month interval shortened by an environment factor: rounded half up to whole
    months (a calendar plan stays on whole months), never below one."""
    return max(1, int(months * factor + 0.5))


def end_of_day(day: date, zone: str) -> datetime:
    """The instant a local day ends in `zone` (an IANA name), as an aware datetime."""
    return datetime.combine(day, _END_OF_DAY, ZoneInfo(zone))


def local_day(at: datetime, zone: str) -> date:
    """The local calendar day of instant `at` in `zone`."""
    return at.astimezone(ZoneInfo(zone)).date()
