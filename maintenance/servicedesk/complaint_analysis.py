"""What complaints say about the service (R-COMPLAINT: analysed so that they do not recur,
counted in staff assessment; R-KPI: per engineer, team and period).

Read only. A complaint counts in the period it was recorded in (complaints.created_at,
calendar periods in UTC). It counts against an engineer only when the investigation found
that engineer responsible (responsible_party 'engineer', engineer_id) — not merely for
having worked on the order. An engineer's team is their first region (engineers.regions[1]):
pilecare has no team table, and dispatch already groups engineers by the regions they
cover; an engineer without regions is in no team (team None).
"""
from __future__ import annotations

from datetime import datetime
from enum import Enum

import psycopg
from psycopg.rows import tuple_row


class AnalysisPeriod(str, Enum):
    """Calendar periods (UTC) the analysis counts by."""

    WEEK = "week"        # ISO weeks, from Monday
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


_STEP = {AnalysisPeriod.WEEK: "1 week", AnalysisPeriod.MONTH: "1 month", AnalysisPeriod.QUARTER: "3 months", AnalysisPeriod.YEAR: "1 year"}


def analysis(conn: psycopg.Connection, *, start: datetime, end: datetime, period: AnalysisPeriod = AnalysisPeriod.MONTH) -> dict:
    """Complaints recorded in [start, end), counted:

    - ``total``; ``uncategorised``: not investigated yet (no category);
    - ``periods``: [{"start": date, "count", "by_category": {category: n}}] for every
      calendar period touching the range, oldest first, empty ones included (zeros omitted
      from by_category);
    - ``by_category`` {category: n}, ``by_party`` {responsible party: n};
    - ``by_engineer``: [{"engineer_id", "name", "team", "count"}], most first;
    - ``by_team``: [{"team", "count"}], most first, no team last (complaints with a
      responsible engineer);
    - ``recurring``: [{"cause_class", "count", "categories"}], the causes found, most first
      (ties by name): what recurs.

    `start` and `end` are aware datetimes; the caller bounds the range."""
    cur = conn.cursor(row_factory=tuple_row)
    rng = {"start": start, "end": end, "period": AnalysisPeriod(period).value, "step": _STEP[AnalysisPeriod(period)]}
    base = "FROM complaints c WHERE c.created_at >= %(start)s AND c.created_at < %(end)s"
    total, uncategorised = cur.execute(
        f"SELECT count(*), count(*) FILTER (WHERE c.category IS NULL) {base}", rng).fetchone()
    periods = {p: {"start": p, "count": 0, "by_category": {}} for (p,) in cur.execute(
        "SELECT generate_series(date_trunc(%(period)s, %(start)s AT TIME ZONE 'UTC'), "
        "                       %(end)s AT TIME ZONE 'UTC' - interval '1 microsecond', %(step)s::interval)::date",
        rng).fetchall()}
    for p, category, n in cur.execute(
            f"SELECT date_trunc(%(period)s, c.created_at AT TIME ZONE 'UTC')::date, c.category, count(*) {base} "
            "GROUP BY 1, 2", rng).fetchall():
        bucket = periods.setdefault(p, {"start": p, "count": 0, "by_category": {}})
        bucket["count"] += n
        if category is not None:
            bucket["by_category"][category] = n
    by_category = dict(cur.execute(f"SELECT c.category, count(*) {base} AND c.category IS NOT NULL GROUP BY 1 "
                                   "ORDER BY 2 DESC, 1", rng).fetchall())
    by_party = dict(cur.execute(f"SELECT c.responsible_party, count(*) {base} AND c.responsible_party IS NOT NULL "
                                "GROUP BY 1 ORDER BY 2 DESC, 1", rng).fetchall())
    by_engineer = [{"engineer_id": e, "name": name, "team": team, "count": n} for e, name, team, n in cur.execute(
        "SELECT e.id, e.name, e.regions[1], count(*) FROM complaints c JOIN engineers e ON e.id = c.engineer_id "
        "WHERE c.created_at >= %(start)s AND c.created_at < %(end)s AND c.responsible_party = 'engineer' "
        "GROUP BY e.id ORDER BY 4 DESC, 1", rng).fetchall()]
    teams: dict[str | None, int] = {}
    for row in by_engineer:
        teams[row["team"]] = teams.get(row["team"], 0) + row["count"]
    recurring = [{"cause_class": cause, "count": n, "categories": categories} for cause, n, categories in cur.execute(
        f"SELECT c.cause_class, count(*), array_agg(DISTINCT c.category ORDER BY c.category) "
        f"{base} AND c.cause_class IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1", rng).fetchall()]
    return {
        "total": total,
        "uncategorised": uncategorised,
        "periods": [periods[p] for p in sorted(periods)],
        "by_category": by_category,
        "by_party": by_party,
        "by_engineer": by_engineer,
        "by_team": [{"team": t, "count": n} for t, n in sorted(teams.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))],
        "recurring": recurring,
    }
