"""Each role can do what it is for and nothing else (docs/roles.md).

One table: for every endpoint, the roles that may call it. Every role calls every
endpoint; the ones not listed must get 403, the listed ones must get through (a 404 or
422 for the made-up record or body still means the role was let in). Admin passes
everywhere except the engineers' phone app, which acts as the engineer holding the order.
The customer column is a portal login of the customer owning the fleet: what it may read
it reads scoped to its own customer (tests/test_customer_scope.py).
"""
from __future__ import annotations

import pytest

from api.accounts import Role
from maintenance.orders.lifecycle import WorkOrderState as S
from maintenance.orders.lifecycle import open_corrective, transition

A, SUP, DIS, ENG, AGT, VIE, CUS, PKP, MGR = (Role.ADMIN, Role.SUPERVISOR, Role.DISPATCHER, Role.ENGINEER,
                                             Role.AGENT, Role.VIEWER, Role.CUSTOMER, Role.PARTS_KEEPER, Role.MANAGER)
STAFF = {A, SUP, DIS, ENG, AGT, VIE, PKP, MGR}
EVERYONE = STAFF | {CUS}
OFFICE = {A, SUP, DIS, AGT, VIE, PKP, MGR}
DESK = {A, SUP, DIS, AGT}
DISPATCH = {A, SUP, DIS}
SUPERVISOR = {A, SUP}
ADMIN = {A}
PHONE = {ENG}
STORES = {A, SUP, PKP}
REPORTS = {A, SUP, MGR}
MANAGER = {A, MGR}

FAULT = {"pile_id": "{pile}", "fault_category": "cooling", "title": "Fan noise", "severity": "minor"}
RULE = {"id": "x.hot", "kind": "threshold", "metric": "temperature_c", "above": 80, "severity": "major",
        "category": "thermal"}

TABLE = [
    # reading the fleet
    ("GET", "/piles", None, EVERYONE),
    ("GET", "/piles/{pile}", None, EVERYONE),
    ("GET", "/fleet/health", None, EVERYONE),
    ("GET", "/piles/{pile}/availability", None, EVERYONE),
    ("GET", "/piles/{pile}/telemetry", None, EVERYONE),
    ("GET", "/piles/{pile}/history", None, EVERYONE),
    # the console's fleet-wide views
    ("GET", "/fleet/overview", None, OFFICE),
    ("GET", "/search?q=TP", None, OFFICE),
    ("GET", "/kpis", None, OFFICE),
    ("GET", "/kpis/series?period=week&count=2", None, OFFICE),
    ("GET", "/kpis/definitions", None, OFFICE),
    ("GET", "/uptime/ports", None, OFFICE),
    ("GET", "/uptime/piles/{pile}/outages", None, OFFICE),
    ("GET", "/uptime/exclusions", None, OFFICE),
    ("GET", "/sites", None, EVERYONE),
    ("GET", "/pile-models", None, EVERYONE),
    ("GET", "/customers", None, OFFICE | {CUS}),            # contact details only to DESK (below)
    ("GET", "/customers/CUST-1", None, OFFICE | {CUS}),
    ("GET", "/customers/CUST-1/history", None, OFFICE | {CUS}),
    ("GET", "/customers/CUST-1/changes", None, SUPERVISOR),
    ("GET", "/ingest/stats", None, OFFICE),
    ("GET", "/ingest/dead-letters", None, OFFICE),
    ("GET", "/alarms", None, OFFICE),
    ("GET", "/rules", None, OFFICE),
    ("GET", "/maintenance/windows", None, OFFICE),
    ("GET", "/maintenance/plans", None, OFFICE),
    ("GET", "/maintenance/schedule", None, OFFICE),
    ("GET", "/maintenance/inspections", None, OFFICE),
    ("GET", "/work-orders", None, EVERYONE),                # engineers: only their own (below)
    ("GET", "/work-orders/{order}", None, EVERYONE),
    ("GET", "/work-orders/{order}/report", None, EVERYONE),
    ("GET", "/work-orders/{order}/photos", None, EVERYONE),
    ("GET", "/work-orders/sla-policy", None, STAFF),
    ("GET", "/work-orders/fault-categories", None, STAFF),
    ("GET", "/auth/me", None, EVERYONE),
    # the desk: calls, alarms, customers' answers
    ("POST", "/work-orders", FAULT, DESK),
    ("POST", "/work-orders/installations", {"pile_id": "{pile}", "title": "Install"}, DESK),
    ("POST", "/alarms/999/ack", {}, DESK),
    ("POST", "/alarms/999/comments", {"text": "called the site"}, DESK),
    ("POST", "/work-orders/{order}/comments", {"text": "customer called"}, DESK | PHONE),
    ("POST", "/quotes/999/decision", {"approve": True, "approver_name": "J. Meyer"}, DESK),
    # customers' requests (issue 13): the desk works them; a customer reads, opens and replies to its own
    ("GET", "/requests", None, DESK | {CUS}),
    ("GET", "/requests/999", None, DESK | {CUS}),
    ("POST", "/requests", {"subject": "Question", "description": "When?", "customer_id": "CUST-1"}, DESK | {CUS}),
    ("POST", "/requests/999/messages", {"body": "Thanks"}, DESK | {CUS}),
    ("POST", "/requests/calls", {"caller": "+49301234567", "subject": "Call", "customer_id": "CUST-1"}, DESK),
    ("POST", "/requests/999/classify", {"request_class": "consultation"}, DESK),
    ("POST", "/requests/999/wait", None, DESK),
    ("POST", "/requests/999/resolve", None, DESK),
    ("POST", "/requests/999/close", None, DESK),
    ("POST", "/requests/999/reopen", None, DESK),
    ("POST", "/requests/999/promise", {"promised_at": "2030-01-01T00:00:00Z"}, DESK),
    ("POST", "/requests/999/link", {"customer_id": "CUST-1"}, DESK),
    ("POST", "/requests/999/take", None, DESK),
    ("GET", "/kpis/desk", None, OFFICE),
    ("GET", "/mail/quarantine", None, DESK),
    ("GET", "/mail/quarantine/999", None, DESK),
    ("POST", "/mail/quarantine/999/release", None, DESK),
    # complaints and follow-ups (issue 13): the desk acts, viewers read, a supervisor closes
    ("GET", "/complaints", None, OFFICE),
    ("GET", "/complaints/analysis", None, OFFICE),
    ("GET", "/complaints/999", None, OFFICE),
    ("POST", "/complaints/999/pass-to-supervisor", None, DESK),
    ("POST", "/complaints/999/investigation", {"cause_class": "late", "responsible_party": "process",
                                                "category": "response_time"}, DESK),
    ("POST", "/complaints/999/plan", {"measures": [{"measure": "call", "owner": "a", "deadline": "2030-01-01"}]},
     DESK),
    ("POST", "/complaints/999/measures/1/done", None, DESK),
    ("POST", "/complaints/999/follow-up", None, DESK),
    ("POST", "/complaints/999/progress", {"text": "an engineer comes on Monday"}, DESK),
    ("POST", "/complaints/999/close", {"close_reason": "refunded"}, SUPERVISOR),
    ("GET", "/follow-ups", None, OFFICE),
    ("GET", "/follow-ups/999", None, OFFICE),
    ("GET", "/follow-ups/mine", None, ADMIN | {CUS}),   # survey links: the customer's own (and an admin)
    ("POST", "/follow-ups/999", {"solved": True, "satisfaction": 5}, DESK),
    ("GET", "/survey/no-such-token", None, EVERYONE),           # the customer's link: no login at all
    # customer records (R-INFO)
    ("POST", "/customers", {"id": "C-NEW", "name": "New Fleet"}, DESK),
    ("PATCH", "/customers/CUST-1", {"name": "Metro Fleet"}, DESK),
    ("POST", "/customers/CUST-1/contacts", {"name": "Kim Berg", "phone": "030 1234 5678"}, DESK),
    ("PATCH", "/customers/CUST-1/contacts/999", {"role": "accounts"}, DESK),
    ("DELETE", "/customers/CUST-1/contacts/999", None, DESK),
    # dispatch
    ("POST", "/work-orders/{order}/transitions", {"to": "on_hold"}, DISPATCH),
    ("POST", "/maintenance/windows", {"pile_id": "{pile}", "starts_at": "2030-01-01T00:00:00Z",
                                       "ends_at": "2030-01-01T02:00:00Z", "reason": "works"}, DISPATCH),
    ("POST", "/maintenance/plan-now", None, DISPATCH),
    ("POST", "/uptime/exclusions", {"pile_id": "{pile}", "starts_at": "2026-01-01T00:00:00Z",
                                    "ends_at": "2026-01-01T02:00:00Z", "cause": "grid_outage", "note": "x"}, DISPATCH),
    ("POST", "/uptime/exclusions/999/withdraw", {"reason": "mistake"}, DISPATCH),
    # supervisors
    ("POST", "/rules", RULE, SUPERVISOR),
    ("DELETE", "/rules/x.none", None, SUPERVISOR),
    ("POST", "/maintenance/plans", {"id": "p"}, SUPERVISOR),
    ("PUT", "/maintenance/sites/SITE-1/inspection-interval", {"interval_days": 30}, SUPERVISOR),
    ("PATCH", "/sites/SITE-1", {"timezone": "Europe/Berlin"}, SUPERVISOR),
    ("POST", "/work-orders/{order}/escalation-decision", {"action": "replace", "note": "x"}, SUPERVISOR),
    ("POST", "/dispatch/run", None, DISPATCH),
    ("POST", "/work-orders/{order}/assign", {"engineer_id": "E2", "reason": "knows the site"}, DISPATCH),
    ("GET", "/work-orders/{order}/assignments", None, OFFICE),
    # engineers' roster: viewers see it without phone numbers (below)
    ("GET", "/engineers", None, OFFICE),
    ("GET", "/engineers/E2", None, DESK),
    ("POST", "/engineers", {"id": "E9", "name": "Ida", "home_lat": 52.5, "home_lon": 13.4}, DISPATCH),
    ("POST", "/engineers/E2/shifts", {"starts_at": "2030-01-01T06:00:00Z", "ends_at": "2030-01-01T18:00:00Z"},
     DISPATCH),
    ("PUT", "/engineers/me/position", {"lat": 52.5, "lon": 13.4}, PHONE),
    # the live stream: everyone, engineers only their own events (tests/test_events.py)
    ("GET", "/events?timeout=0.1", None, STAFF),
    # admins
    ("GET", "/users", None, ADMIN),
    ("GET", "/webhooks", None, ADMIN),
    ("POST", "/webhooks", {"url": "https://example.com/hook"}, ADMIN),
    ("GET", "/deliveries", None, ADMIN),
    ("POST", "/users", {"id": "zed", "full_name": "Zed", "role": "viewer", "password": "long enough pw"}, ADMIN),
    ("POST", "/piles", {"id": "P-NEW"}, ADMIN),
    # device credentials (issue 15): keys to the fleet
    ("GET", "/piles/{pile}/credentials", None, ADMIN),
    ("POST", "/piles/{pile}/credentials/mqtt", None, ADMIN),
    ("DELETE", "/piles/{pile}/credentials/ocpp", None, ADMIN),
    ("POST", "/sites", {"id": "S-NEW"}, ADMIN),
    ("PATCH", "/pile-models/T-AC22", {"energy_register": "session"}, ADMIN),
    # the engineers' phone
    ("GET", "/field/work-orders", None, PHONE),
    ("POST", "/field/work-orders/{order}/accept", None, PHONE),
    ("POST", "/field/work-orders/{order}/en-route", {"eta": "2030-01-01T10:00:00Z"}, PHONE),
    ("POST", "/field/work-orders/{order}/complete", {}, PHONE),
    # issue 14, stock (R-PARTS): office reads; the parts keeper and supervisors move stock, count, plan
    ("GET", "/stock/locations", None, OFFICE),
    ("POST", "/stock/locations", {"id": "WH-9", "kind": "warehouse", "name": "Spare store"}, STORES),
    ("GET", "/stock/on-hand", None, OFFICE),
    ("GET", "/stock/low", None, OFFICE),
    ("GET", "/stock/movements", None, OFFICE),
    ("POST", "/stock/transfers", {"part_id": "X", "quantity": 1, "from_location_id": "A", "to_location_id": "B"},
     STORES),
    ("POST", "/stock/issues", {"part_id": "X", "quantity": 1, "location_id": "A", "engineer_id": "E1",
                               "work_order_id": "{order}"}, STORES),
    ("GET", "/stock/reorder-levels", None, OFFICE),
    ("PUT", "/stock/reorder-levels", {"location_id": "A", "part_id": "X"}, STORES),
    ("POST", "/stock/reorder-levels/recompute", None, STORES),
    ("GET", "/stock/purchase-proposals", None, OFFICE),
    ("GET", "/stock-takes", None, OFFICE),
    ("POST", "/stock-takes", {"location_id": "A"}, STORES),
    ("GET", "/stock-takes/999", None, OFFICE),
    ("POST", "/stock-takes/999/counts", {"counts": [{"part_id": "X", "counted": 1}]}, STORES),
    ("POST", "/stock-takes/999/submit", None, STORES),
    ("POST", "/stock-takes/999/approve", None, STORES),
    ("POST", "/stock-takes/999/cancel", None, STORES),
    # costs and budgets (issue 14, R-COST): managers and supervisors read, a manager sets budgets,
    # rates and approvals; dispatch records expenses, an engineer on an order they hold
    ("GET", "/work-orders/{order}/cost", None, {A, SUP, MGR}),
    ("GET", "/costs?by=model&period=quarter", None, {A, SUP, MGR}),
    ("GET", "/expenses", None, {A, SUP, MGR}),
    ("POST", "/expenses", {"category": "travel", "amount": "7.50", "spent_on": "2026-10-14", "note": "parking",
                           "work_order_id": "{order}"}, {A, SUP, DIS, ENG}),
    ("PUT", "/engineers/E1/hourly-rate", {"hourly_rate": "60.00"}, {A, MGR}),
    ("GET", "/budgets", None, {A, SUP, MGR}),
    ("PUT", "/budgets/2026-10/office", {"amount": "300.00"}, {A, MGR}),
    ("DELETE", "/budgets/2026-09/office", None, {A, MGR}),
    ("GET", "/budgets/2026-10/actuals", None, {A, SUP, MGR}),
    ("GET", "/budgets/2026-10/changes", None, {A, SUP, MGR}),
    ("POST", "/budgets/2026-10/approvals", {"category": "office", "amount": "50.00", "reason": "printer"}, {A, MGR}),
    ("GET", "/budgets/2026-10/approvals", None, {A, SUP, MGR}),
    # issue 14, reports (R-KPI): managers and supervisors read; a manager produces one again
    ("GET", "/reports", None, REPORTS),
    ("GET", "/reports/1", None, REPORTS),
    ("GET", "/reports/1.pdf", None, REPORTS),
    ("GET", "/reports/1.xlsx", None, REPORTS),
    ("GET", "/reports/fault-analysis?quarter=2026Q3", None, REPORTS),
    ("GET", "/reports/scorecards?by=team", None, REPORTS),
    ("POST", "/reports", {"kind": "monthly", "period": "2026-10"}, MANAGER),
    # inbound (issue 14, R-PARTS): the catalogue, suppliers, purchase orders, goods receipts, claims; office roles
    # read, the parts keeper and supervisors write
    ("GET", "/parts", None, OFFICE),
    ("GET", "/parts/NOPE", None, OFFICE),
    ("POST", "/parts", {"id": "P-9", "name": "Fuse"}, STORES),
    ("PATCH", "/parts/NOPE", {"name": "Fuse"}, STORES),
    ("PUT", "/parts/NOPE/suppliers/NOPE", {"price": 1, "lead_time_days": 1}, STORES),
    ("DELETE", "/parts/NOPE/suppliers/NOPE", None, STORES),
    ("GET", "/suppliers", None, OFFICE),
    ("GET", "/suppliers/scorecards", None, OFFICE),
    ("GET", "/suppliers/NOPE", None, OFFICE),
    ("GET", "/suppliers/NOPE/scorecard", None, OFFICE),
    ("POST", "/suppliers", {"id": "S-9", "name": "Supplier"}, STORES),
    ("PATCH", "/suppliers/NOPE", {"name": "Supplier"}, STORES),
    ("GET", "/purchase-orders", None, OFFICE),
    ("GET", "/purchase-orders/999", None, OFFICE),
    ("POST", "/purchase-orders", {"supplier_id": "NOPE", "location_id": "NOPE", "lines": [{"part_id": "NOPE",
                                                                                          "quantity": 1}]},
     STORES),
    ("PUT", "/purchase-orders/999/lines", {"lines": [{"part_id": "NOPE", "quantity": 1}]}, STORES),
    ("POST", "/purchase-orders/999/order", None, STORES),
    ("POST", "/purchase-orders/999/cancel", {}, STORES),
    ("POST", "/purchase-orders/999/receipts", {"lines": [{"part_id": "NOPE", "quantity": 1}]}, STORES),
    ("GET", "/goods-receipts", None, OFFICE),
    ("GET", "/goods-receipts/999", None, OFFICE),
    ("POST", "/goods-receipts", {"supplier_id": "NOPE", "location_id": "NOPE", "lines": [{"part_id": "NOPE",
                                                                                         "quantity": 1}]},
     STORES),
    ("POST", "/goods-receipts/999/lines/999/inspection", {"passed_quantity": 1, "failed_quantity": 0}, STORES),
    ("GET", "/supplier-claims", None, OFFICE),
    ("GET", "/supplier-claims/999", None, OFFICE),
    ("POST", "/supplier-claims/999/supplier", {"supplier_id": "NOPE"}, STORES),
    ("POST", "/supplier-claims/999/ship", {}, STORES),
    ("POST", "/supplier-claims/999/settle", {"outcome": "credited", "resolution": "credit note"}, STORES),
    ("POST", "/quarantined-parts/scrap", {"part_id": "NOPE", "quantity": 1, "location_id": "NOPE", "reason": "burnt"},
     STORES),
    # Issue 14, closing a purchase order short (closepo).
    ("POST", "/purchase-orders/999/close", {"reason": "the rest will not come"}, STORES),
]


@pytest.fixture
def world(db, fleet, client_for, api):
    """A client per role (the engineer linked to E1) and an order E1 holds."""
    db.execute("INSERT INTO engineers (id, name, skills, regions, home_lat, home_lon) VALUES "
               "('E1', 'Eva', '{AC,DC}', '{north}', 52.5, 13.3), ('E2', 'Emil', '{AC}', '{north}', 52.5, 13.3)")
    order, _ = open_corrective(db, fleet[0], "cooling", title="Fan stopped", priority=2, actor="rules",
                               severity="major")
    other, _ = open_corrective(db, fleet[1], "cooling", title="Fan stopped", priority=2, actor="rules",
                               severity="major")
    for order_id, engineer in ((order, "E1"), (other, "E2")):
        for to in (S.READY_FOR_DISPATCH, S.ASSIGNED):
            transition(db, order_id, to, actor="dispatch")
        db.execute("UPDATE work_orders SET engineer_id = %s WHERE id = %s", (engineer, order_id))
    clients = {role: client_for(role, engineer_id="E1" if role is ENG else None,
                                customer_id="CUST-1" if role is CUS else None) for role in Role if role is not A}
    return {"clients": clients | {A: api}, "pile": fleet[0], "order": order, "other": other}


def _fill(value, world):
    if isinstance(value, str):
        return value.replace("{pile}", world["pile"]).replace("{order}", str(world["order"]))
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    return value


def test_every_role_gets_exactly_the_endpoints_meant_for_it(world):
    wrong = []
    for method, path, body, allowed in TABLE:
        for role, client in world["clients"].items():
            response = client.request(method, _fill(path, world), json=_fill(body, world))
            let_in = response.status_code not in (401, 403)
            if let_in != (role in allowed):
                wrong.append(f"{role.value} {method} {path}: {response.status_code} {response.text[:120]}")
            if response.status_code == 403:
                assert response.json()["error"] == "forbidden" and response.json()["detail"]
    assert not wrong, "\n".join(wrong)


def test_an_engineer_sees_and_changes_only_the_orders_they_hold(world):
    eva = world["clients"][ENG]
    mine, theirs = world["order"], world["other"]
    assert [o["id"] for o in eva.get("/work-orders").json()["data"]] == [mine]
    assert [o["id"] for o in eva.get("/field/work-orders").json()] == [mine]
    assert eva.get(f"/work-orders/{mine}").status_code == 200
    for method, path, body in (("GET", f"/work-orders/{theirs}", None),
                               ("POST", f"/work-orders/{theirs}/comments", {"text": "hi"}),
                               ("POST", f"/field/work-orders/{theirs}/accept", None),
                               ("GET", f"/work-orders/{theirs}/report", None)):
        response = eva.request(method, path, json=body)
        # The same answer as for an order that does not exist at all.
        missing = eva.request(method, path.replace(str(theirs), "987654"), json=body)
        assert response.status_code == missing.status_code == 404, (path, response.text)
        assert response.json()["detail"] == missing.json()["detail"].replace("987654", str(theirs))


def test_customer_contact_details_reach_only_the_roles_that_need_them(world):
    for role, client in world["clients"].items():
        response = client.get("/customers")
        assert (response.status_code == 200) == (role in OFFICE | {CUS}), role
        if response.status_code == 200:
            # A customer's portal login sees its own people.
            assert bool(response.json()["data"][0]["contact_phone"]) == (role in DESK | {CUS}), role
    for role in (VIE, ENG, CUS):
        assert "contact" not in world["clients"][role].get("/piles/" + world["pile"]).text
    roster = world["clients"][VIE].get("/engineers").json()["data"]
    assert roster and all(e.get("phone") is None for e in roster)
    # The engineer holding the order gets the contact they must call on the way.
    job = world["clients"][ENG].get("/field/work-orders").json()[0]
    assert job["contact_phone"]


def test_admin_is_not_an_engineer_on_the_phone_app(world):
    response = world["clients"][A].get("/field/work-orders")
    assert response.status_code == 403 and "not linked to an engineer" in response.json()["detail"]
