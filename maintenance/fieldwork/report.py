"""The service report (R-REPORT, R-PM): the on-site test, the planned-work checklist, and
completion, refused unless the report is complete and signed. Verification from telemetry
then takes over (orders.policy_step.verify).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import psycopg

from maintenance.fieldwork.holding import held_order, require_state, verification_note, write_report
from maintenance.fieldwork.media import earlier_signatures, photos, signature
from maintenance.fieldwork.warranty import quote, work_allowed
from maintenance.orders import PLANNED_KINDS, note, transition
from maintenance.orders import WorkOrderState as S
from pilecare.errors import Conflict, InvalidInput


# What a complete service report holds (R-REPORT); an incomplete one is refused.
REPORT_FIELDS = {
    "fault_cause": "fault cause", "action_taken": "action taken", "test_passed": "on-site test result",
    "customer_opinion": "customer opinion", "customer_rating": "customer rating",
    "customer_signoff_name": "customer sign-off name",
}


def record_test(conn: psycopg.Connection, order_id: int, engineer_id: str | None, *, passed: bool, notes: str,
                actor: str) -> None:
    state, _, _, warranty, kind = held_order(conn, order_id, engineer_id)
    require_state(order_id, state, S.ON_SITE)
    work_allowed(conn, order_id, kind, warranty)
    with conn.transaction():
        write_report(conn, order_id, actor, test_passed=passed, test_notes=notes)
        note(conn, order_id, f"on-site test {'passed' if passed else 'FAILED'}: {notes}", actor=actor)


def complete(conn: psycopg.Connection, order_id: int, engineer_id: str | None, *, actor: str, **report) -> None:
    """On site → resolved, only with a complete report (R-REPORT); verification follows.

    A corrective order needs every REPORT_FIELDS entry and its parts (or no_parts: true).
    Planned work (PLANNED_KINDS) needs instead, see `_planned_missing`:
    - every checklist item answered: `done: true`, or `done: false` with a note saying why
      it could not be done (an item never ticked, or left undone without a reason, is missing);
    - the on-site test result, and the customer's sign-off name.
    The sign-off name, when neither given nor stored, is the signer_name of the customer's
    drawn signature (media.sign), if one was taken; a drawn image is never required (API
    clients and the simulated crew sign off with the name only).
    A failed on-site test completes planned work only when a finding that needs a repair was
    recorded on the order (it opened the corrective order that fixes it); a corrective order
    with a failed test is not repaired and cannot complete."""
    state, _, _, warranty, kind = held_order(conn, order_id, engineer_id)
    require_state(order_id, state, S.ON_SITE)
    work_allowed(conn, order_id, kind, warranty)
    planned = kind in PLANNED_KINDS
    given = {k: v for k, v in report.items() if v is not None}
    with conn.transaction():
        if given:
            write_report(conn, order_id, actor, **given)
        stored = conn.execute(
            "SELECT fault_cause, action_taken, test_passed, customer_opinion, customer_rating, customer_signoff_name, "
            "no_parts, EXISTS (SELECT 1 FROM parts_used WHERE work_order_id = %s AND superseded_at IS NULL) "
            "FROM service_reports "
            "WHERE work_order_id = %s", (order_id, order_id)).fetchone()
        values = dict(zip(list(REPORT_FIELDS) + ["no_parts", "parts"], stored or [None] * 8))
        drawn = signature(conn, order_id)
        if values["customer_signoff_name"] in (None, "") and drawn is not None:
            write_report(conn, order_id, actor, customer_signoff_name=drawn["signer_name"])
            values["customer_signoff_name"] = drawn["signer_name"]
        if planned:
            missing = _planned_missing(conn, order_id, values)
        else:
            missing = [label for key, label in REPORT_FIELDS.items() if values[key] in (None, "")]
            if not (values["parts"] or values["no_parts"]):
                missing.append("parts used (or no_parts: true)")
        if missing:
            raise InvalidInput(f"the service report is incomplete; missing: {', '.join(missing)}")
        if values["test_passed"] is False:
            if not planned:
                raise Conflict("the on-site test failed: the pile is not repaired yet")
            if not conn.execute("SELECT 1 FROM inspection_findings WHERE work_order_id = %s AND needs_repair",
                                (order_id,)).fetchone():
                raise Conflict("the on-site test failed: record a finding that needs a repair (it opens a corrective "
                               "order) before completing this visit")
        conn.execute("UPDATE service_reports SET completed_at = now(), completed_by = %s WHERE work_order_id = %s",
                     (actor, order_id))
        # "repaired" with a completed report is what verification closes on; for planned
        # work the note says what was done.
        transition(conn, order_id, S.RESOLVED, actor=actor, resolution="repaired",
                   note=(f"{kind} work done on site; verifying from telemetry" if planned
                         else "repaired on site; " + verification_note(conn, order_id)))
        conn.execute("UPDATE assignments SET state = 'done', decided_at = now() WHERE work_order_id = %s "
                     "AND state = 'accepted'", (order_id,))


def _planned_missing(conn, order_id: int, values: dict) -> list[str]:
    checklist = conn.execute("SELECT checklist FROM work_orders WHERE id = %s", (order_id,)).fetchone()[0] or []
    missing = [f"checklist item {entry['item']!r} (done, or not done with a note why)" for entry in checklist
               if not (entry.get("done") is True or (entry.get("done") is False and entry.get("by")
                                                     and (entry.get("note") or "").strip()))]
    if values["test_passed"] is None:
        missing.append(REPORT_FIELDS["test_passed"])
    if values["customer_signoff_name"] in (None, ""):
        missing.append(REPORT_FIELDS["customer_signoff_name"])
    return missing


def tick(conn: psycopg.Connection, order_id: int, engineer_id: str | None, *, item: str, done: bool,
         note_text: str | None = None, reading: str | None = None, actor: str) -> list[dict]:
    """Answer one checklist item of the order, on site: done or not, with an optional note
    (required by `complete` for an item left undone) and reading (a measured value). Who
    and when are kept in the item, and the timeline says it. Returns the checklist.

    The item is rewritten under a row lock, so two ticks at once on one order both land."""
    state, _, _, _, _ = held_order(conn, order_id, engineer_id)
    require_state(order_id, state, S.ON_SITE)
    with conn.transaction():
        checklist = conn.execute("SELECT checklist FROM work_orders WHERE id = %s FOR UPDATE",
                                 (order_id,)).fetchone()[0] or []
        names = [entry["item"] for entry in checklist]
        if item not in names:
            raise InvalidInput(f"work order {order_id} has no checklist item {item!r}; its items: "
                               + ("; ".join(names) if names else "none"))
        at = datetime.now(timezone.utc).isoformat()
        entry = {"item": item, "done": done, "by": actor, "at": at}
        if note_text:
            entry["note"] = note_text
        if reading:
            entry["reading"] = reading
        checklist = [entry if e["item"] == item else e for e in checklist]
        conn.execute("UPDATE work_orders SET checklist = %s, updated_at = now() WHERE id = %s",
                     (json.dumps(checklist), order_id))
        note(conn, order_id, f"checklist: {item}: {'done' if done else 'NOT done'}"
                             + (f"; reading {reading}" if reading else "") + (f"; {note_text}" if note_text else ""),
             actor=actor)
    return checklist


_REPORT = ["diagnosis", "cause_class", "fault_cause", "action_taken", "no_parts", "test_passed", "test_notes",
           "customer_opinion", "customer_rating", "customer_signoff_name", "completed_at", "completed_by"]
_PART = ["part_id", "quantity", "location_id", "defective_returned", "recorded_at", "recorded_by", "superseded_at"]


def service_report(conn: psycopg.Connection, order_id: int, engineer_id: str | None) -> dict:
    """The order's service report (R-REPORT), parts used and quotes, with a reopened order's
    earlier visits: {"report": dict | None, "parts": [...], "quotes": [...],
    "earlier_visits": [{"superseded_at", "report", "warranty", "parts", "quotes"}, ...],
    "signature": {"signer_name", "signed_at"} | None, "photos": [media.PHOTO_FIELDS, ...]};
    each earlier visit carries its own "signature" and "photos" the same way.

    `engineer_id` narrows to an order that engineer holds (NotFound otherwise); None reads any."""
    held_order(conn, order_id, engineer_id)
    row = conn.execute(f"SELECT {', '.join(_REPORT)} FROM service_reports WHERE work_order_id = %s",
                       (order_id,)).fetchone()
    parts = [dict(zip(_PART, p)) for p in conn.execute(
        f"SELECT {', '.join(_PART)} FROM parts_used WHERE work_order_id = %s ORDER BY id", (order_id,)).fetchall()]
    quotes = [quote(conn, q[0]) for q in conn.execute("SELECT id FROM quotes WHERE work_order_id = %s ORDER BY id",
                                                       (order_id,)).fetchall()]
    pictures, signatures = photos(conn, order_id), earlier_signatures(conn, order_id)
    # A reopen marks the visit's report, parts, quotes, photos and signature with one superseded_at: that is the visit.
    earlier = {}
    for r in conn.execute(f"SELECT superseded_at, warranty, {', '.join(_REPORT)} FROM service_report_history "
                          "WHERE work_order_id = %s ORDER BY superseded_at", (order_id,)).fetchall():
        earlier[r[0]] = {"report": dict(zip(_REPORT, r[2:])), "warranty": r[1]}
    for at in ({p["superseded_at"] for p in parts + pictures} | {q["superseded_at"] for q in quotes}
               | set(signatures)) - {None}:
        earlier.setdefault(at, {"report": None, "warranty": None})  # a visit that never got to a report
    return {"report": dict(zip(_REPORT, row)) if row else None,
            "parts": [p for p in parts if p["superseded_at"] is None],
            "quotes": [q for q in quotes if q["superseded_at"] is None],
            "earlier_visits": [visit | {"superseded_at": at,
                                        "parts": [p for p in parts if p["superseded_at"] == at],
                                        "quotes": [q for q in quotes if q["superseded_at"] == at],
                                        "signature": signatures.get(at),
                                        "photos": [p for p in pictures if p["superseded_at"] == at]}
                               for at, visit in sorted(earlier.items())],
            "signature": signature(conn, order_id),
            "photos": [p for p in pictures if p["superseded_at"] is None]}
