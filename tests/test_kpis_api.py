"""The console's KPI page (issue 5): one period's KPIs match hand-computed values, a series
of calendar periods for charts, and the definitions shown as help text."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from api.routes.kpis import Period, periods
from maintenance.kpi import service as kpi
from tests.test_kpi import order

START = datetime(2026, 10, 1, tzinfo=timezone.utc)
PERIOD = {"from": "2026-10-01T00:00:00Z", "to": "2026-10-02T00:00:00Z"}


def h(hours: float) -> datetime:
    return START + timedelta(hours=hours)


@pytest.fixture
def history(db, fleet):
    """One port of TP-0001, known since September, Faulted 06:00–12:00 on 1 October; three
    corrective orders opened that day (one repeats another), one before; two PM orders due."""
    db.execute("INSERT INTO connector_state (pile_id, connector_id, time, seq, status, error_code, status_since) "
               "VALUES ('TP-0001', 1, now(), 1, 'Available', 'NoError', now())")
    for at, old, new in ((h(-24 * 30), None, "Available"), (h(6), "Available", "Faulted"), (h(12), "Faulted", "Available")):
        db.execute("INSERT INTO connector_status_changes (pile_id, connector_id, time, old_status, new_status, "
                   "old_error_code, new_error_code) VALUES ('TP-0001', 1, %s, %s, %s, 'NoError', 'NoError')", (at, old, new))
    order(db, fleet[0], h(1), responded_at=h(3), resolved_at=h(5), state="closed", closed_at=h(6),
          resolution="repaired", category="a")
    order(db, fleet[1], h(2), responded_at=h(6), resolved_at=h(10), state="closed", closed_at=h(11),
          resolution="repaired", reopened_count=1, category="b")
    first = db.execute("SELECT min(id) FROM work_orders").fetchone()[0]
    order(db, fleet[0], h(20), repeat_of=first, category="a")
    order(db, fleet[2], h(-48), responded_at=h(-47), category="c")   # before the period
    for pile, closed in ((fleet[3], h(9)), (fleet[4], h(30))):
        db.execute("INSERT INTO work_orders (kind, pile_id, title, created_by, due_at, state, closed_at) "
                   "VALUES ('preventive', %s, 'PM', 'planner', %s, 'closed', %s)", (pile, h(10), closed))


def test_a_periods_kpis_match_their_definitions(api, history):
    k = api.get("/kpis", params=PERIOD).json()
    assert (k["from"], k["to"]) == ("2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z")
    assert k["orders_opened"] == 3
    assert k["response_h"] == 3.0                      # 2 h and 4 h
    assert k["mttr_h"] == 6.0                          # 4 h and 8 h
    assert k["first_time_fix_rate"] == 0.5             # one of two repaired came back
    assert k["repeat_repair_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert (k["pm_due"], k["pm_on_time"], k["pm_compliance"]) == (2, 1, 0.5)
    assert k["availability"] == 0.75                   # 6 h Faulted of 24
    assert k["mtbf_h"] == 6.0                          # 18 available port-hours ÷ 3 failures
    assert k["availability_target"] == 0.97


def test_kpis_of_a_site_count_only_its_piles(api, history):
    site1 = api.get("/kpis", params=PERIOD | {"site_id": "SITE-1"}).json()   # TP-0002: the order that came back
    assert (site1["orders_opened"], site1["first_time_fix_rate"], site1["availability"]) == (1, 0.0, None)


def test_a_period_needs_timezones_and_its_start_before_its_end(api, fleet):
    assert api.get("/kpis", params={"from": "2026-10-01T00:00:00"}).status_code == 422
    assert api.get("/kpis", params={"from": PERIOD["to"], "to": PERIOD["from"]}).status_code == 422
    assert api.get("/kpis").status_code == 200                                # the last 30 days


@pytest.mark.parametrize("period, days", [("day", 1), ("week", 7)])
def test_a_series_gives_count_calendar_periods_oldest_first_ending_with_the_current_one(api, fleet, period, days):
    data = api.get("/kpis/series", params={"period": period, "count": 4}).json()["data"]
    starts = [datetime.fromisoformat(d["from"]) for d in data]
    assert len(data) == 4 and starts == sorted(starts)
    assert all(d["to"] == e["from"] for d, e in zip(data, data[1:]))
    assert all(datetime.fromisoformat(d["to"]) - datetime.fromisoformat(d["from"]) == timedelta(days=days)
               for d in data)
    now = datetime.now(timezone.utc)
    assert starts[-1] <= now < datetime.fromisoformat(data[-1]["to"])


def test_a_monthly_series_starts_on_the_first_of_each_month(api, history):
    data = api.get("/kpis/series", params={"period": "month", "count": 3}).json()["data"]
    assert all(datetime.fromisoformat(d["from"]).day == 1 for d in data)
    october = [d for d in data if d["from"].startswith("2026-10-01")]
    assert october and october[0]["orders_opened"] == 3


@pytest.mark.parametrize("period, count", [(Period.DAY, 8), (Period.WEEK, 4), (Period.MONTH, 3)])
def test_a_series_gives_for_each_period_what_compute_gives_for_it(db, history, period, count):
    now = datetime.now(timezone.utc)
    bounds = periods(period, count, START + timedelta(days=3))     # the last one ends before now
    series = kpi.series(db, bounds, now=now)
    assert series == [kpi.compute(db, s, e, now=now) for s, e in bounds]
    assert sum(k.orders_opened for k in series) >= 3 and min(k.availability or 1 for k in series) < 1


def test_the_series_endpoint_gives_what_kpis_gives_for_each_past_period(api, history):
    data = api.get("/kpis/series", params={"period": "week", "count": 12}).json()["data"]
    for d in data[:-1]:   # the current period ends now, a moment later for the second call
        assert api.get("/kpis", params={"from": d["from"], "to": d["to"]}).json() == d


def test_every_kpi_has_a_definition_and_docs_kpi_md_explains_each(api):
    definitions = api.get("/kpis/definitions").json()
    assert {d["key"] for d in definitions} == {"response_h", "mttr_h", "mtbf_h", "first_time_fix_rate",
                                               "repeat_repair_rate", "pm_compliance", "availability",
                                               "nevi_uptime", "csat", "first_response_h",
                                               "complaint_handling_rate", "follow_up_completion"}
    docs = Path(__file__).parent.parent.joinpath("docs", "kpi.md").read_text()
    for d in definitions:
        assert d["definition"] and d["unit"] and d["source"]
        assert re.search(rf"^## {re.escape(d['name'])}$", docs, re.M), d["name"]


def test_engineers_may_not_read_kpis_and_viewers_may(client_for, fleet):
    assert client_for("engineer").get("/kpis").status_code == 403
    viewer = client_for("viewer")
    assert [viewer.get(p).status_code for p in ("/kpis", "/kpis/series", "/kpis/definitions")] == [200, 200, 200]
