"""Staff scorecards (R-KPI, R-NO-REPEAT, R-COMPLAINT: service quality per engineer and team and
period): jobs, first-time fix, repeat repairs, timeliness, satisfaction and complaints.

- jobs: work orders of any kind the engineer finished (a done assignment) that closed in the
  period;
- first-time fix: maintenance.kpi.service's definition (corrective orders repaired and closed
  in the period, those never reopened), over the engineer's orders as kpi scopes them (a done
  assignment). Counted here for every engineer in one query, since `compute(engineer_id=…)`
  also measures the fleet's availability each time (0.2 s on 5,000 piles, per engineer);
  tests/test_scorecards.py holds the two equal for every engineer;
- repeat repairs (R-NO-REPEAT, "tracked per engineer"): corrective orders opened in the
  period that repeat a repair the engineer finished — the repair that did not hold is the
  one counted against them, not the repeat's repair; rate over their repairs of the period;
- timeliness: timeliness.py (the orders' SLA resolve clock), the engineer's orders;
- satisfaction and complaints: maintenance.kpi.desk's breakdown by engineer or team
  (a follow-up's engineer is its order's; a complaint's, the one found responsible).

A team is an engineer's first region (as maintenance.kpi.desk has it: pilecare keeps no
other team record); a team's rates are over the sums of its engineers' counts.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import Enum

import psycopg
from psycopg.rows import tuple_row

from maintenance.kpi import desk as desk_kpi
from maintenance.reports import timeliness


class ScorecardBy(str, Enum):
    """Who a scorecard is for."""

    ENGINEER = "engineer"
    TEAM = "team"


@dataclass
class Scorecard:
    group: str | None          # the engineer's id or the team; None: no team (an engineer without a region)
    name: str | None           # the engineer's name (engineers); None for teams
    team: str | None
    engineers: int
    jobs: int
    repairs: int               # corrective orders repaired and closed in the period (first-time fix's basis)
    fixed_first_time: int
    first_time_fix_rate: float | None
    repeat_repairs: int        # repeats opened in the period of repairs the engineer finished
    repeat_repair_rate: float | None
    resolved: int              # corrective orders with a resolve clock resolved in the period
    resolved_in_time: int
    timeliness_rate: float | None
    follow_ups_scored: int
    csat_mean: float | None
    csat_share: float | None
    complaints: int            # recorded in the period with the engineer (team) found responsible

    def as_dict(self) -> dict:
        return asdict(self)


_ENGINEERS = "SELECT id, name, regions[1] FROM engineers ORDER BY id"

# Jobs, and first-time fix as maintenance.kpi.service._ORDERS counts it (repaired, fixed_first_time).
_JOBS = """
SELECT a.engineer_id, count(DISTINCT wo.id) FILTER (WHERE wo.state = 'closed') AS jobs,
  count(DISTINCT wo.id) FILTER (WHERE wo.kind = 'corrective' AND wo.resolution = 'repaired') AS repaired,
  count(DISTINCT wo.id) FILTER (WHERE wo.kind = 'corrective' AND wo.resolution = 'repaired'
                                AND wo.reopened_count = 0) AS fixed_first_time
FROM assignments a JOIN work_orders wo ON wo.id = a.work_order_id
WHERE a.state = 'done' AND wo.closed_at >= %(s)s AND wo.closed_at < %(e)s
GROUP BY 1
"""

_REPEATS = """
SELECT a.engineer_id, count(DISTINCT r.id)
FROM work_orders r JOIN assignments a ON a.work_order_id = r.repeat_of AND a.state = 'done'
WHERE r.kind = 'corrective' AND r.created_at >= %(s)s AND r.created_at < %(e)s
GROUP BY 1
"""


def _rate(numerator: int, denominator: int) -> float | None:
    return None if not denominator else round(numerator / denominator, 4)


def _with_rates(card: Scorecard) -> Scorecard:
    card.first_time_fix_rate = _rate(card.fixed_first_time, card.repairs)
    card.repeat_repair_rate = _rate(card.repeat_repairs, card.repairs)
    card.timeliness_rate = timeliness.rate(card.resolved, card.resolved_in_time)
    return card


def scorecards(conn: psycopg.Connection, start: datetime, end: datetime,
               by: ScorecardBy = ScorecardBy.ENGINEER) -> list[Scorecard]:
    """Scorecards for [start, end), one per engineer (every engineer, by id) or per team (by
    name, no team last)."""
    by = ScorecardBy(by)
    cur = conn.cursor(row_factory=tuple_row)
    params = {"s": start, "e": end}
    jobs = {engineer: counts for engineer, *counts in cur.execute(_JOBS, params).fetchall()}
    repeats = dict(cur.execute(_REPEATS, params).fetchall())
    on_time = timeliness.counts(conn, start, end, by="engineer")
    desk = {k.group: k for k in desk_kpi.breakdown(conn, start, end, desk_kpi.Dimension.ENGINEER)}
    cards = []
    for engineer_id, name, team in cur.execute(_ENGINEERS).fetchall():
        done, repaired, first_time = jobs.get(engineer_id, (0, 0, 0))
        resolved, in_time = on_time.get(engineer_id, (0, 0))
        d = desk.get(engineer_id) or desk_kpi.DeskKpis(group=engineer_id)
        cards.append(_with_rates(Scorecard(
            group=engineer_id, name=name, team=team, engineers=1, jobs=done,
            repairs=repaired, fixed_first_time=first_time, first_time_fix_rate=None,
            repeat_repairs=repeats.get(engineer_id, 0), repeat_repair_rate=None, resolved=resolved,
            resolved_in_time=in_time, timeliness_rate=None, follow_ups_scored=d.follow_ups_scored,
            csat_mean=d.csat_mean, csat_share=d.csat_share, complaints=d.complaints)))
    if by is ScorecardBy.ENGINEER:
        return cards
    return _teams(cards, {k.group: k for k in desk_kpi.breakdown(conn, start, end, desk_kpi.Dimension.TEAM)})


def _teams(cards: list[Scorecard], desk: dict) -> list[Scorecard]:
    teams: dict[str | None, Scorecard] = {}
    for c in cards:
        t = teams.setdefault(c.team, Scorecard(group=c.team, name=None, team=c.team, engineers=0, jobs=0, repairs=0,
                                               fixed_first_time=0, first_time_fix_rate=None, repeat_repairs=0,
                                               repeat_repair_rate=None, resolved=0, resolved_in_time=0,
                                               timeliness_rate=None, follow_ups_scored=0, csat_mean=None,
                                               csat_share=None, complaints=0))
        t.engineers += 1
        for counted in ("jobs", "repairs", "fixed_first_time", "repeat_repairs", "resolved", "resolved_in_time"):
            setattr(t, counted, getattr(t, counted) + getattr(c, counted))
    for team, t in teams.items():
        d = desk.get(team) or desk_kpi.DeskKpis(group=team)
        t.follow_ups_scored, t.csat_mean, t.csat_share, t.complaints = (d.follow_ups_scored, d.csat_mean,
                                                                        d.csat_share, d.complaints)
        _with_rates(t)
    return sorted(teams.values(), key=lambda t: (t.group is None, str(t.group)))
