"""Issue 12, item 4: one fault, one visit. Alarms of related fault categories on one pile (an
overheating caused by a stopped fan) join one open order instead of sending two engineers.
Real broker, ingest, PostgreSQL and maintenance pass."""
from __future__ import annotations

import pytest

from maintenance import policy as policies
from pilecare.errors import InvalidInput
from tests.devices import Device, telemetry, wait_for
from tests.maint import Pass, fast_policy, use_rules

RULES = """
rules:
  - {id: fan.stopped, kind: threshold, metric: fan_rpm, above: false, raise_at: 300, clear_at: 800, for_s: 0, category: cooling, severity: major}
  - {id: error.HighTemperature, kind: error_code, error_code: HighTemperature, category: thermal, severity: major, safety: true}
  - {id: error.GroundFailure, kind: error_code, error_code: GroundFailure, category: electrical, severity: critical}
"""


def report(settings, db, pile: str, seq: int, **kwargs) -> None:
    device = Device(settings)
    device.telemetry(pile, seq, **kwargs)
    device.wait_acked()
    device.close()
    wait_for(lambda: db.execute("SELECT count(*) FROM telemetry WHERE pile_id = %s AND connector_id = 0 AND seq = %s",
                                (pile, seq)).fetchone()[0] == 1)


def orders(db, pile: str) -> list[tuple]:
    return db.execute("SELECT fault_category, safety, (SELECT array_agg(a.rule_id ORDER BY a.id) FROM alarms a "
                      "WHERE a.work_order_id = o.id) FROM work_orders o WHERE pile_id = %s ORDER BY id",
                      (pile,)).fetchall()


def fan_stops_then(settings, db, pile: str, policy=None, **second) -> None:
    """The pile's fan stops (one pass), then it reports `second` (another pass)."""
    tick = Pass(settings, policy)
    try:
        report(settings, db, pile, 1, status="Charging", fan_rpm=0)
        tick()
        report(settings, db, pile, 2, fan_rpm=0, **second)
        tick()
    finally:
        tick.close()


@pytest.fixture
def rules(db, fleet):
    use_rules(db, RULES)


def test_a_stopped_fan_and_the_overheating_it_causes_make_one_order(settings, db, fleet, ingest, rules):
    pile = fleet[0]
    fan_stops_then(settings, db, pile, status="Charging", error_code="HighTemperature")
    assert orders(db, pile) == [("cooling", True, ["fan.stopped", "error.HighTemperature"])]
    timeline = [r[0] for r in db.execute("SELECT note FROM work_order_events WHERE work_order_id = "
                                         "(SELECT id FROM work_orders WHERE pile_id = %s)", (pile,))]
    assert any("related to this cooling order" in (n or "") for n in timeline)
    # The safety fault that joined still reached the supervisor, once.
    assert db.execute("SELECT count(*) FROM notifications WHERE kind = 'safety' AND pile_id = %s", (pile,)).fetchone()[0] == 1


def test_unrelated_faults_of_one_pile_still_make_their_own_orders(settings, db, fleet, ingest, rules):
    pile = fleet[0]
    fan_stops_then(settings, db, pile, status="Faulted", error_code="GroundFailure")
    assert [(c, rules) for c, _, rules in orders(db, pile)] == [
        ("cooling", ["fan.stopped"]), ("electrical", ["error.GroundFailure"])]


def test_without_the_relation_in_the_policy_the_two_make_two_orders(settings, db, fleet, ingest, rules):
    pile = fleet[0]
    fan_stops_then(settings, db, pile, fast_policy(related_categories=[]), status="Charging", error_code="HighTemperature")
    assert [c for c, _, _ in orders(db, pile)] == ["cooling", "thermal"]


def test_the_shipped_policy_relates_heat_and_cooling():
    assert policies.load().related("thermal") == ["cooling"]
    assert policies.load().related("electrical") == []


@pytest.mark.parametrize("groups, complaint", [
    ("[[thermal, cooling], [cooling, power_module]]", "'cooling' is in more than one group"),
    ("[[thermal]]", "needs two or more"),
])
def test_a_policy_with_overlapping_or_lonely_groups_is_refused(groups, complaint):
    text = policies.resources.files("maintenance").joinpath("policy.default.yaml").read_text()
    text = text.replace("related_categories:\n  - [thermal, cooling]", f"related_categories: {groups}")
    with pytest.raises(InvalidInput, match=complaint):
        policies.parse(text)


# --- a dispatcher merges two open orders of one pile ------------------------------------

@pytest.fixture
def two_orders(settings, db, fleet, ingest, rules):
    """A pile with a cooling order (fan stopped) and an electrical order (ground failure)."""
    pile = fleet[0]
    fan_stops_then(settings, db, pile, status="Faulted", error_code="GroundFailure")
    return pile, [r[0] for r in db.execute("SELECT id FROM work_orders WHERE pile_id = %s ORDER BY id", (pile,))]


def test_a_dispatcher_merges_two_orders_of_one_pile_and_the_alarms_move(db, client_for, two_orders):
    from api.accounts import Role

    pile, (cooling, electrical) = two_orders
    response = client_for(Role.DISPATCHER).post(f"/work-orders/{electrical}/merge", json={"into": cooling})
    assert response.status_code == 200, response.text
    merged = response.json()
    assert merged["id"] == cooling and merged["priority"] == 1  # the ground failure's (critical) priority
    assert sorted(a["rule_id"] for a in merged["alarms"]) == ["error.GroundFailure", "fan.stopped"]
    assert any(f"work order {electrical} merged into this one" in (e["note"] or "") for e in merged["timeline"])
    gone = client_for(Role.DISPATCHER).get(f"/work-orders/{electrical}").json()
    assert (gone["state"], gone["resolution"], gone["merged_into"]) == ("cancelled", "merged", cooling)
    assert gone["alarms"] == []
    assert db.execute("SELECT count(*) FROM alarms WHERE pile_id = %s AND work_order_id = %s",
                      (pile, cooling)).fetchone()[0] == 2


@pytest.mark.parametrize("case", ["itself", "another pile", "closed", "engineer on site"])
def test_a_merge_that_cannot_be_is_a_409_that_says_why(db, fleet, client_for, two_orders, case):
    from api.accounts import Role

    pile, (cooling, electrical) = two_orders
    into = cooling
    if case == "itself":
        into = electrical
    elif case == "another pile":
        db.execute("INSERT INTO work_orders (kind, pile_id, fault_category, title, created_by) "
                   "VALUES ('corrective', %s, 'cooling', 't', 'test')", (fleet[1],))
        into = db.execute("SELECT id FROM work_orders WHERE pile_id = %s", (fleet[1],)).fetchone()[0]
    elif case == "closed":
        db.execute("UPDATE work_orders SET state = 'closed' WHERE id = %s", (cooling,))
    else:
        db.execute("UPDATE work_orders SET state = 'on_site' WHERE id = %s", (electrical,))
    response = client_for(Role.DISPATCHER).post(f"/work-orders/{electrical}/merge", json={"into": into})
    assert response.status_code == 409, response.text
    assert db.execute("SELECT state FROM work_orders WHERE id = %s", (electrical,)).fetchone()[0] != "cancelled"


def test_an_engineer_cannot_merge_orders(client_for, two_orders):
    from api.accounts import Role

    _, (cooling, electrical) = two_orders
    assert client_for(Role.ENGINEER).post(f"/work-orders/{electrical}/merge", json={"into": cooling}).status_code == 403


def test_the_maintenance_worker_logs_what_it_decides(settings, db, fleet, ingest, rules, caplog):
    # Issue 12, item 7: alarms raised and orders opened and moved, at INFO, in the worker's log.
    pile = fleet[0]
    tick = Pass(settings)
    try:
        with caplog.at_level("INFO", logger="maintenance"):
            report(settings, db, pile, 1, status="Faulted", error_code="GroundFailure")
            tick()
    finally:
        tick.close()
    lines = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("alarm ") and "raised: error.GroundFailure (critical) on pile " + pile in m for m in lines)
    assert any(m.startswith("work order ") and f"opened for pile {pile} (electrical)" in m for m in lines)
    assert any(m.startswith("work order ") and "new → ready_for_dispatch by rules" in m for m in lines)
