"""The monthly service report (R-KPI, R-COST, issue 14): produced on the 5th exactly once with
two workers, mailed as links, and its PDF, XLSX and the API carrying the same figures, which
equal a hand computation on a seeded October — its service figures, and its costs against
budget and job costs as the costs room defines them."""
from __future__ import annotations

import io
import subprocess
import threading
from datetime import date, datetime, timezone

import openpyxl
import psycopg
import pytest

from maintenance import policy as policies
from maintenance.costs import BudgetCategory as C
from maintenance.costs import approve
from maintenance.reports import generate_due, month, produce
from maintenance.reports.schedule import due
from tests.costjob import drive_job, seed_october, spend
from tests.report_history import engineers, issue, order, parts

OCTOBER = month(datetime(2026, 10, 1).date())
FIFTH = datetime(2026, 11, 5, 6, 0, tzinfo=timezone.utc)


@pytest.fixture
def october(db, fleet):
    """October 2026: six corrective orders opened (one cancelled, one a repeat), one closed
    from September, one preventive; parts issued; one follow-up and one complaint."""
    engineers(db)
    parts(db, ("P-FAN", "Fan 120 mm", 40), ("P-LOCK", "Connector lock", 25))
    # 1: cooling, answered in 2 h, resolved in 12 h, in time (due 10-03), repaired first time.
    o1 = order(db, "TP-0001", "cooling", "2026-10-02 08:00Z", responded="2026-10-02 10:00Z",
               resolved="2026-10-02 20:00Z", resolve_due="2026-10-03 08:00Z", closed="2026-10-03Z",
               resolution="repaired", engineer="E1")
    # 2: connector, 4 h, resolved after 24 h, late (due 10-05 12:00), reopened once.
    o2 = order(db, "TP-0002", "connector", "2026-10-05Z", responded="2026-10-05 04:00Z", resolved="2026-10-06Z",
               resolve_due="2026-10-05 12:00Z", closed="2026-10-06 12:00Z", resolution="repaired", reopened=1,
               engineer="E1")
    # 3: connector, 6 h, resolved remotely after 10 h, in time, verified (not closed).
    order(db, "TP-0003", "connector", "2026-10-10Z", state="verified", responded="2026-10-10 06:00Z",
          resolved="2026-10-10 10:00Z", resolve_due="2026-10-11Z", resolution="remote", engineer="E2")
    # 4: cooling, unanswered, open: down 10-20 → 11-01, 288 h.
    order(db, "TP-0004", "cooling", "2026-10-20Z", state="new")
    # 5: connector again on TP-0002, a repeat of 2, answered in 1 h, open: down 10-25 → 11-01, 168 h.
    o5 = order(db, "TP-0002", "connector", "2026-10-25Z", state="assigned", responded="2026-10-25 01:00Z",
               repeat_of=o2)
    # 6: cancelled the day it was opened: no fault.
    order(db, "TP-0005", "metering", "2026-10-12Z", state="cancelled", closed="2026-10-12 01:00Z")
    # 7: opened and resolved in September, closed in October: a repair of October.
    o7 = order(db, "TP-0007", "electrical", "2026-09-28Z", responded="2026-09-28 01:00Z", resolved="2026-09-30Z",
               resolve_due="2026-10-01Z", closed="2026-10-02Z", resolution="repaired", engineer="E1")
    order(db, "TP-0006", None, "2026-10-01Z", kind="preventive", closed="2026-10-15Z")
    issue(db, "P-FAN", 2, o1, "2026-10-02 12:00Z")      # 2 × 40 = 80
    issue(db, "P-LOCK", 1, o2, "2026-10-05 10:00Z")     # 25
    issue(db, "P-LOCK", 1, o5, "2026-10-26Z")           # 25
    issue(db, "P-FAN", 1, o7, "2026-09-29Z")            # September: not October's
    request = db.execute("INSERT INTO requests (customer_id, channel, tier, subject, created_at, created_by, response_due_at,"
                         " resolve_due_at) VALUES ('CUST-1', 'phone', 'gold', 'late', '2026-10-07Z', 'agent', '2026-10-08Z', "
                         "'2026-10-12Z') RETURNING id").fetchone()[0]
    db.execute("INSERT INTO complaints (request_id, customer_id, engineer_id, created_at) "
               "VALUES (%s, 'CUST-1', 'E1', '2026-10-07 12:00Z')", (request,))
    db.execute("INSERT INTO follow_ups (work_order_id, customer_id, due_at, done_at, satisfaction, solved, recorded_by) "
               "VALUES (%s, 'CUST-1', '2026-10-06Z', '2026-10-06Z', 4, true, 'agent')", (o1,))


def _policy(recipients: list[str]) -> policies.Policy:
    base = policies.load(None)
    return base.model_copy(update={"reports": base.reports.model_copy(update={"recipients": recipients})})


def test_the_monthly_report_is_due_from_the_fifth_and_a_quarter_s_analysis_after_a_quarter():
    assert due(datetime(2026, 11, 4, 23, 59, tzinfo=timezone.utc)) == []
    assert [p.name for p in due(FIFTH)] == ["2026-10"]
    assert [p.name for p in due(datetime(2026, 10, 5, tzinfo=timezone.utc))] == ["2026-09", "2026Q3"]
    assert [p.name for p in due(datetime(2027, 1, 20, tzinfo=timezone.utc))] == ["2026-12", "2026Q4"]


def test_the_report_is_produced_on_the_fifth_exactly_once_with_two_workers(db, database_url, october):
    policy = _policy(["manager@example.com", "finance@example.com"])
    assert generate_due(db, datetime(2026, 11, 4, 23, 0, tzinfo=timezone.utc), policy=policy) == []
    produced, start = [], threading.Barrier(2)

    def worker():
        with psycopg.connect(database_url, autocommit=True) as conn:
            start.wait()
            produced.extend(generate_due(conn, FIFTH, policy=policy))
            produced.extend(generate_due(conn, FIFTH.replace(hour=7), policy=policy))   # the next hourly run

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(produced) == 1
    rows = db.execute("SELECT id, kind, period, version, trigger, recipients FROM reports").fetchall()
    assert rows == [(produced[0], "monthly", "2026-10", 1, "schedule", ["manager@example.com", "finance@example.com"])]
    # One mail per recipient, a link to each file, queued in the report's transaction.
    mails = db.execute("SELECT m.mail_to, m.subject, m.body, o.event FROM outbox_mail m JOIN outbox o ON o.id = "
                       "m.outbox_id ORDER BY m.mail_to").fetchall()
    assert [(to, subject, event) for to, subject, _, event in mails] == [
        ("finance@example.com", "[pilecare] Monthly service report 2026-10", "report.mail"),
        ("manager@example.com", "[pilecare] Monthly service report 2026-10", "report.mail")]
    assert f"/reports/{produced[0]}.pdf" in mails[0][2] and f"/reports/{produced[0]}.xlsx" in mails[0][2]


def test_the_monthly_figures_equal_a_hand_computation(db, october):
    report_id = produce(db, OCTOBER, actor="manager", now=FIFTH)
    totals = db.execute("SELECT totals FROM reports WHERE id = %s", (report_id,)).fetchone()[0]
    k = totals["kpis"]
    assert k["orders_opened"] == 6                                   # 1–6, the cancelled one too (kpi room's count)
    assert (k["response_median_h"], k["response_mean_h"]) == (3.0, 3.25)   # of 1, 2, 4, 6 h
    assert k["orders_unanswered"] == 1                               # 4 (6 is cancelled)
    assert (k["orders_resolved"], k["resolved_in_time"], k["repair_timeliness_rate"]) == (3, 2, 0.6667)  # 1, 3 of 1–3
    assert (k["orders_repaired"], k["fixed_first_time"], k["first_time_fix_rate"]) == (3, 2, 0.6667)    # 1, 7 of 1, 2, 7
    assert (k["repeat_orders"], k["repeat_repair_rate"]) == (1, 0.1667)                                 # 5 of 6
    assert (k["follow_ups_scored"], k["csat_mean"], k["csat_share"]) == (1, 4.0, 1.0)
    assert (k["complaints"], k["complaints_closed"], k["complaint_handling_rate"]) == (1, 0, 0.0)
    by_kind = {r["kind"]: (r["opened"], r["closed"], r["cancelled"], r["open_at_end"])
               for r in totals["orders_by_category"]}
    assert by_kind == {"corrective": (6, 3, 1, 3),                   # closed 1, 2, 7; open at the end 3, 4, 5
                       "preventive": (1, 1, 0, 0), "inspection": (0, 0, 0, 0), "installation": (0, 0, 0, 0)}
    assert [(p["part_id"], p["quantity"], p["value"]) for p in totals["parts"]] == [("P-FAN", 2, 80.0),
                                                                                      ("P-LOCK", 2, 50.0)]
    assert (totals["parts_quantity"], totals["parts_value"]) == (4, 130.0)
    # connector: 2, 3, 5 = 24 + 10 + 168 h; cooling: 1, 4 = 12 + 288 h. More orders rank first.
    # Cost: the orders' job costs; no timeline or expenses here, so their parts: 25 + 25, 80.
    assert [(f["rank"], f["category"], f["orders"], f["downtime_h"], f["cost"]) for f in totals["top_faults"]] == [
        (1, "connector", 3, 202.0, 50.0), (2, "cooling", 2, 300.0, 80.0)]
    # No budget set: every category's budget 0, and nothing spent beyond one but parts.
    assert [(r["category"], r["budget"], r["actual"], r["note"]) for r in totals["costs"]["rows"]] == [
        ("staff", 0.0, 0.0, "no budget set"), ("training", 0.0, 0.0, "no budget set"),
        ("parts_purchasing", 0.0, 0.0, "no budget set"), ("travel", 0.0, 0.0, "no budget set"),
        ("office", 0.0, 0.0, "no budget set"), ("equipment_upkeep", 0.0, 0.0, "no budget set")]
    # Jobs completed in October: 1, 2, 3 resolved, 6 cancelled (7 was resolved in September),
    # parts 80 + 25; the preventive order closed on the 15th.
    jobs = {r["kind"]: (r["jobs"], r["parts"], r["total"]) for r in totals["job_costs"]["rows"]}
    assert jobs == {"corrective": (4, 105.0, 105.0), "preventive": (1, 0.0, 0.0), "inspection": (0, 0.0, 0.0),
                    "installation": (0, 0.0, 0.0)}


def _pdf_text(content: bytes, tmp_path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(content)
    rendered = subprocess.run(["pdftoppm", "-png", "-r", "40", str(path), str(tmp_path / "page")],
                              capture_output=True, text=True)
    assert rendered.returncode == 0, rendered.stderr
    assert list(tmp_path.glob("page*.png"))
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def test_the_pdf_the_workbook_and_the_api_carry_the_same_totals(api, db, october, tmp_path):
    [report_id] = generate_due(db, FIFTH, policy=_policy([]))
    listed = api.get("/reports").json()
    assert listed["count"] == 1 and listed["data"][0]["pdf_url"] == f"/reports/{report_id}.pdf"
    totals = api.get(f"/reports/{report_id}").json()["totals"]
    live = api.get("/kpis", params={"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}).json()
    assert totals["kpis"]["first_time_fix_rate"] == live["first_time_fix_rate"] == 0.6667
    assert totals["kpis"]["repeat_repair_rate"] == live["repeat_repair_rate"] == 0.1667

    pdf = api.get(f"/reports/{report_id}.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    lines = [" ".join(line.split()) for line in _pdf_text(pdf.content, tmp_path).splitlines()]
    for expected in ("Corrective orders opened 6 1 unanswered",
                     "Repair timeliness 66.7 % 2 of 3 resolved in time",       # 0.6667
                     "First-time fix 66.7 % 2 of 3 repairs",
                     "Repeat repairs 16.7 % 1 of 6 orders opened",             # 0.1667
                     "Satisfaction (mean 1-5) 4.00 1 scored",
                     "corrective 6 3 1 3",
                     "P-FAN Fan 120 mm pcs 2 80.00",
                     "Total 4 130.00",
                     "1 connector 3 202.00 h 50.00",
                     "2 cooling 2 300.00 h 80.00"):
        assert expected in lines, expected

    book = openpyxl.load_workbook(io.BytesIO(api.get(f"/reports/{report_id}.xlsx").content))
    assert book.sheetnames == ["KPIs", "Orders", "Parts", "Top faults", "Costs", "Job costs"]
    kpis = {row[0]: row[1] for row in book["KPIs"].iter_rows(min_row=2, values_only=True)}
    assert kpis["Corrective orders opened"] == totals["kpis"]["orders_opened"]
    assert kpis["Repair timeliness"] == totals["kpis"]["repair_timeliness_rate"]
    assert kpis["First-time fix"] == totals["kpis"]["first_time_fix_rate"]
    assert kpis["Response time (median)"] == totals["kpis"]["response_median_h"]
    parts_rows = list(book["Parts"].iter_rows(min_row=2, values_only=True))
    assert parts_rows[-1][3:] == (totals["parts_quantity"], totals["parts_value"]) == (4, 130.0)
    faults = list(book["Top faults"].iter_rows(min_row=2, values_only=True))
    assert [(r[1], r[2], r[3]) for r in faults] == [(f["category"], f["orders"], f["downtime_h"])
                                                     for f in totals["top_faults"]]


@pytest.fixture
def costed_october(db):
    """October 2026 of tests/costjob.py (budgets, E1's job at 60.00 /h, goods received, expenses),
    and: a second job of E1's out of warranty with an approved quote; office 100.00 approved
    beyond its budget and 150.00 more spent; equipment upkeep, without a budget, 40.00
    approved and 30.00 spent."""
    _, piles = seed_october(db)
    drive_job(db, piles[1], cause="wear", departed=(52.42, 13.40), quote=True,
              times={"en_route": "13:00", "on_site": "13:30", "resolved": "14:00"})
    approve(db, date(2026, 10, 1), C.OFFICE, 100, reason="the printer died", actor="mia")
    spend(db, C.OFFICE, "150.00", date(2026, 10, 20), "printer")
    approve(db, date(2026, 10, 1), C.EQUIPMENT_UPKEEP, 40, reason="calibration due", actor="mia")
    spend(db, C.EQUIPMENT_UPKEEP, "30.00", date(2026, 10, 9), "torque wrench calibration")


# Hand computation of costed_october, per budget category:
# (budget, approved, allowed, actual, variance = budget − actual, share used = actual ÷ budget, note)
BUDGET_ROWS = {
    # labour: the first job 40 + 90 min, the second 30 + 30 min = 190 min … at 60.00 /h:
    # 130.00 + 60.00 = 190.00; 500.00 − 190.00 = 310.00; 190 / 500 = 0.38
    "staff": (500.0, 0.0, 500.0, 190.0, 310.0, 0.38, ""),
    "training": (200.0, 0.0, 200.0, 150.0, 50.0, 0.75, ""),                      # the HV course
    # received on 5 October: 10 × 12.00 + 3 × 55.50 = 286.50; 286.5 / 1000 = 0.2865
    "parts_purchasing": (1000.0, 0.0, 1000.0, 286.5, 713.5, 0.2865, ""),
    # two trips of 14.5 km × 0.90 = 13.05 each, + the parking 7.50 = 33.60; 33.6 / 100 = 0.336
    "travel": (100.0, 0.0, 100.0, 33.6, 66.4, 0.336, ""),
    # 80.00 + 45.25 + 150.00 = 275.25 against 250.00 (+ 100.00 approved); 275.25 / 250 = 1.101
    "office": (250.0, 100.0, 350.0, 275.25, -25.25, 1.101, "over budget, within approvals"),
    "equipment_upkeep": (0.0, 40.0, 40.0, 30.0, -30.0, None, "no budget set; within approvals"),
}
# 500 + 200 + 1000 + 100 + 250 = 2050.00; 100 + 40 = 140.00; 190.00 + 150.00 + 286.50 + 33.60
# + 275.25 + 30.00 = 965.35; 2050.00 − 965.35 = 1084.65; 965.35 / 2050 = 0.4709
BUDGET_TOTAL = (2050.0, 140.0, 2190.0, 965.35, 1084.65, 0.4709, "")
# The month's corrective jobs: (jobs, parts, labour, travel, other, total, company, billable).
# First (in warranty): fan 42.50, labour 130.00, travel 13.05, parking 7.50 = 193.05, the
# company's. Second (wear, out of warranty): fan 42.50, labour 60.00, travel 13.05 = 115.55;
# billable its approved quote, fan 42.50 + 2 h × 85.00 + 15 km × 0.90 = 226.00, so nothing of
# it is the company's. Together: 85.00, 190.00, 26.10, 7.50, 308.60; company 193.05.
JOBS = (2, 85.0, 190.0, 26.1, 7.5, 308.6, 193.05, 226.0)


def test_costs_against_budget_and_the_month_s_job_costs_equal_a_hand_computation_in_the_api_pdf_and_workbook(
        api, db, costed_october, tmp_path):
    [report_id] = generate_due(db, FIFTH, policy=_policy([]))
    totals = api.get(f"/reports/{report_id}").json()["totals"]

    budget = totals["costs"]
    fields = ("budget", "approved", "allowed", "actual", "variance", "share_used", "note")
    assert {r["category"]: tuple(r[f] for f in fields) for r in budget["rows"]} == BUDGET_ROWS
    assert [r["category"] for r in budget["rows"]] == list(BUDGET_ROWS)           # the regulations' order
    assert tuple(budget["total"][f] for f in fields) == BUDGET_TOTAL
    live = {line["category"]: line for line in api.get("/budgets/2026-10/actuals").json()["data"]}
    assert all(float(live[c]["actual"]) == row[3] for c, row in BUDGET_ROWS.items())   # the costs room's figures
    money = ("jobs", "parts", "labour", "travel", "other", "total", "company", "billable")
    jobs = {r["kind"]: tuple(r[f] for f in money) for r in totals["job_costs"]["rows"]}
    assert jobs == {"corrective": JOBS, "preventive": (0,) + (0.0,) * 7, "inspection": (0,) + (0.0,) * 7,
                    "installation": (0,) + (0.0,) * 7}
    assert tuple(totals["job_costs"]["total"][f] for f in money) == JOBS

    lines = [" ".join(line.split()) for line in _pdf_text(api.get(f"/reports/{report_id}.pdf").content, tmp_path)
             .splitlines()]
    for expected in ("staff 500.00 0.00 500.00 190.00 310.00 38.0 %",
                     "parts_purchasing 1,000.00 0.00 1,000.00 286.50 713.50 28.6 %",
                     "office 250.00 100.00 350.00 275.25 -25.25 110.1 % over budget, within approvals",
                     "equipment_upkeep 0.00 40.00 40.00 30.00 -30.00 – no budget set; within approvals",
                     "total 2,050.00 140.00 2,190.00 965.35 1,084.65 47.1 %",
                     "corrective 2 85.00 190.00 26.10 7.50 308.60 193.05 226.00",
                     "total 2 85.00 190.00 26.10 7.50 308.60 193.05 226.00"):
        assert expected in lines, expected

    book = openpyxl.load_workbook(io.BytesIO(api.get(f"/reports/{report_id}.xlsx").content))
    costs = [row for row in book["Costs"].iter_rows(min_row=2, values_only=True) if row[1] is not None]
    assert {r[0]: tuple(r[1:8]) for r in costs[:-1]} == {
        c: tuple(v if v != "" else None for v in row) for c, row in BUDGET_ROWS.items()}
    assert costs[-1] == ("total",) + tuple(v if v != "" else None for v in BUDGET_TOTAL)
    job_rows = {r[0]: r[1:] for r in book["Job costs"].iter_rows(min_row=2, values_only=True) if r[1] is not None}
    assert job_rows["corrective"] == job_rows["total"] == JOBS


def test_a_manager_regenerates_a_report_as_a_new_version_and_the_old_one_is_kept(api, client_for, db, october):
    [first] = generate_due(db, FIFTH, policy=_policy([]))
    manager = client_for("manager")
    response = manager.post("/reports", json={"kind": "monthly", "period": "2026-10"})
    assert response.status_code == 201, response.text
    assert (response.json()["version"], response.json()["trigger"]) == (2, "manager")
    assert [r["version"] for r in manager.get("/reports?period=2026-10").json()["data"]] == [2, 1]
    assert manager.get(f"/reports/{first}.pdf").status_code == 200


def test_a_report_of_a_month_not_over_or_misspelt_is_refused_naming_the_period(client_for, october):
    manager = client_for("manager")
    for period in ("2999-12", "2026-13", "October"):
        response = manager.post("/reports", json={"kind": "monthly", "period": period})
        assert response.status_code == 422 and response.json()["detail"].startswith("period:"), response.text
    assert manager.get("/reports/987654.pdf").status_code == 404
