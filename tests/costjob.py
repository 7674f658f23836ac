"""A job driven through the real field flow by E1 (Eva), its timeline then set to known
times, for the costs tests (tests/test_job_costs.py, tests/test_budgets.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from maintenance import fieldwork as field
from maintenance.policy import load as load_policy
from tests.fieldjob import REPORT, accepted_order

POLICY = load_policy()          # pricing: labour 85 /h, travel 0.90 /km, EUR
DAY = datetime(2026, 10, 14, tzinfo=timezone.utc)


def at(hh_mm: str) -> datetime:
    h, m = map(int, hh_mm.split(":"))
    return DAY + timedelta(hours=h, minutes=m)


def drive_job(db, pile_id: str, *, cause: str, departed: tuple[float, float] | None, times: dict[str, str],
              quote: bool = False, fan: bool = True) -> int:
    """E1 takes an order on `pile_id` through the field flow (en route from `departed`,
    arrive, diagnose `cause`, an approved quote if asked, the fan from her van, complete);
    then the timeline's moves are set to `times` (state → "hh:mm" on DAY)."""
    order = accepted_order(db, pile_id)
    if departed:
        db.execute("UPDATE engineers SET lat = %s, lon = %s, position_at = now() WHERE id = 'E1'", departed)
    else:
        db.execute("UPDATE engineers SET lat = NULL, lon = NULL, position_at = NULL WHERE id = 'E1'")
    field.start_travel(db, order, "E1", eta=datetime.now(timezone.utc) + timedelta(hours=1), actor="E1")
    field.arrive(db, POLICY, order, "E1", lat=52.52, lon=13.40, actor="E1")
    field.diagnose(db, POLICY, order, "E1", diagnosis="fan seized", cause_class=field.CauseClass(cause), actor="E1",
                   today=DAY.date())
    if quote:
        quote_id = field.make_quote(db, POLICY, order, "E1", parts=[("FAN-120", 1)], labour_h=2, travel_km=15,
                                    actor="E1")
        field.decide_quote(db, quote_id, approve=True, approver_name="J. Meyer", actor="agent")
    if fan:
        field.use_part(db, order, "E1", part_id="FAN-120", quantity=1, location_id="VAN-E1", defective_returned=True,
                       actor="E1")
    field.record_test(db, order, "E1", passed=True, notes="charges at 22 kW", actor="E1")
    field.complete(db, order, "E1", actor="E1", **(REPORT | {"no_parts": not fan, "customer_signoff_name": "J. M."}))
    for state, hh_mm in times.items():
        db.execute("UPDATE work_order_events SET at = %s WHERE work_order_id = %s AND to_state = %s "
                   "AND from_state IS DISTINCT FROM to_state", (at(hh_mm), order, state))
    db.execute("UPDATE assignments SET assigned_at = %s WHERE work_order_id = %s", (at("08:00"), order))
    db.execute("UPDATE work_orders SET resolved_at = %s WHERE id = %s", (at(times["resolved"]), order))
    return order
