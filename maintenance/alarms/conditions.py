"""Condition rules: evaluated each tick over the latest state of the fleet.

Every rule gives each (pile, connector) a verdict. A condition must hold for the rule's
`for_s` before its alarm is raised; when the pile is clearly healthy again the clear is
requested (and counts after the hold-off, alarms.py). In between — inside a threshold's
hysteresis band, or while the vehicle tapers — the alarm stays as it is. "Since when"
lives in `rule_conditions`, so a restarted or second process keeps the clock. One
process evaluates at a time (an advisory lock); the others skip the tick.

Time across a gap in the data never counts as time a condition held (issue 11, item 11):
each clock remembers the data time it was last seen holding (`seen_at`, the pile's
`last_seen`), and a clock not seen for longer than the pile's silence tolerance
(pilecare.liveness: SILENCE_INTERVALS reporting intervals) starts again when the pile is
heard from. This covers every duration rule (threshold, derating, meter, stuck session).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import psycopg
from psycopg.rows import dict_row

from maintenance.alarms.lifecycle import raise_alarm, request_clear
from pilecare.domain import EnergyRegister
from pilecare.liveness import SILENCE_INTERVALS, is_online
from maintenance.policy import Policy
from maintenance.alarms.rules import (CONDITION_KINDS, PILE_METRICS, DeratingRule, FailedStartsRule, FlappingRule,
                               MeterRule, OfflineRule, RuleSet, StuckSessionRule, ThresholdRule)


class Verdict(str, Enum):
    RAISE = "raise"      # the condition holds (raise once it has held for for_s)
    WAIT = "wait"        # it may be forming: keep (or start) the clock, do not raise yet
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
SELECT p.id AS pile_id, s.online, s.last_seen, s.temp_internal_c, s.fan_rpm, s.ambient_c, m.reporting_interval_s,
       m.energy_register, m.energy_resolution_kwh
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
    """A register that does not count while power flows, or a lifetime register that goes
    backwards (R-REPAIR: a metering fault). The model's register setting says what is normal
    (pilecare.domain.EnergyRegister): a session register restarts at each session, a
    session-end register is still while charging and is judged once the session is over.
    A 0 is a placeholder (after a reboot, between sessions), never a step backwards, but a
    register stuck at 0 while power flows is stalled like any other. A register that moves
    in steps of `energy_resolution_kwh` is stalled only once power × time held should have
    moved it twice over, so whole-kWh registers on a slow charge are not a fault.

    A register that moved is judged by its trusted reading (`_trusted_registers`), not the
    latest raw one (issue 11, item 4): a placeholder at the top of the range, a one-off tiny
    reading or a small step back is no fault, while a register that went backwards and went
    on from there (the next reading confirms it) still raises at once."""
    found = {}
    trusted = _trusted_registers(rule, snap, conn, pending)
    for c in snap.live_connectors():
        key, energy = (c["pile_id"], c["connector_id"]), c["energy_kwh"]
        if energy is None:
            found[key] = UNKNOWN
            continue
        model = snap.piles[c["pile_id"]]
        register = EnergyRegister(model["energy_register"])
        reading = max(energy, 0.0)
        flowing = c["status"] == "Charging" and (c["power_kw"] or 0) >= rule.min_power_kw
        since, anchor = pending.get(key, (None, None))[:2]
        if key in trusted:
            reading, new_baseline_above = trusted[key]
            if new_baseline_above and flowing and anchor is not None and reading > anchor:
                # An impossible jump the register then repeated (a placeholder twice): it may
                # come back or count on from there; judge it when it does.
                found[key] = Finding(Verdict.WAIT)
                continue
            if anchor is not None and reading < anchor - rule.min_step_kwh and energy >= anchor - rule.min_step_kwh:
                # The raw register is at or above the anchor; only the walk's trust lags behind
                # it (rises faster than any charger wait for confirmation): nothing went back.
                found[key] = Finding(Verdict.WAIT)
                continue
        moved = anchor is not None and reading > 0 and abs(reading - anchor) > rule.min_step_kwh
        if register is EnergyRegister.SESSION_END:
            found[key] = _session_end(rule, snap, c, since, anchor, reading, flowing, moved)
            continue
        if not flowing:
            found[key] = BAND  # no power flowing: the register has nothing to count
        elif anchor is None:
            found[key] = Finding(Verdict.RAISE, anchor=reading)
        elif moved and reading > anchor:
            found[key] = Finding(Verdict.CLEAR, anchor=reading)  # counting: restart the clock from here
        elif moved and register is EnergyRegister.SESSION:
            found[key] = Finding(Verdict.RAISE, anchor=reading)  # a new session: its register starts again
        elif moved:
            found[key] = Finding(Verdict.RAISE, now=True, detail={"reason": "register went backwards",
                                                                  "from_kwh": anchor, "to_kwh": reading})
        elif c["power_kw"] * (snap.now - since).total_seconds() / 3600 < 2 * model["energy_resolution_kwh"]:
            found[key] = Finding(Verdict.WAIT)  # too little energy yet to move a coarse register
        else:
            found[key] = Finding(Verdict.RAISE, detail={"register_kwh": energy, "power_kw": c["power_kw"]})
    return found


# A register counting forward by less than this since the last tick reads as it is: the walk
# would trust it too (it is far below what a connector could deliver between ticks). Only a
# step back or a larger jump, where a glitch could be, pays for the walk.
_PLAIN_STEP_KWH = 10.0


def _judged(rule: MeterRule, snap: Snapshot, c: dict) -> bool:
    """Whether `_meter` reads this connector's register now: while power flows, or always for
    a register that moves only at session end. An idle connector is in band whatever its
    register says, so the walk is not paid for it (bench faults: 2,400 idle connectors walked
    on every pass put ~140 ms on the p99)."""
    flowing = c["status"] == "Charging" and (c["power_kw"] or 0) >= rule.min_power_kw
    return flowing or snap.piles[c["pile_id"]]["energy_register"] == EnergyRegister.SESSION_END.value


def _suspect(step_kwh: float, rule: MeterRule) -> bool:
    """Whether a register's move since its anchor needs the walk to be judged."""
    return step_kwh < -rule.min_step_kwh or step_kwh > _PLAIN_STEP_KWH


def _trusted_registers(rule: MeterRule, snap: Snapshot, conn, pending) -> dict:
    """{(pile, connector): (trusted kWh, whether it is a new baseline above)} for the registers
    that moved suspiciously (back, or far ahead) or have no anchor yet, by migration 0025's walk over their latest readings
    (energy_trusted): the same definition energy delivered uses. Registers with too few
    readings to trust are left out (judged by their raw reading)."""
    keys = [(c["pile_id"], c["connector_id"]) for c in snap.live_connectors()
            if (c["energy_kwh"] or 0) > 0 and _judged(rule, snap, c) and (
                (anchor := pending.get((c["pile_id"], c["connector_id"]), (None, None))[1]) is None
                or _suspect(c["energy_kwh"] - anchor, rule))]
    if not keys:
        return {}
    rows = conn.execute(
        "SELECT k.pile_id, k.connector_id, w[2], w[6] = 2 FROM unnest(%s::text[], %s::smallint[]) AS k(pile_id, "
        "connector_id) CROSS JOIN LATERAL energy_trusted(k.pile_id, k.connector_id) AS w WHERE w[2] IS NOT NULL",
        ([k[0] for k in keys], [k[1] for k in keys])).fetchall()
    return {(pile, connector): (kwh, above) for pile, connector, kwh, above in rows}


def _session_end(rule: MeterRule, snap: Snapshot, c: dict, since, anchor, reading, flowing, moved) -> Finding:
    """A register that moves only when a session ends: while power flows it waits (the clock
    starts with the first flow); once the connector has left Charging for `for_s` with the
    register where it was, after power flowed for `for_s`, the session went uncounted."""
    if moved:
        return CLEAR  # the session was counted (or a new one started from zero)
    if flowing:
        return Finding(Verdict.WAIT, anchor=reading if anchor is None else None)
    if anchor is None:
        return BAND
    left = c["status_since"] if c["status"] != "Charging" and c["status_since"] else snap.now
    if (left - since).total_seconds() < rule.for_s:
        return BAND if left < snap.now else Finding(Verdict.WAIT)  # too short a flow to judge
    if (snap.now - left).total_seconds() < rule.for_s:
        return Finding(Verdict.WAIT)  # the register may still move for the session just ended
    return Finding(Verdict.RAISE, now=True, detail={"reason": "session ended without the register moving",
                                                    "register_kwh": reading})


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
    pending = {}
    for pile_id, connector_id, since, anchor, seen_at in conn.execute(
            "SELECT pile_id, connector_id, since, anchor, seen_at FROM rule_conditions WHERE rule_id = %s", (rule.id,)):
        if _across_gap(snap, pile_id, seen_at):  # unseen across a gap in the data: start again
            conn.execute("DELETE FROM rule_conditions WHERE rule_id = %s AND pile_id = %s AND connector_id = %s",
                         (rule.id, pile_id, connector_id))
        else:
            pending[(pile_id, connector_id)] = (since, anchor)
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
        if f.verdict not in (Verdict.RAISE, Verdict.WAIT) or f.anchor is not None:
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
        seen = snap.piles[pile_id]["last_seen"] if pile_id in snap.piles else None
        if key not in pending:
            conn.execute("INSERT INTO rule_conditions (rule_id, pile_id, connector_id, since, anchor, seen_at) "
                         "VALUES (%s, %s, %s, %s, %s, %s)", (rule.id, pile_id, connector_id, snap.now, f.anchor, seen))
            pending[key] = (snap.now, f.anchor)
        else:
            conn.execute("UPDATE rule_conditions SET seen_at = %s WHERE rule_id = %s AND pile_id = %s "
                         "AND connector_id = %s AND seen_at IS DISTINCT FROM %s",
                         (seen, rule.id, pile_id, connector_id, seen))
        if f.verdict is not Verdict.RAISE:
            continue
        held = (snap.now - pending[key][0]).total_seconds()
        if (f.now or held >= for_s) and (key not in active or active[key]):
            raise_alarm(conn, pile_id, connector_id, rule, at=snap.now, clear_after_s=clear_after,
                        detail=(f.detail or {}) | {"held_s": round(held)})
            active[key] = False
            changes += 1
    return changes


def _across_gap(snap: Snapshot, pile_id: str, seen_at: datetime | None) -> bool:
    """Whether the pile went silent for longer than its tolerance (pilecare.liveness) after
    the clock's condition was last seen, and has been heard from since."""
    pile = snap.piles.get(pile_id)
    if pile is None or seen_at is None or pile["last_seen"] is None:
        return False
    return (pile["last_seen"] - seen_at).total_seconds() > SILENCE_INTERVALS * pile["reporting_interval_s"]
