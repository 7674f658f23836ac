"""Trend rules, run on a schedule with pandas: a pile whose hourly average drifts towards
a limit gets a warning before it fails (insulation ageing, a fan bearing wearing out).

A least-squares line through the last `lookback_days` of hourly means is extended
forward; if it crosses the limit within `horizon_days`, the alarm carries the predicted
date. The line is refitted every run, so a trend that flattens clears its alarm.
"""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import psycopg

from maintenance.alarms.lifecycle import raise_alarm, request_clear
from maintenance.policy import Policy
from maintenance.alarms.rules import RuleSet, TrendRule


def hourly(conn: psycopg.Connection, metric: str, lookback_days: float) -> pd.DataFrame:
    """Hourly means of a pile-level metric per pile (connector 0 rows carry pile metrics)."""
    if metric not in ("fan_rpm", "insulation_mohm", "temp_internal_c"):
        raise ValueError(metric)
    column = "temp_c" if metric == "temp_internal_c" else metric  # the pile row keeps its cabinet temperature in temp_c
    rows = conn.execute(
        f"SELECT pile_id, date_trunc('hour', time) AS hour, avg({column}) AS value FROM telemetry "
        f"WHERE connector_id = 0 AND time > now() - make_interval(secs => %s) AND {column} IS NOT NULL "
        f"GROUP BY 1, 2", (lookback_days * 86_400,)).fetchall()
    return pd.DataFrame(rows, columns=["pile_id", "hour", "value"])


def predict(frame: pd.DataFrame, rule: TrendRule, now) -> dict[str, dict]:
    """Per pile: the fitted slope per day, the value now and, if within the horizon, when
    the line crosses the limit."""
    out = {}
    for pile_id, group in frame.groupby("pile_id"):
        if len(group) < rule.min_points:
            continue
        days = (group["hour"] - now).dt.total_seconds().to_numpy() / 86_400
        slope, intercept = np.polyfit(days, group["value"].astype(float).to_numpy(), 1)
        current = float(intercept)  # the line's value at `now`
        toward = slope > 0 if rule.above else slope < 0
        crossed = current >= rule.limit if rule.above else current <= rule.limit
        eta_days = 0.0 if crossed else ((rule.limit - current) / slope if toward and slope else None)
        out[pile_id] = {"slope_per_day": round(float(slope), 4), "value_now": round(current, 2),
                        "eta_days": None if eta_days is None else round(float(eta_days), 2)}
    return out


def run(conn: psycopg.Connection, rules: RuleSet, policy: Policy) -> int:
    """Evaluate every trend rule once; return the number of alarm changes."""
    changes = 0
    now = conn.execute("SELECT now()").fetchone()[0]
    for rule in rules.of_kind(TrendRule):
        predictions = predict(hourly(conn, rule.metric, rule.lookback_days), rule, pd.Timestamp(now))
        clear_after = rule.clear_after_s if rule.clear_after_s is not None else policy.clear_after_s
        with conn.transaction():
            active = {r[0] for r in conn.execute(
                "SELECT pile_id FROM alarms WHERE rule_id = %s AND state = 'active' AND clear_requested_at IS NULL",
                (rule.id,))}
            for pile_id, p in predictions.items():
                if p["eta_days"] is not None and p["eta_days"] <= rule.horizon_days:
                    at_risk = now + timedelta(days=p["eta_days"])
                    if pile_id not in active:
                        raise_alarm(conn, pile_id, 0, rule, at=now, clear_after_s=clear_after,
                                    detail=p | {"predicted_at": at_risk.isoformat(), "limit": rule.limit})
                        changes += 1
                elif pile_id in active:
                    request_clear(conn, pile_id, 0, rule.id, at=now, note=f"trend no longer predicts a failure: {p}")
                    changes += 1
    return changes
