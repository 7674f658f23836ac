"""Planned work on site (R-PM, R-INSPECT, R-INSTALL): a preventive, inspection or
installation order is contracted work, so it needs no diagnosis, warranty or quote; the
engineer ticks its checklist, records the on-site test and the customer's sign-off, and
only a fully answered checklist completes it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from psycopg.types.json import Jsonb

from maintenance import fieldwork as field
from maintenance.planning.inspections import FindingCreate, record_finding
from maintenance.orders.policy_step import verify
from maintenance.orders.lifecycle import WorkOrderState as S
from maintenance.orders.lifecycle import transition
from pilecare.errors import Conflict, InvalidInput
from tests.maint import fast_policy

POLICY = fast_policy(verify_s=0)
SITE = (52.52, 13.40)  # where tests/factories.py puts every pile
CHECKLIST = ["Exterior cleaning", "Tighten electrical connections", "Insulation resistance"]


def planned_order(db, pile_id: str, kind: str = "preventive", checklist=CHECKLIST) -> int:
    """A planned order with a fresh checklist, accepted by engineer E1."""
    order_id = db.execute(
        "INSERT INTO work_orders (kind, pile_id, title, priority, created_by, checklist) "
        "VALUES (%s, %s, %s, 4, 'planner', %s) RETURNING id",
        (kind, pile_id, f"{kind} of {pile_id}", Jsonb([{"item": i, "done": False} for i in checklist]))).fetchone()[0]
    for to in (S.READY_FOR_DISPATCH, S.ASSIGNED):
        transition(db, order_id, to, actor="dispatch")
    db.execute("UPDATE work_orders SET engineer_id = 'E1' WHERE id = %s", (order_id,))
    db.execute("INSERT INTO assignments (work_order_id, engineer_id, state, assigned_by) VALUES (%s, 'E1', 'accepted', "
               "'dispatch')", (order_id,))
    transition(db, order_id, S.ACCEPTED, actor="E1")
    return order_id


@pytest.fixture
def visit(db, fleet):
    """A preventive order accepted by engineer E1 and E1 arrived at the pile."""
    db.execute("INSERT INTO engineers (id, name, skills, regions, home_lat, home_lon) VALUES "
               "('E1', 'Eva', '{AC,DC,HV}', '{north}', 52.5, 13.3), ('E2', 'Emil', '{AC}', '{north}', 52.5, 13.3)")
    order_id = planned_order(db, fleet[1])
    arrive(db, order_id)
    return order_id


def arrive(db, order_id):
    field.start_travel(db, order_id, "E1", eta=datetime.now(timezone.utc) + timedelta(minutes=30), actor="eva")
    field.arrive(db, POLICY, order_id, "E1", lat=SITE[0] + 0.001, lon=SITE[1], actor="eva")


def state(db, order_id):
    return db.execute("SELECT state FROM work_orders WHERE id = %s", (order_id,)).fetchone()[0]


def tick_all(db, order_id):
    for item in CHECKLIST:
        field.tick(db, order_id, "E1", item=item, done=True, actor="eva")


def test_a_preventive_order_needs_no_diagnosis_or_quote_and_closes_with_a_ticked_checklist(db, visit):
    field.record_test(db, visit, "E1", passed=True, notes="30 min charge at full power", actor="eva")
    tick_all(db, visit)
    field.complete(db, visit, "E1", actor="eva", customer_signoff_name="J. Meyer")
    assert state(db, visit) == "resolved"
    assert db.execute("SELECT warranty FROM work_orders WHERE id = %s", (visit,)).fetchone() == (None,)
    assert not db.execute("SELECT 1 FROM quotes").fetchone()
    db.execute("UPDATE pile_state SET online = true, last_seen = now()")
    verify(db, POLICY)
    assert state(db, visit) == "closed"


def test_ticking_an_item_records_who_when_the_reading_and_a_timeline_note(db, visit):
    checklist = field.tick(db, visit, "E1", item="Insulation resistance", done=True, reading="520 MOhm",
                           note_text="all phases", actor="eva")
    entry = next(e for e in checklist if e["item"] == "Insulation resistance")
    assert (entry["done"], entry["by"], entry["reading"], entry["note"]) == (True, "eva", "520 MOhm", "all phases")
    assert datetime.fromisoformat(entry["at"]) > datetime.now(timezone.utc) - timedelta(minutes=1)
    stored = db.execute("SELECT checklist FROM work_orders WHERE id = %s", (visit,)).fetchone()[0]
    assert stored == checklist and [e["done"] for e in stored] == [False, False, True]
    assert db.execute("SELECT note FROM work_order_events WHERE work_order_id = %s ORDER BY id DESC LIMIT 1",
                      (visit,)).fetchone() == ("checklist: Insulation resistance: done; reading 520 MOhm; all phases",)


def test_an_unknown_checklist_item_is_refused_listing_the_items(db, visit):
    with pytest.raises(InvalidInput) as refused:
        field.tick(db, visit, "E1", item="Paint the canopy", done=True, actor="eva")
    assert all(item in refused.value.detail for item in CHECKLIST)


def test_the_checklist_is_ticked_only_on_site_by_the_engineer_holding_the_order(db, fleet, visit):
    from pilecare.errors import NotFound

    with pytest.raises(NotFound):
        field.tick(db, visit, "E2", item=CHECKLIST[0], done=True, actor="emil")
    other = planned_order(db, fleet[0])
    with pytest.raises(Conflict, match="needs it on_site"):
        field.tick(db, other, "E1", item=CHECKLIST[0], done=True, actor="eva")


def test_completion_names_each_unanswered_item_the_test_and_the_sign_off(db, visit):
    field.tick(db, visit, "E1", item=CHECKLIST[0], done=True, actor="eva")
    field.tick(db, visit, "E1", item=CHECKLIST[1], done=False, actor="eva")  # undone, and no reason given
    with pytest.raises(InvalidInput) as refused:
        field.complete(db, visit, "E1", actor="eva")
    detail = refused.value.detail
    assert CHECKLIST[0] not in detail
    for missing in (CHECKLIST[1], CHECKLIST[2], "on-site test result", "customer sign-off name"):
        assert missing in detail
    # Corrective fields are not asked of planned work.
    for not_asked in ("fault cause", "action taken", "customer rating", "parts used"):
        assert not_asked not in detail
    assert state(db, visit) == "on_site"


def test_an_item_that_could_not_be_done_completes_with_a_note_saying_why(db, visit):
    field.tick(db, visit, "E1", item=CHECKLIST[0], done=True, actor="eva")
    field.tick(db, visit, "E1", item=CHECKLIST[1], done=True, actor="eva")
    field.tick(db, visit, "E1", item=CHECKLIST[2], done=False, note_text="the site manager would not allow a "
                                                                         "power-down today", actor="eva")
    field.record_test(db, visit, "E1", passed=True, notes="ok", actor="eva")
    field.complete(db, visit, "E1", actor="eva", customer_signoff_name="J. Meyer")
    assert state(db, visit) == "resolved"


def test_a_failed_test_completes_planned_work_only_once_a_repair_finding_opened_a_corrective_order(db, fleet, visit):
    tick_all(db, visit)
    field.record_test(db, visit, "E1", passed=False, notes="connector 2 will not lock", actor="eva")
    with pytest.raises(Conflict, match="record a finding"):
        field.complete(db, visit, "E1", actor="eva", customer_signoff_name="J. Meyer")
    finding = record_finding(db, POLICY, visit, FindingCreate(pile_id=fleet[1], item="Connector lock", needs_repair=True,
                                                      fault_category="connector", recorded_by="eva"))
    field.complete(db, visit, "E1", actor="eva", customer_signoff_name="J. Meyer")
    assert state(db, visit) == "resolved"
    assert finding["corrective_order_id"] is not None


@pytest.mark.parametrize("kind", ["inspection", "installation"])
def test_inspection_and_installation_orders_skip_the_repair_gates_too(db, fleet, kind):
    db.execute("INSERT INTO engineers (id, name, skills, regions, home_lat, home_lon) VALUES "
               "('E1', 'Eva', '{AC,DC,HV}', '{north}', 52.5, 13.3)")
    order_id = planned_order(db, fleet[1], kind=kind, checklist=["Functions tested"])
    arrive(db, order_id)
    field.record_test(db, order_id, "E1", passed=True, notes="ok", actor="eva")
    field.tick(db, order_id, "E1", item="Functions tested", done=True, actor="eva")
    field.complete(db, order_id, "E1", actor="eva", customer_signoff_name="J. Meyer")
    assert state(db, order_id) == "resolved"


def test_a_corrective_order_still_needs_its_diagnosis_first(db, fleet, visit):
    from maintenance.orders.lifecycle import open_corrective

    order_id, _ = open_corrective(db, fleet[0], "cooling", title="Fan stopped", priority=2, actor="rules",
                                  severity="major")
    for to in (S.READY_FOR_DISPATCH, S.ASSIGNED):
        transition(db, order_id, to, actor="dispatch")
    db.execute("UPDATE work_orders SET engineer_id = 'E1' WHERE id = %s", (order_id,))
    transition(db, order_id, S.ACCEPTED, actor="E1")
    arrive(db, order_id)
    with pytest.raises(Conflict, match="diagnose first"):
        field.record_test(db, order_id, "E1", passed=True, notes="ok", actor="eva")


def test_the_phone_runs_a_preventive_visit_through_the_api(db, visit, client_for):
    eva = client_for("engineer", "eva", engineer_id="E1")
    tested = eva.post(f"/field/work-orders/{visit}/test", json={"passed": True, "notes": "full power"})
    assert tested.status_code == 200, tested.text
    unknown = eva.post(f"/field/work-orders/{visit}/checklist", json={"item": "Paint", "done": True})
    assert unknown.status_code == 422 and CHECKLIST[0] in unknown.text
    for item in CHECKLIST:
        ticked = eva.post(f"/field/work-orders/{visit}/checklist",
                          json={"item": item, "done": True, "reading": "ok"})
        assert ticked.status_code == 200, ticked.text
    assert all(e["done"] and e["by"] == "eva" for e in ticked.json()["checklist"])
    assert client_for("engineer", "emil", engineer_id="E2").post(
        f"/field/work-orders/{visit}/checklist", json={"item": CHECKLIST[0], "done": True}).status_code == 404
    early = eva.post(f"/field/work-orders/{visit}/complete", json={})
    assert early.status_code == 422 and "customer sign-off name" in early.text
    done = eva.post(f"/field/work-orders/{visit}/complete", json={"customer_signoff_name": "J. Meyer"})
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "resolved"
