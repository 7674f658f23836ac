"""Condition rules: evaluated each tick over the latest state of the fleet.

Every rule gives each (pile, connector) a verdict. A condition must hold for the rule's
`for_s` before its alarm is raised; when the pile is clearly healthy again the clear is
requested (and counts after the hold-off, alarms.py). In between — inside a threshold's
hysteresis band, or while the vehicle tapers — the alarm stays as it is. "Since when"
lives in `rule_conditions`, so a restarted or second process keeps the clock. One
process evaluates at a time (an advisory lock); the others skip the tick.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import psycopg
from psycopg.rows import dict_row

from maintenance.alarms.lifecycle import raise_alarm, request_clear
from pilecare.liveness import SILENCE_INTERVALS, is_online
from maintenance.policy import Policy
from maintenance.alarms.rules import (CONDITION_KINDS, PILE_METRICS, DeratingRule, FailedStartsRule, FlappingRule,
                               MeterRule, OfflineRule, RuleSet, StuckSessionRule, ThresholdRule)


class Verdict(str, Enum):
    RAISE = "raise"      # the condition holds (raise once it has held for for_s)
    CLEAR = "clear"      # clearly healthy: forget the clock, request the clear
    BAND = "band"        # neither: forget the clock, keep any alarm as it is
    UNKNOWN = "unknown"  # no data to judge: change nothing


@dataclass(frozen=True)
class Finding:
    verdict: Verdict
    now: bool = False               # raise at once, without waiting for for_s
    anchor: float | None = None     # meter reading a new clock starts from
    detail: dict | None = None


UNKNOWN = Finding(Verdict.UNKNOWN)
BAND = Finding(Verdict.BAND)
CLEAR = Finding(Verdict.CLEAR)

_PILES = """
SELECT p.id AS pile_id, s.online, s.last_seen, s.temp_internal_c, s.fan_rpm, s.ambient_c, m.reporting_interval_s
FROM piles p JOIN pile_state s ON s.pile_id = p.id JOIN pile_models m ON m.id = p.model_id
"""
_CONNECTORS = """
SELECT pile_id, connector_id, status, error_code, voltage_v, current_a, power_kw, power_offered_kw, energy_kwh,
       temp_c, soc_pct, status_since
FROM connector_state
"""


class Snapshot:
    """The fleet's latest state, read once per tick."""

    def __init__(self, conn: psycopg.Connection, now: datetime):
        self.now = now
        with conn.cursor(row_factory=dict_row) as cur:
            self.piles = {r["pile_id"]: r for r in cur.execute(_PILES)}
            self.connectors = cur.execute(_CONNECTORS).fetchall()
        self._conn = conn

    def fresh(self, pile: dict, factor: float = SILENCE_INTERVALS) -> bool:
        """Reporting: online by pilecare.liveness, with `factor` reporting intervals of patience."""
        return is_online(pile["online"], pile["last_seen"], pile["reporting_interval_s"], self.now, intervals=factor)

    def live_connectors(self):
        for c in self.connectors:
            pile = self.piles.get(c["pile_id"])
            if pile is not None and self.fresh(pile):
                yield c


# --- one function per rule kind: (rule, snapshot, pending clocks) → {(pile, connector): Finding}

def _threshold(rule: ThresholdRule, snap: Snapshot, conn, pending) -> dict:
    def judge(value):
        if value is None:
            return UNKNOWN
        over = value > rule.raise_at if rule.above else value < rule.raise_at
        back = value < rule.clear_at if rule.above else value > rule.clear_at
        return (Finding(Verdict.RAISE, detail={rule.metric: value, "limit": rule.raise_at}) if over
                else CLEAR if back else BAND)

    if rule.metric in PILE_METRICS:
        return {(pid, 0): judge(p[rule.metric]) for pid, p in snap.piles.items() if snap.fresh(p)}
    allowed = {s.value for s in rule.while_status} if rule.while_status else None
    return {(c["pile_id"], c["connector_id"]): BAND if allowed and c["status"] not in allowed else judge(c[rule.metric])
            for c in snap.live_connectors()}


def _offline(rule: OfflineRule, snap: Snapshot, conn, pending) -> dict:
    found = {}
    for pid, p in snap.piles.items():
        if p["last_seen"] is None and p["online"] is False:
            continue  # never reported: not commissioned yet, nothing to miss
        if not p["online"]:
            found[(pid, 0)] = Finding(Verdict.RAISE, now=True, detail={"reason": "offline (last will or status)"})
        elif not snap.fresh(p, rule.silence_factor):
            silent = (snap.now - p["last_seen"]).total_seconds()
            found[(pid, 0)] = Finding(Verdict.RAISE, now=True, detail={"reason": "silent", "silent_s": round(silent)})
        else:
            found[(pid, 0)] = CLEAR
    return found


def _derating(rule: DeratingRule, snap: Snapshot, conn, pending) -> dict:
    found = {}
    for c in snap.live_connectors():
        offered, power, soc = c["power_offered_kw"], c["power_kw"], c["soc_pct"]
        key = (c["pile_id"], c["connector_id"])
        if c["status"] != "Charging" or offered is None or power is None or offered < rule.min_offered_kw:
            found[key] = BAND
        elif soc is not None and soc >= rule.max_soc_pct:
            found[key] = BAND  # the vehicle tapers: low power is expected
        elif power < rule.ratio * offered:
            found[key] = Finding(Verdict.RAISE, detail={"power_kw": power, "offered_kw": offered})
        else:
            found[key] = CLEAR
    return found


def _meter(rule: MeterRule, snap: Snapshot, conn, pending) -> dict:
    found = {}
    for c in snap.live_connectors():
        key, energy = (c["pile_id"], c["connector_id"]), c["energy_kwh"]
        if energy is None:
            found[key] = UNKNOWN
            continue
        if c["status"] != "Charging" or (c["power_kw"] or 0) < rule.min_power_kw:
            found[key] = BAND  # no power flowing: the register has nothing to count
            continue
        anchor = pending.get(key, (None, None))[1]
        if anchor is None:
            found[key] = Finding(Verdict.RAISE, anchor=energy)
        elif energy < anchor - rule.min_step_kwh:
            found[key] = Finding(Verdict.RAISE, now=True, detail={"reason": "register went backwards",
                                                                  "from_kwh": anchor, "to_kwh": energy})
        elif energy > anchor + rule.min_step_kwh:
            found[key] = Finding(Verdict.CLEAR, anchor=energy)  # counting: restart the clock from here
        else:
            found[key] = Finding(Verdict.RAISE, detail={"register_kwh": energy, "power_kw": c["power_kw"]})
    return found


def _stuck(rule: StuckSessionRule, snap: Snapshot, conn, pending) -> dict:
    found = {}
    for c in snap.live_connectors():
        key = (c["pile_id"], c["connector_id"])
        if c["status"] == "Charging" and c["power_kw"] is not None and c["power_kw"] <= rule.max_power_kw:
            found[key] = Finding(Verdict.RAISE, detail={"power_kw": c["power_kw"], "since": str(c["status_since"])})
        else:
            found[key] = CLEAR
    return found


def _failed_starts(rule: FailedStartsRule, snap: Snapshot, conn, pending) -> dict:
    counts = {(r[0], r[1]): r[2:] for r in conn.execute(
        "SELECT pile_id, connector_id, count(*) FILTER (WHERE type = 'session_start_failed'), "
        "max(received_at) FILTER (WHERE type = 'session_start_failed'), "
        "max(received_at) FILTER (WHERE type = 'session_started') "
        "FROM pile_events WHERE type IN ('session_start_failed', 'session_started') "
        "AND received_at > %s - make_interval(secs => %s) AND connector_id IS NOT NULL GROUP BY 1, 2",
        (snap.now, rule.window_s))}
    status = {(c["pile_id"], c["connector_id"]): c["status"] for c in snap.connectors}
    found = {}
    for key, (failed, last_failed, last_started) in counts.items():
        if last_started and (last_failed is None or last_started > last_failed):
            found[key] = CLEAR  # a session started after the failures: it works
        elif failed >= rule.count and status.get(key) == "Available":
            found[key] = Finding(Verdict.RAISE, now=True, detail={"failed_starts": failed, "window_s": rule.window_s})
        elif failed == 0:
            found[key] = CLEAR
        else:
            found[key] = BAND
    return found


def _flapping(rule: FlappingRule, snap: Snapshot, conn, pending) -> dict:
    found = {}
    for pile_id, losses in conn.execute(
            "SELECT pile_id, count(*) FROM connectivity_events WHERE NOT online AND NOT retained "
            "AND received_at > %s - make_interval(secs => %s) GROUP BY pile_id", (snap.now, rule.window_s)):
        if losses >= rule.count:
            found[(pile_id, 0)] = Finding(Verdict.RAISE, now=True, detail={"losses": losses, "window_s": rule.window_s})
        else:
            # Hysteresis: clear only once the losses in the window fall to half the limit.
            found[(pile_id, 0)] = CLEAR if losses <= rule.count // 2 else BAND
    return found


EVALUATORS = {ThresholdRule: _threshold, OfflineRule: _offline, DeratingRule: _derating, MeterRule: _meter,
              StuckSessionRule: _stuck, FailedStartsRule: _failed_starts, FlappingRule: _flapping}
# Rules that count events in a window: a pile absent from the counts has none, i.e. is healthy.
_ABSENT_IS_HEALTHY = (FailedStartsRule, FlappingRule)


def evaluate(conn: psycopg.Connection, rules: RuleSet, policy: Policy) -> int:
    """Evaluate every condition rule once; return the number of alarm changes made.

    Returns -1 when another process holds the evaluation lock this tick.
    """
    changes = 0
    with conn.transaction():
        if not conn.execute("SELECT pg_try_advisory_xact_lock(hashtext('pilecare-conditions'))").fetchone()[0]:
            return -1
        now = conn.execute("SELECT now()").fetchone()[0]
        snap = Snapshot(conn, now)
        for rule in rules.of_kind(*CONDITION_KINDS):
            changes += _apply(conn, rule, policy, snap)
    return changes


def _apply(conn, rule, policy: Policy, snap: Snapshot) -> int:
    pending = {(r[0], r[1]): (r[2], r[3]) for r in conn.execute(
        "SELECT pile_id, connector_id, since, anchor FROM rule_conditions WHERE rule_id = %s", (rule.id,))}
    active = {(r[0], r[1]): r[2] for r in conn.execute(
        "SELECT pile_id, connector_id, clear_requested_at IS NOT NULL FROM alarms "
        "WHERE rule_id = %s AND state = 'active'", (rule.id,))}
    findings = EVALUATORS[type(rule)](rule, snap, conn, pending)
    if isinstance(rule, _ABSENT_IS_HEALTHY):
        for key in (active.keys() | pending.keys()) - findings.keys():
            findings[key] = CLEAR
    for_s = getattr(rule, "for_s", 0)
    clear_after = rule.clear_after_s if rule.clear_after_s is not None else policy.clear_after_s
    changes = 0
    for (pile_id, connector_id), f in findings.items():
        key = (pile_id, connector_id)
        if f.verdict is Verdict.UNKNOWN:
            continue
        if f.verdict is not Verdict.RAISE or f.anchor is not None:
            if key in pending:
                conn.execute("DELETE FROM rule_conditions WHERE rule_id = %s AND pile_id = %s AND connector_id = %s",
                             (rule.id, pile_id, connector_id))
                pending.pop(key)
        if f.verdict is Verdict.CLEAR:
            if key in active and not active[key]:
                request_clear(conn, pile_id, connector_id, rule.id, at=snap.now)
                changes += 1
            if f.anchor is None:
                continue
        if f.verdict is Verdict.BAND:
            continue
        if key not in pending:
            conn.execute("INSERT INTO rule_conditions (rule_id, pile_id, connector_id, since, anchor) "
                         "VALUES (%s, %s, %s, %s, %s)", (rule.id, pile_id, connector_id, snap.now, f.anchor))
            pending[key] = (snap.now, f.anchor)
        if f.verdict is not Verdict.RAISE:
            continue
        held = (snap.now - pending[key][0]).total_seconds()
        if (f.now or held >= for_s) and (key not in active or active[key]):
            raise_alarm(conn, pile_id, connector_id, rule, at=snap.now, clear_after_s=clear_after,
                        detail=(f.detail or {}) | {"held_s": round(held)})
            active[key] = False
            changes += 1
    return changes
