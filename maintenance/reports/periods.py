"""The periods reports cover: a calendar month ("2026-10") or quarter ("2026Q3"), in UTC,
as half-open [start, end) bounds (R-KPI: a monthly report, a quarterly analysis)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import Enum

from pilecare.errors import InvalidInput


class ReportKind(str, Enum):
    """What a stored report is (reports.kind, migration 0043; R-KPI)."""

    MONTHLY = "monthly"        # the monthly service report, due by the 5th of the next month
    QUARTERLY = "quarterly"    # the quarterly fault analysis per pile model


_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


def _first(index: int) -> datetime:
    """The first instant (UTC) of month number `index` (year * 12 + month - 1)."""
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Period:
    """A month or a quarter: its name as written in URLs and files, and its [start, end)."""

    kind: ReportKind
    name: str
    start: datetime
    end: datetime

    def previous(self) -> Period:
        """The period of the same kind just before this one."""
        months = 1 if self.kind is ReportKind.MONTHLY else 3
        index = self.start.year * 12 + self.start.month - 1 - months
        return (month if self.kind is ReportKind.MONTHLY else quarter)(_first(index).date())


def month(day: date) -> Period:
    """The calendar month holding `day`."""
    index = day.year * 12 + day.month - 1
    return Period(ReportKind.MONTHLY, f"{day.year:04d}-{day.month:02d}", _first(index), _first(index + 1))


def quarter(day: date) -> Period:
    """The calendar quarter holding `day`."""
    q = (day.month - 1) // 3
    index = day.year * 12 + q * 3
    return Period(ReportKind.QUARTERLY, f"{day.year:04d}Q{q + 1}", _first(index), _first(index + 3))


def parse(kind: ReportKind, name: str, *, field: str = "period") -> Period:
    """"2026-10" as a month, "2026Q3" as a quarter. Raises InvalidInput naming `field`."""
    kind = ReportKind(kind)
    pattern, example = (_MONTH, "2026-10") if kind is ReportKind.MONTHLY else (_QUARTER, "2026Q3")
    found = pattern.match(name or "")
    if not found or not 2000 <= int(found.group(1)) <= 2999:
        raise InvalidInput(f"{field}: expected a {kind.value[:-2]} like {example} (years 2000-2999), got {name!r}")
    year, part = int(found.group(1)), int(found.group(2))
    return month(date(year, part, 1)) if kind is ReportKind.MONTHLY else quarter(date(year, 3 * part - 2, 1))
