"""Complaints (R-COMPLAINT): recorded with an apology, passed to the supervisor,
investigated, answered with a plan, followed up until the customer is satisfied.

A lifecycle the server enforces (ComplaintState, TRANSITIONS):

    recorded → with_supervisor → investigating → planned → following_up → closed
                                       ↑                         │ the customer is not satisfied:
                                       └─────────────────────────┘ a new plan (round + 1)

Every state change is claimed in PostgreSQL (… WHERE state = old) and, like every other
step (findings, measures done, progress updates), recorded in complaint_events with who and
when; the complaint's request gets a line in its own timeline too. A complaint leaves
investigation only with a plan of at least one measure, each with an owner and a deadline,
and closes only when its follow-up finds the customer satisfied or a supervisor records why
it closes unsatisfied (the supervisor check is the API's: role supervisor or admin).
"""
from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import Enum

import psycopg
from psycopg.rows import tuple_row

from maintenance.outbox import notify
from maintenance.servicedesk import mail_out
from maintenance.servicedesk.requests import ACTIVE, MessageKind, RequestState, add_message, event
from maintenance.servicedesk.requests import move as move_request
from pilecare.errors import Conflict, InvalidInput, NotFound

APOLOGY = ("We are sorry for the trouble you have had. Your complaint is recorded as {number} and has been passed "
           "to our service supervisor, who will investigate it and come back to you with a plan.")


class ComplaintState(str, Enum):
    """Where a complaint stands (R-COMPLAINT, issue 13 item 4)."""

    RECORDED = "recorded"                # recorded, the apology in the request's thread
    WITH_SUPERVISOR = "with_supervisor"  # passed to the service supervisor
    INVESTIGATING = "investigating"      # cause and who is responsible being found (again, after a "no")
    PLANNED = "planned"                  # a plan of measures, each with an owner and a deadline
    FOLLOWING_UP = "following_up"        # the customer is asked whether they are satisfied
    CLOSED = "closed"                    # satisfied, or a supervisor's recorded decision


class Category(str, Enum):
    """What a complaint is about, for the analysis by category (R-COMPLAINT)."""

    RESPONSE_TIME = "response_time"      # nobody came, or came late
    REPAIR_QUALITY = "repair_quality"    # the repair did not hold, or was done badly
    CONDUCT = "conduct"                  # how staff behaved
    PRODUCT = "product"                  # the pile itself
    PARTS = "parts"                      # parts: wrong, late, faulty
    BILLING = "billing"
    OTHER = "other"


class ResponsibleParty(str, Enum):
    """Who a complaint's cause lies with (R-COMPLAINT: engineer, product, part or supplier, process)."""

    ENGINEER = "engineer"
    PRODUCT = "product"
    PART = "part"
    SUPPLIER = "supplier"
    PROCESS = "process"


C = ComplaintState
TRANSITIONS: dict[ComplaintState, frozenset[ComplaintState]] = {
    # Any open complaint may be closed by a supervisor's recorded decision (close()).
    C.RECORDED: frozenset({C.WITH_SUPERVISOR, C.CLOSED}),
    C.WITH_SUPERVISOR: frozenset({C.INVESTIGATING, C.CLOSED}),
    C.INVESTIGATING: frozenset({C.PLANNED, C.CLOSED}),
    C.PLANNED: frozenset({C.FOLLOWING_UP, C.CLOSED}),
    C.FOLLOWING_UP: frozenset({C.CLOSED, C.INVESTIGATING}),   # not satisfied: a new plan
    C.CLOSED: frozenset(),
}
OPEN = tuple(s.value for s in ComplaintState if s is not C.CLOSED)


@dataclass(frozen=True)
class Measure:
    """One measure of a plan: what is done, by whom, by when."""

    measure: str | None
    owner: str | None
    deadline: date | None


def record(conn: psycopg.Connection, request_id: int, *, actor: str) -> int:
    """Record the complaint of a request classified as one, with the apology to the
    customer in its thread (R-COMPLAINT); returns the complaint id."""
    with conn.transaction():
        complaint_id = conn.cursor(row_factory=tuple_row).execute(
            "INSERT INTO complaints (request_id, customer_id) SELECT id, customer_id FROM requests WHERE id = %s "
            "RETURNING id", (request_id,)).fetchone()[0]
        conn.execute("INSERT INTO complaint_events (complaint_id, actor, to_state, note) VALUES (%s, %s, 'recorded', %s)",
                     (complaint_id, actor, "complaint recorded"))
        event(conn, request_id, actor, f"complaint {complaint_id} recorded")
        mail_out.reply(conn, request_id, kind=MessageKind.APOLOGY, body=APOLOGY.format(number=f"SR-{request_id}"),
                       author=actor)
    return complaint_id


def state_of(conn: psycopg.Connection, complaint_id: int) -> ComplaintState:
    """The complaint's state; raises NotFound for an unknown complaint."""
    row = conn.cursor(row_factory=tuple_row).execute("SELECT state FROM complaints WHERE id = %s",
                                                     (complaint_id,)).fetchone()
    if row is None:
        raise NotFound(f"complaint {complaint_id} does not exist")
    return ComplaintState(row[0])


def note(conn: psycopg.Connection, complaint_id: int, actor: str, text: str) -> None:
    """A timeline entry without a state change, with who and when."""
    conn.execute("INSERT INTO complaint_events (complaint_id, actor, note) VALUES (%s, %s, %s)",
                 (complaint_id, actor, text))


def _move(conn: psycopg.Connection, complaint_id: int, to: ComplaintState, *, actor: str, note: str,
          expect: ComplaintState, columns: Mapping[str, object] | None = None) -> int:
    """Claim the move expect → to (with `columns` set in the same UPDATE) and record it in
    both timelines; returns the complaint's request id. Raises Conflict for an illegal move or
    when another process moved the complaint first."""
    if to not in TRANSITIONS[expect]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[expect])) or "none (closed)"
        raise Conflict(f"complaint {complaint_id} cannot go from {expect.value} to {to.value}; allowed: {allowed}")
    columns = dict(columns or {})
    assignments = "".join(f", {column} = %({column})s" for column in columns)
    row = conn.cursor(row_factory=tuple_row).execute(
        f"UPDATE complaints SET state = %(to)s, updated_at = now(), "
        f"closed_at = CASE WHEN %(to)s = 'closed' THEN now() END{assignments} "
        "WHERE id = %(id)s AND state = %(from)s RETURNING request_id",
        columns | {"to": to.value, "from": expect.value, "id": complaint_id}).fetchone()
    if row is None:
        now = state_of(conn, complaint_id)
        raise Conflict(f"complaint {complaint_id} is {now.value}, no longer {expect.value}")
    conn.execute("INSERT INTO complaint_events (complaint_id, actor, from_state, to_state, note) "
                 "VALUES (%s, %s, %s, %s, %s)", (complaint_id, actor, expect.value, to.value, note))
    event(conn, row[0], actor, f"complaint {complaint_id}: {note}")
    return row[0]


def _expect(conn: psycopg.Connection, complaint_id: int, wanted: Iterable[ComplaintState], doing: str,
            hint: str = "") -> ComplaintState:
    current = state_of(conn, complaint_id)
    wanted = tuple(wanted)
    if current not in wanted:
        raise Conflict(f"complaint {complaint_id} is {current.value}: {doing} needs it "
                       f"{' or '.join(s.value for s in wanted)}" + (f"; {hint}" if hint else ""))
    return current


def pass_to_supervisor(conn: psycopg.Connection, complaint_id: int, *, actor: str) -> None:
    """Pass a recorded complaint to the service supervisor: a notice to the supervisor role
    (maintenance/outbox/notices.py, kind `complaint`). Raises NotFound, and Conflict when it
    was passed already (R-COMPLAINT)."""
    _expect(conn, complaint_id, (C.RECORDED,), "passing it to the supervisor", "it was passed already")
    with conn.transaction():
        request_id = _move(conn, complaint_id, C.WITH_SUPERVISOR, actor=actor, note="passed to the supervisor",
                           expect=C.RECORDED)
        subject = conn.cursor(row_factory=tuple_row).execute(
            "SELECT r.subject, c.name FROM requests r JOIN customers c ON c.id = r.customer_id WHERE r.id = %s",
            (request_id,)).fetchone()
        notify(conn, "complaint", "supervisor",
               f"Complaint {complaint_id} from {subject[1]} (request SR-{request_id}: {subject[0]}) passed to you by "
               f"{actor}")


def _text(value: str | None, field: str, *, max_length: int) -> str:
    text = " ".join((value or "").split())
    if not text:
        raise InvalidInput(f"{field}: required")
    if len(text) > max_length:
        raise InvalidInput(f"{field}: at most {max_length} characters")
    return text


def _vocabulary(enum: type[Enum], value, field: str):
    try:
        return enum(value)
    except ValueError:
        raise InvalidInput(f"{field}: {value!r} is not one of {', '.join(m.value for m in enum)}") from None


def investigate(conn: psycopg.Connection, complaint_id: int, *, cause_class: str,
                responsible_party: ResponsibleParty | str, category: Category | str, actor: str,
                engineer_id: str | None = None, work_order_id: int | None = None) -> None:
    """Record what the investigation found (R-COMPLAINT): the cause class (short free text,
    kept lower-case with single spaces so that the analysis counts what recurs), who is
    responsible (`engineer_id` exactly when an engineer is), the category, and the work
    order it concerns if any. The first findings move a complaint with the supervisor to
    investigating; while investigating they may be corrected.

    Raises NotFound (the complaint, `engineer_id`, `work_order_id`), InvalidInput naming the
    field, Conflict unless the complaint is with the supervisor or being investigated."""
    current = state_of(conn, complaint_id)
    if current is C.RECORDED:
        raise Conflict(f"complaint {complaint_id} is recorded: pass it to the supervisor first "
                       f"(POST /complaints/{complaint_id}/pass-to-supervisor)")
    _expect(conn, complaint_id, (C.WITH_SUPERVISOR, C.INVESTIGATING), "recording the investigation")
    cause = _text(cause_class, "cause_class", max_length=100).lower()
    party = _vocabulary(ResponsibleParty, responsible_party, "responsible_party")
    category = _vocabulary(Category, category, "category")
    cur = conn.cursor(row_factory=tuple_row)
    if party is ResponsibleParty.ENGINEER:
        if not engineer_id:
            raise InvalidInput("engineer_id: required when the responsible party is an engineer")
        if cur.execute("SELECT 1 FROM engineers WHERE id = %s", (engineer_id,)).fetchone() is None:
            raise NotFound(f"engineer_id: engineer {engineer_id!r} does not exist")
    elif engineer_id is not None:
        raise InvalidInput(f"engineer_id: only when the responsible party is an engineer, not {party.value}")
    if work_order_id is not None:
        row = cur.execute(
            "SELECT s.customer_id = c.customer_id FROM work_orders o LEFT JOIN piles p ON p.id = o.pile_id "
            "JOIN sites s ON s.id = coalesce(o.site_id, p.site_id), complaints c WHERE o.id = %s AND c.id = %s",
            (work_order_id, complaint_id)).fetchone()
        if row is None:
            raise NotFound(f"work_order_id: work order {work_order_id} does not exist")
        if not row[0]:
            raise InvalidInput(f"work_order_id: work order {work_order_id} is another customer's")
    columns = {"cause_class": cause, "responsible_party": party.value, "engineer_id": engineer_id,
               "category": category.value, "work_order_id": work_order_id}
    found = (f"cause {cause!r}, responsible: {party.value}" + (f" {engineer_id}" if engineer_id else "")
             + f", category {category.value}" + (f", work order {work_order_id}" if work_order_id else ""))
    with conn.transaction():
        if current is C.WITH_SUPERVISOR:
            _move(conn, complaint_id, C.INVESTIGATING, actor=actor, note=f"investigation: {found}",
                  expect=C.WITH_SUPERVISOR, columns=columns)
            return
        changed = cur.execute(
            "UPDATE complaints SET updated_at = now(), " + ", ".join(f"{c} = %({c})s" for c in columns)
            + " WHERE id = %(id)s AND state = 'investigating'", columns | {"id": complaint_id}).rowcount
        if not changed:
            raise Conflict(f"complaint {complaint_id} changed meanwhile; it is no longer investigating")
        note(conn, complaint_id, actor, f"investigation corrected: {found}")


def _measures(measures: Iterable[Measure | Mapping], today: date) -> list[Measure]:
    """The plan's measures checked: at least one, each with its text, an owner and a
    deadline not in the past. Raises InvalidInput naming the field (measures[i].owner)."""
    checked = []
    for i, given in enumerate(measures):
        item = given if isinstance(given, Measure) else Measure(
            **{k: given.get(k) for k in ("measure", "owner", "deadline")})
        where = f"measures[{i}]"
        text = _text(item.measure, f"{where}.measure", max_length=500)
        if not (item.owner or "").strip():
            raise InvalidInput(f"{where}.owner: every measure needs an owner")
        owner = _text(item.owner, f"{where}.owner", max_length=100)
        if item.deadline is None:
            raise InvalidInput(f"{where}.deadline: every measure needs a deadline")
        if not isinstance(item.deadline, date) or isinstance(item.deadline, datetime):
            raise InvalidInput(f"{where}.deadline: a date (YYYY-MM-DD), got {item.deadline!r}")
        if item.deadline < today:
            raise InvalidInput(f"{where}.deadline: {item.deadline} is in the past")
        checked.append(Measure(text, owner, item.deadline))
    if not checked:
        raise InvalidInput("measures: a plan needs at least one measure, each with an owner and a deadline")
    return checked


def plan(conn: psycopg.Connection, complaint_id: int, measures: Iterable[Measure | Mapping], *, actor: str) -> int:
    """Answer an investigated complaint with a plan: its measures (each {measure, owner,
    deadline}) for the complaint's current round, and the move investigating → planned,
    in one transaction; returns the round. The only way out of investigation but a
    supervisor's close (R-COMPLAINT).

    Raises NotFound; Conflict unless investigating, or while the investigation's cause_class,
    responsible_party or category is missing (naming it); InvalidInput naming the field for a
    plan without measures or a measure without text, owner or a deadline (today or later, UTC)."""
    _expect(conn, complaint_id, (C.INVESTIGATING,), "a plan")
    row = conn.cursor(row_factory=tuple_row).execute(
        "SELECT cause_class, responsible_party, category, round FROM complaints WHERE id = %s",
        (complaint_id,)).fetchone()
    for field, value in zip(("cause_class", "responsible_party", "category"), row[:3]):
        if value is None:
            raise Conflict(f"{field}: record the investigation (POST /complaints/{complaint_id}/investigation) "
                           "before the plan")
    checked = _measures(measures, datetime.now(timezone.utc).date())
    round_ = row[3]
    with conn.transaction():
        _move(conn, complaint_id, C.PLANNED, actor=actor, expect=C.INVESTIGATING,
              note=f"plan (round {round_}): " + "; ".join(
                  f"{m.measure} ({m.owner}, by {m.deadline:%Y-%m-%d})" for m in checked))
        conn.cursor().executemany(
            "INSERT INTO complaint_measures (complaint_id, round, measure, owner, deadline, created_by) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [(complaint_id, round_, m.measure, m.owner, m.deadline, actor) for m in checked])
    return round_


def measure_done(conn: psycopg.Connection, complaint_id: int, measure_id: int, *, actor: str) -> int | None:
    """Mark a measure of the current plan done. When it was the plan's last open one, the
    customer is followed up at once (follow_up()); returns that follow-up's id, else None.
    Raises NotFound for a measure not of this complaint, Conflict when it is done already or
    the complaint is not planned."""
    _expect(conn, complaint_id, (C.PLANNED,), "marking a measure done")
    cur = conn.cursor(row_factory=tuple_row)
    with conn.transaction():
        # One measure at a time per complaint: of the last two done at once, the second sees
        # the first and starts the follow-up (else each saw the other still open, and neither did).
        cur.execute("SELECT 1 FROM complaints WHERE id = %s FOR UPDATE", (complaint_id,))
        row = cur.execute("UPDATE complaint_measures SET done_at = now(), done_by = %s "
                          "WHERE id = %s AND complaint_id = %s AND done_at IS NULL RETURNING measure",
                          (actor, measure_id, complaint_id)).fetchone()
        if row is None:
            if cur.execute("SELECT 1 FROM complaint_measures WHERE id = %s AND complaint_id = %s",
                           (measure_id, complaint_id)).fetchone() is None:
                raise NotFound(f"measure {measure_id} is not a measure of complaint {complaint_id}")
            raise Conflict(f"measure {measure_id} is done already")
        note(conn, complaint_id, actor, f"measure done: {row[0]}")
        left = cur.execute("SELECT count(*) FROM complaint_measures m JOIN complaints c ON c.id = m.complaint_id "
                           "WHERE c.id = %s AND m.round = c.round AND m.done_at IS NULL", (complaint_id,)).fetchone()[0]
        if left == 0:
            return follow_up(conn, complaint_id, actor=actor, why="every measure of the plan is done")
    return None


def follow_up(conn: psycopg.Connection, complaint_id: int, *, actor: str, why: str = "the plan is carried out") -> int:
    """Ask the customer whether they are satisfied: planned → following_up and a follow-up
    (follow_ups row with complaint_id, due now, with its survey token) for an agent's call
    or the survey link (R-COMPLAINT, R-FOLLOWUP); returns its id. The answer is recorded
    with follow_ups.record(). Raises NotFound, Conflict unless planned."""
    _expect(conn, complaint_id, (C.PLANNED,), "a follow-up")
    with conn.transaction():
        _move(conn, complaint_id, C.FOLLOWING_UP, actor=actor, expect=C.PLANNED,
              note=f"following up with the customer: {why}")
        follow_up_id = conn.cursor(row_factory=tuple_row).execute(
            "INSERT INTO follow_ups (complaint_id, customer_id, due_at, survey_token) "
            "SELECT id, customer_id, now(), %s FROM complaints WHERE id = %s RETURNING id",
            (secrets.token_urlsafe(24), complaint_id)).fetchone()[0]
        note(conn, complaint_id, actor, f"follow-up {follow_up_id} asks whether the customer is satisfied")
    return follow_up_id


def follow_up_overdue_plans(conn: psycopg.Connection, *, actor: str = "pilecare") -> int:
    """Follow up every planned complaint whose plan's last deadline has passed (UTC), done or
    not: the customer is asked rather than the complaint left waiting; returns how many. Safe
    with several workers (each move is claimed)."""
    due = [r[0] for r in conn.cursor(row_factory=tuple_row).execute(
        "SELECT c.id FROM complaints c JOIN complaint_measures m ON m.complaint_id = c.id AND m.round = c.round "
        "WHERE c.state = 'planned' GROUP BY c.id "
        "HAVING max(m.deadline) < (now() AT TIME ZONE 'UTC')::date ORDER BY c.id").fetchall()]
    started = 0
    for complaint_id in due:
        try:
            follow_up(conn, complaint_id, actor=actor, why="the plan's last deadline has passed")
            started += 1
        except Conflict:
            pass  # another worker, or an agent, did it meanwhile
    return started


def answered(conn: psycopg.Connection, complaint_id: int, *, satisfied: bool, actor: str, follow_up_id: int) -> None:
    """The customer's answer to the complaint's follow-up, in the caller's transaction
    (follow_ups.record): satisfied closes the complaint (and resolves its request); not
    satisfied reopens it to investigating for a new plan (round + 1). Raises Conflict unless
    the complaint is following up."""
    _expect(conn, complaint_id, (C.FOLLOWING_UP,), "the customer's answer")
    with conn.transaction():
        if satisfied:
            request_id = _move(conn, complaint_id, C.CLOSED, actor=actor, expect=C.FOLLOWING_UP,
                               note=f"closed: the customer is satisfied (follow-up {follow_up_id})",
                               columns={"satisfied": True, "closed_by": actor})
            _resolve_request(conn, request_id, actor, f"complaint {complaint_id} closed: the customer is satisfied")
        else:
            _move(conn, complaint_id, C.INVESTIGATING, actor=actor, expect=C.FOLLOWING_UP,
                  note=f"reopened for a new plan: the customer is not satisfied (follow-up {follow_up_id})",
                  columns={"satisfied": False})
            round_ = conn.cursor(row_factory=tuple_row).execute(
                "UPDATE complaints SET round = round + 1 WHERE id = %s RETURNING round", (complaint_id,)).fetchone()[0]
            note(conn, complaint_id, actor, f"plan round {round_}: a new plan is needed")


def close(conn: psycopg.Connection, complaint_id: int, *, actor: str, close_reason: str | None = None) -> None:
    """A supervisor's decision to close a complaint (the caller checks the role): its
    reason is required unless the customer said they are satisfied (R-COMPLAINT: it closes
    only when the customer is satisfied or a supervisor records why not). An open follow-up
    of the complaint is withdrawn; its request is resolved.

    Raises NotFound; Conflict when it is closed already; InvalidInput (close_reason)
    without a reason for an unsatisfied customer."""
    current = state_of(conn, complaint_id)
    if current is C.CLOSED:
        raise Conflict(f"complaint {complaint_id} is closed already")
    satisfied = conn.cursor(row_factory=tuple_row).execute(
        "SELECT satisfied FROM complaints WHERE id = %s", (complaint_id,)).fetchone()[0]
    text = " ".join((close_reason or "").split())
    if not text and satisfied is not True:
        raise InvalidInput("close_reason: the customer has not said they are satisfied; record why the complaint "
                           "closes anyway")
    if len(text) > 2000:
        raise InvalidInput("close_reason: at most 2000 characters")
    with conn.transaction():
        request_id = _move(conn, complaint_id, C.CLOSED, actor=actor, expect=current,
                           note=f"closed by the supervisor{' unsatisfied' if satisfied is not True else ''}"
                                + (f": {text}" if text else ""),
                           columns={"close_reason": text or None, "closed_by": actor})
        withdrawn = [r[0] for r in conn.cursor(row_factory=tuple_row).execute(
            "UPDATE follow_ups SET withdrawn_at = now(), withdrawn_by = %s "
            "WHERE complaint_id = %s AND done_at IS NULL AND withdrawn_at IS NULL RETURNING id",
            (actor, complaint_id)).fetchall()]
        for follow_up_id in withdrawn:
            note(conn, complaint_id, actor, f"follow-up {follow_up_id} withdrawn: the complaint is closed")
        _resolve_request(conn, request_id, actor, f"complaint {complaint_id} closed by the supervisor")


def _resolve_request(conn: psycopg.Connection, request_id: int, actor: str, note: str) -> None:
    # A complaint's request is resolved when the complaint closes (it gets no follow-up of
    # its own: the complaint's was the one asked).
    state = conn.cursor(row_factory=tuple_row).execute("SELECT state FROM requests WHERE id = %s",
                                                       (request_id,)).fetchone()[0]
    if state in ACTIVE:
        move_request(conn, request_id, RequestState.RESOLVED, actor=actor, note=note, expect=RequestState(state))


def progress(conn: psycopg.Connection, complaint_id: int, text: str, *, actor: str, channel: str | None = None) -> int:
    """A progress update to the customer (R-COMPLAINT): a `progress` message in the
    request's thread (sent by the mail channel for an e-mail request), by `channel`
    (default: the request's own), noted in the complaint's timeline; returns the message id.
    Raises NotFound, InvalidInput (text, channel), Conflict for a closed complaint."""
    _expect(conn, complaint_id, [s for s in ComplaintState if s is not C.CLOSED], "a progress update")
    body = (text or "").strip()
    if not body:
        raise InvalidInput("text: required")
    if len(body) > 10_000:
        raise InvalidInput("text: at most 10000 characters")
    request_id, request_channel = conn.cursor(row_factory=tuple_row).execute(
        "SELECT r.id, r.channel FROM complaints c JOIN requests r ON r.id = c.request_id WHERE c.id = %s",
        (complaint_id,)).fetchone()
    channel = channel or request_channel
    if channel not in ("phone", "email", "web"):
        raise InvalidInput(f"channel: {channel!r} is not one of phone, email, web")
    with conn.transaction():
        message_id = mail_out.reply(conn, request_id, kind=MessageKind.PROGRESS, body=body, author=actor,
                                    channel=channel)
        note(conn, complaint_id, actor, f"progress update to the customer by {channel}: "
                                         + (body if len(body) <= 200 else body[:199] + "…"))
    return message_id
