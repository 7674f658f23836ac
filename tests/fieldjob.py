"""An order held by engineer E1 (Eva), for the phone's tests through the HTTP API: she has two
fans in her van; Emil (E2) is another engineer."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from maintenance.orders.lifecycle import WorkOrderState as S
from maintenance.orders.lifecycle import open_corrective, transition
from tests.factories import set_stock

SITE = (52.52, 13.40)  # where tests/factories.py puts every pile
REPORT = {"fault_cause": "fan bearing seized", "action_taken": "replaced the cabinet fan",
          "customer_opinion": "happy it charges again", "customer_rating": 5, "no_parts": True}


def accepted_order(db, pile_id: str, engineer_id: str = "E1") -> int:
    """A corrective order on `pile_id`, accepted by E1 or `engineer_id` (engineers, parts and
    stock made once)."""
    if db.execute("SELECT 1 FROM engineers WHERE id = 'E1'").fetchone() is None:
        db.execute("INSERT INTO engineers (id, name, skills, regions, home_lat, home_lon) VALUES "
                   "('E1', 'Eva', '{AC,DC,HV}', '{north}', 52.5, 13.3), ('E2', 'Emil', '{AC}', '{north}', 52.5, 13.3)")
        db.execute("INSERT INTO parts (id, name, unit_cost) VALUES ('FAN-120', 'Cabinet fan 120 mm', 42.50)")
        db.execute("INSERT INTO stock_locations (id, kind, name, engineer_id) VALUES "
                   "('VAN-E1', 'van', 'Eva''s van', 'E1')")
        set_stock(db, "VAN-E1", "FAN-120", 2)
    order_id, _ = open_corrective(db, pile_id, "cooling", title="Fan stopped", priority=2, actor="rules",
                                  severity="major")
    for to in (S.READY_FOR_DISPATCH, S.ASSIGNED):
        transition(db, order_id, to, actor="dispatch")
    db.execute("UPDATE work_orders SET engineer_id = %s WHERE id = %s", (engineer_id, order_id))
    db.execute("INSERT INTO assignments (work_order_id, engineer_id, state, assigned_by) VALUES (%s, %s, 'accepted', "
               "'dispatch')", (order_id, engineer_id))
    transition(db, order_id, S.ACCEPTED, actor=engineer_id)
    return order_id


def drive_to_site(phone, order_id: int) -> None:
    """En route, arrive and diagnose through the API, as the phone does."""
    eta = (datetime.now(timezone.utc) + timedelta(minutes=10)).isoformat()
    assert phone.post(f"/field/work-orders/{order_id}/en-route", json={"eta": eta}).status_code == 200
    assert phone.post(f"/field/work-orders/{order_id}/arrive",
                      json={"lat": SITE[0] + 0.001, "lon": SITE[1]}).status_code == 200
    assert phone.post(f"/field/work-orders/{order_id}/diagnosis",
                      json={"diagnosis": "fan does not spin", "cause_class": "manufacture"}).status_code == 200


def timeline_notes(db, order_id: int, like: str) -> list[str]:
    return [r[0] for r in db.execute("SELECT note FROM work_order_events WHERE work_order_id = %s AND note LIKE %s "
                                     "ORDER BY id", (order_id, like))]
