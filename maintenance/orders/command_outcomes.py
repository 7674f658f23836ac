"""What became of the commands a work order sent: one timeline entry per command.

A remote reset or an out-of-service command is noted on the order when it is sent
(policy_step.py, safety.py); its outcome arrives later and by another process — the pile's
MQTT ack through ingest, or the OCPP gateway's relay (CALLRESULT, CALLERROR, time-out,
outcome unknown after a lost connection). This step writes each ended command of an order
to that order's timeline once, saying who answered, when, and through which channel. The
conditional UPDATE of `reported_at` is the claim: two maintenance processes note it once.
MQTT commands never acknowledged are ended by `expire_commands` just before, on the same pass
(policy `command_ack_timeout_s`); a late ack still counts and clears `reported_at`, so the order hears it.
"""
from __future__ import annotations

import psycopg

from maintenance.orders.lifecycle import note

ACTOR = "commands"

_CLAIM = """
    UPDATE commands SET reported_at = now()
    WHERE id IN (SELECT id FROM commands WHERE work_order_id IS NOT NULL AND reported_at IS NULL
                 AND state IN ('acknowledged', 'failed', 'timed_out') ORDER BY requested_at LIMIT 200
                 FOR UPDATE SKIP LOCKED)
    RETURNING id, work_order_id, pile_id, type, params, state, via, ack_status, ack_info, failure,
              coalesce(acked_at, ended_at, now()), requested_by"""


def describe(type: str, params: dict) -> str:
    """`Reset Soft`, `ChangeAvailability Inoperative (connector 0)`, … for a timeline line."""
    words = [type]
    for key in ("type", "requested_message"):
        if isinstance(params.get(key), str):
            words.append(params[key])
    if "connector_id" in params:
        words.append(f"(connector {params['connector_id']})")
    return " ".join(words)


def note_command_outcomes(conn: psycopg.Connection) -> int:
    """Write the outcome of every ended, not yet reported command of an order to its
    timeline; return how many were written. Use an autocommit connection or commit after."""
    # RETURNING has no order: the timeline tells the outcomes in the order they happened.
    rows = sorted(conn.execute(_CLAIM).fetchall(), key=lambda r: r[10])
    for (command_id, order_id, pile_id, type, params, state, via, ack_status, ack_info, failure, at,
         requested_by) in rows:
        channel = "OCPP" if via == "ocpp" else "MQTT"
        what = f"command {command_id} ({describe(type, params or {})}, requested by {requested_by}, via {channel})"
        when = f"{at:%Y-%m-%d %H:%M:%S} UTC"
        if state == "acknowledged":
            text = f"{what}: pile {pile_id} answered {ack_status} at {when}" + (f" ({ack_info})" if ack_info else "")
        elif state == "timed_out":
            text = f"{what}: timed out at {when}, no answer from pile {pile_id}" + (f" ({failure})" if failure else "")
        else:
            text = f"{what}: failed at {when}: {failure or 'no reason recorded'}"
        note(conn, order_id, text, actor=ACTOR)
    return len(rows)
