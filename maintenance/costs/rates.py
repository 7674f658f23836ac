"""Engineers' hourly rates for job costs (R-COST). An engineer without one is costed at the
policy's `pricing.labour_per_h`, the rate quotes use (maintenance/policy.py): one definition
of the labour rate, overridden per engineer here.
"""
from __future__ import annotations

from decimal import Decimal

import psycopg
from psycopg.rows import tuple_row

from maintenance.costs.job_costs import money
from pilecare.errors import InvalidInput, NotFound


def set_hourly_rate(conn: psycopg.Connection, engineer_id: str, hourly_rate: Decimal | float | None, *,
                    actor: str) -> None:
    """Set `engineer_id`'s hourly rate (currency units per hour; None: back to the policy's
    default), with who and when. Jobs are costed at the rate current when they are read.
    NotFound for an unknown engineer, InvalidInput for a negative rate."""
    rate = None if hourly_rate is None else money(hourly_rate)
    if rate is not None and rate < 0:
        raise InvalidInput("hourly_rate: 0 or more")
    changed = conn.cursor(row_factory=tuple_row).execute(
        "UPDATE engineers SET hourly_rate = %s, hourly_rate_set_by = %s, hourly_rate_set_at = now() WHERE id = %s",
        (rate, actor, engineer_id)).rowcount
    if not changed:
        raise NotFound(f"engineer {engineer_id!r} does not exist")
