"""A fresh demo's preventive history (issue 12, item 3): each pile had its last preventive
visit some time within its plan's interval, so the planner starts from a fleet that is
mostly compliant with a realistic overdue backlog, not 186 orders for 200 piles due as far
back as the piles' commissioning.

The history is marked as seeded (created_by 'seed') and closed on time: the KPI page's PM
compliance of past periods reads it like any other record.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import psycopg

from maintenance.planning import planner
from maintenance.planning.plans import seed_default_plans

SEEDED_BY = "seed"


def seed_pm_history(conn: psycopg.Connection, *, seed: int = 1, overdue_share: float = 0.06,
                    now: datetime | None = None) -> str:
    """One closed preventive order per pile and plan whose interval has passed since the pile
    went into service: done at a random point of the last interval, or, for `overdue_share`
    of them, a little more than one interval ago (the backlog). Returns a one-line summary."""
    now = now or datetime.now(timezone.utc)
    rng = random.Random(seed)
    seed_default_plans(conn, actor=SEEDED_BY)
    rows, overdue = [], 0
    for due in planner.forecast(conn, now):
        interval = due.due_at - due.since
        if interval <= timedelta(days=1) or due.since + interval > now:
            continue  # not in service for a whole interval yet: no PM was due
        late = rng.random() < overdue_share
        done = now - interval * (rng.uniform(1.02, 1.3) if late else rng.uniform(0.05, 0.9))
        if done < due.since:
            continue
        overdue += late
        rows.append((due.pile_id, due.site_id, due.plan_id, done - timedelta(days=2), done, done, done, done))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO work_orders (kind, pile_id, site_id, plan_id, title, created_by, state, resolution, "
            "created_at, due_at, resolved_at, verified_at, closed_at) "
            f"VALUES ('preventive', %s, %s, %s, 'Preventive maintenance (seeded history)', '{SEEDED_BY}', 'closed', "
            "'repaired', %s, %s, %s, %s, %s)", rows)
    return f"seeded the preventive history of {len(rows)} pile plans ({overdue} of them overdue now)"
