"""Acceptance for issue 14, item 9 (R-COST, R-KPI): the service manager's console in a real
browser (Debian's headless Chromium via Selenium) against the real API server and PostgreSQL.
A manager sees a seeded month's budget against actual with the API's variances, sets a budget
and approves spending beyond one, which a supervisor's expense then needs; reads a job's cost
on its order page and in the month's roll-up; downloads a stored report's PDF and XLSX through
its plain links, produces it again, reads the quarter's fault ranking and the scorecards. A
dispatcher has no costs in the navigation but records an expense against an order.

One Chromium serves the whole module (it is the slow part to start); each test has its own
server, data and logins."""
from __future__ import annotations

import base64
import io
from datetime import datetime, timezone

import openpyxl
import pytest
from selenium.webdriver.support.ui import Select

from api import accounts
from maintenance import policy as policies
from maintenance.reports import generate_due
from simulators import browser as b
from tests.conftest import PASSWORD
from tests.console_fixtures import server  # noqa: F401 (fixture: the API server)
from tests.report_history import order
from tests.test_budgets import month  # noqa: F401 (fixture: October 2026's budgets, one job, receipts, expenses)
from tests.test_fault_analysis import quarters  # noqa: F401 (fixture: Q2 and Q3 2026's faults per model)

MONEY_NAV = {"costs", "budget", "reports"}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    problem = b.chromium_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    with b.Browser("", tmp_path_factory.mktemp("screenshots")) as one:
        one.d.set_script_timeout(30)
        yield one


@pytest.fixture
def page(browser, server):  # noqa: F811
    """The module's browser on this test's server, with an empty console log; it leaves the
    page afterwards, so that no event stream holds the server's shutdown."""
    browser.url = server.url
    browser.drain()
    browser.log.clear()
    yield browser
    browser.d.get("about:blank")


@pytest.fixture
def staff(db):
    """Mia the manager, Sam the supervisor, Dave the dispatcher."""
    for user_id, role in (("mia", accounts.Role.MANAGER), ("sam", accounts.Role.SUPERVISOR),
                          ("dave", accounts.Role.DISPATCHER)):
        accounts.create(db, user_id, role=role, full_name=user_id.title(), password=PASSWORD, actor="test")


def login(page, user: str) -> None:
    page.open("/login")
    page.d.delete_all_cookies()
    page.login(user, PASSWORD)


def nav(page) -> set[str]:
    return set(page.js("return [...document.querySelectorAll('#nav a')].map(a => a.dataset.nav)"))


def rows(page, box: str, *keys: str) -> list[tuple]:
    """The data attributes `keys` of each row of the table in [data-testid=box]."""
    return [tuple(r) for r in page.js(
        "return [...document.querySelectorAll(`[data-testid=${arguments[0]}] tbody tr`)]"
        ".map(r => arguments[1].map(k => r.dataset[k]))", box, list(keys))]


def fill(page, form: str, **values) -> None:
    """Fill the form [data-testid=form] (selects by value) and submit it."""
    for name, value in values.items():
        element = page.d.find_element("css selector", f"[data-testid={form}] [name={name}]")
        if element.tag_name == "select":
            Select(element).select_by_value(value)
        elif element.get_attribute("type") == "date":   # typed, a date depends on the locale
            page.js("arguments[0].value = arguments[1]", element, value)
        else:
            element.clear()
            element.send_keys(value)
    page.click(f"[data-testid={form}] button[type=submit]")


def said(page, form: str, text: str) -> str:
    page.wait(lambda d: text in (page.text(f"[data-testid={form}] .form-message") or ""),
              message=f"{form} to say {text!r}")
    return page.text(f"[data-testid={form}] .form-message")


def download(page, selector: str) -> tuple[int, str, bytes]:
    """Follow the link `selector` as the browser would (its cookie, no token): status, type, bytes."""
    status, kind, data = page.d.execute_async_script(
        "const [selector, done] = arguments; const href = document.querySelector(selector).getAttribute('href');"
        "fetch(href).then(r => r.blob().then(blob => { const f = new FileReader();"
        " f.onload = () => done([r.status, r.headers.get('content-type'), f.result]); f.readAsDataURL(blob); }))"
        ".catch(e => done([0, String(e), '']));", selector)
    return status, kind, base64.b64decode(data.split(",", 1)[1]) if data else b""


def test_a_manager_sees_the_months_budget_against_actual_as_the_api_sets_one_and_approves_a_spend_beyond_it(
        db, month, staff, api, page):  # noqa: F811
    # The supervisor's office expense would go beyond October's budget: refused, with the reason.
    login(page, "sam")
    page.route("#/budget?month=2026-10", "[data-testid=budget-lines] tr[data-category=office]")
    fill(page, "expense-form", category="office", amount="124.76", note="new printer")
    # office: 80.00 + 45.25 spent, + 124.76 = 250.01 > 250.00 budgeted
    said(page, "expense-form", "office in 2026-10 would make 250.01 against a budget of 250.00")

    login(page, "mia")
    assert MONEY_NAV <= nav(page)
    page.route("#/budget?month=2026-10", "[data-testid=budget-lines] tr[data-category=office]")
    shown = rows(page, "budget-lines", "category", "variance")
    served = [(line["category"], line["variance"]) for line in api.get("/budgets/2026-10/actuals").json()["data"]]
    assert shown == served == [
        ("staff", "370.00"),              # 500.00 − 130 min × 60.00 /h
        ("training", "50.00"),            # 200.00 − 150.00
        ("parts_purchasing", "713.50"),   # 1000.00 − (10 × 12.00 + 3 × 55.50)
        ("travel", "79.45"),              # 100.00 − (14.5 km × 0.90 + 7.50 parking)
        ("office", "124.75"),             # 250.00 − (80.00 + 45.25)
        ("equipment_upkeep", "0.00"),     # none set, nothing spent
    ]
    assert page.text("[data-category=staff] [data-testid=variance]") == "370.00"
    page.wait(lambda d: page.js("return document.querySelector('[data-testid=chart-budget]').dataset.points") == "17",
              message="the budget chart")  # 5 budgets + 6 allowed + 6 actuals
    assert not page.exists("[data-testid=expense-form]")   # a manager approves; dispatch records

    fill(page, "budget-form", category="equipment_upkeep", amount="400")
    page.wait(lambda d: rows(page, "budget-lines", "category", "budget")[-1] == ("equipment_upkeep", "400.00"),
              message="the new budget")
    fill(page, "approval-form", category="office", amount="50", reason="the printer died")
    page.wait(lambda d: rows(page, "approvals", "category", "amount") == [("office", "50.00")], message="the approval")
    assert dict(rows(page, "budget-lines", "category", "allowed"))["office"] == "300.00"   # 250.00 + 50.00
    assert db.execute("SELECT amount, created_by FROM budgets WHERE category = 'equipment_upkeep' "
                      "AND period = '2026-10-01'").fetchone() == (400, "mia")
    assert db.execute("SELECT approved_by, reason FROM budget_approvals").fetchall() == [("mia", "the printer died")]

    # Approved beforehand, the same expense is recorded: over budget, within what was allowed.
    login(page, "sam")
    page.route("#/budget?month=2026-10", "[data-testid=budget-lines] tr[data-category=office]")
    fill(page, "expense-form", category="office", amount="124.76", note="new printer")
    said(page, "expense-form", "Done.")
    page.wait(lambda d: dict(rows(page, "budget-lines", "category", "variance"))["office"] == "-0.01",
              message="the office's new actual")   # 250.00 − 250.01
    office = next(line for line in api.get("/budgets/2026-10/actuals").json()["data"] if line["category"] == "office")
    assert (office["actual"], office["variance"]) == ("250.01", "-0.01")
    assert page.js("return document.querySelector('[data-category=office]').className") == "row-major"
    assert ("office", "124.76") in rows(page, "expenses", "category", "amount")
    # The refused expense's 409 is the only failed request.
    errors = page.errors()
    assert len(errors) == 1 and "409" in errors[0], errors


def test_a_manager_reads_a_job_s_cost_on_its_order_page_and_in_the_month_s_roll_up(db, month, staff, api, page):  # noqa: F811
    login(page, "mia")
    page.route(f"#/work-orders/{month}", "[data-testid=order-cost] tr[data-cost=total]")
    cost = api.get(f"/work-orders/{month}/cost").json()
    shown = dict(rows(page, "order-cost", "cost", "amount"))
    assert shown == {"parts": cost["parts_cost"], "labour": cost["labour_cost"], "travel": cost["travel_cost"],
                     "other": cost["other_cost"], "total": cost["total"]}
    # 130 min × 60.00 /h; 14.5 km × 0.90 /km; the 7.50 parking expense
    assert (shown["labour"], shown["travel"], shown["other"]) == ("130.00", "13.05", "7.50")
    # A manufacturing fault within warranty: the company pays all of it.
    assert page.js("return document.querySelector('[data-testid=cost-payer]').dataset.payer") == "company"
    assert page.js("return document.querySelector('[data-testid=cost-billable]').dataset.amount") == "0.00"

    page.route("#/costs?by=order&period=month&from=2026-10-01&to=2026-11-01", "[data-testid=costs] tbody tr")
    assert rows(page, "costs", "key", "period", "total") == [(str(month), "2026-10-01", cost["total"])]
    page.wait(lambda d: page.js("return document.querySelector('[data-testid=chart-costs]').dataset.points") == "4",
              message="the costs chart")  # labour, travel, parts, other of one month
    assert page.errors() == []


def test_a_manager_downloads_a_report_produces_it_again_and_reads_the_quarter_s_fault_ranking(
        db, quarters, staff, page):  # noqa: F811
    generate_due(db, datetime(2026, 10, 5, 3, 0, tzinfo=timezone.utc), policy=policies.load(None))
    order(db, "TP-0008", None, "2026-09-02T08:00Z", kind="preventive", resolved="2026-09-02T10:00Z",
          closed="2026-09-02T10:00Z", engineer="E1")   # a job for Eva's scorecard; not a fault
    login(page, "mia")
    page.route("#/reports", "[data-testid=reports] tbody tr")
    assert rows(page, "reports", "kind", "period", "version") == [("quarterly", "2026Q3", "1"),
                                                                   ("monthly", "2026-09", "1")]
    monthly = "[data-testid=reports] tr[data-kind=monthly]"
    status, kind, pdf = download(page, f"{monthly} a[data-testid=pdf]")
    assert (status, kind, pdf[:5]) == (200, "application/pdf", b"%PDF-")
    status, kind, xlsx = download(page, f"{monthly} a[data-testid=xlsx]")
    assert status == 200 and kind.startswith("application/vnd.openxmlformats")
    assert openpyxl.load_workbook(io.BytesIO(xlsx)).sheetnames == ["KPIs", "Orders", "Parts", "Top faults", "Costs",
                                                                    "Job costs"]
    status, _, quarterly = download(page, "[data-testid=reports] tr[data-kind=quarterly] a[data-testid=xlsx]")
    assert openpyxl.load_workbook(io.BytesIO(quarterly)).sheetnames == ["T-AC22", "T-DC120"]

    page.click(f"{monthly} [data-testid=regenerate]")
    page.wait(lambda d: ("monthly", "2026-09", "2") in rows(page, "reports", "kind", "period", "version"),
              message="the monthly report's second version")
    assert db.execute("SELECT version, trigger, generated_by FROM reports WHERE kind = 'monthly' AND version = 2"
                      ).fetchall() == [(2, "manager", "mia")]

    page.click("[data-testid=report-tabs] [data-path='/reports/faults']")
    page.route("#/reports/faults?quarter=2026Q3", "[data-model=T-DC120] tbody tr")
    ranking = {m: page.js("return [...document.querySelectorAll(`[data-model=${arguments[0]}] tbody tr`)]"
                          ".map(r => [r.dataset.category, +r.dataset.orders, r.dataset.change])", m)
               for m in ("T-AC22", "T-DC120")}
    assert ranking == {
        # per 100 of 13 piles now, 12 before: connector 3 × 100 / 13 − 1 × 100 / 12 = 23.08 − 8.33
        "T-AC22": [["connector", 3, "14.75"], ["controller", 1, "-8.98"]],   # 7.69 − 16.67
        # of 7 piles: cooling 2 × 100 / 7 − 0; power_module gone since Q2: last, 0 − 1 × 100 / 7
        "T-DC120": [["cooling", 2, "28.57"], ["power_module", 0, "-14.29"]],
    }
    # The job cost and the rank by it: AC22's connector lock 25.00, nothing on its controller order.
    costs = page.js("return [...document.querySelectorAll('[data-model=T-AC22] tbody tr')]"
                    ".map(r => [r.dataset.category, r.dataset.cost, r.dataset.costRank])")
    assert costs == [["connector", "25", "1"], ["controller", "0", "2"]]

    page.route("#/reports/scorecards?by=engineer&from=2026-09-01&to=2026-10-01", "[data-testid=scorecards] tbody tr")
    assert dict(rows(page, "scorecards", "group", "jobs"))["E1"] == "1"
    assert page.errors() == []


def test_a_dispatcher_has_no_costs_in_the_navigation_but_records_an_expense_against_an_order(
        db, month, staff, page):  # noqa: F811
    login(page, "dave")
    assert not MONEY_NAV & nav(page)
    page.js("location.hash = '#/budget?month=2026-10'")
    page.wait(lambda d: page.js("return location.hash") == "#/", message="the budget refused")

    page.route(f"#/work-orders/{month}", "[data-testid=order-cost] [data-testid=expense-form]")
    assert not page.exists("[data-testid=order-cost] table")   # the cost is the managers' to read
    page.click("[data-testid=order-cost] summary")
    fill(page, "expense-form", amount="5.00", spent_on="2026-10-14", note="toll")   # travel: 20.55 of 100.00 spent
    said(page, "expense-form", "Done.")
    assert db.execute("SELECT category, amount, work_order_id, recorded_by FROM expenses WHERE note = 'toll'"
                      ).fetchone() == ("travel", 5, month, "dave")
    assert page.errors() == []
