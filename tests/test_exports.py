"""Issue 14, item 8: every list in the console as CSV and XLSX (api/exports.py, docs/exports.md).

Any GET list answers `format=csv` or `format=xlsx` with a file holding every row the JSON
would, for the same filters and the same caller, read back here with `csv` and openpyxl.
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone

import openpyxl
import pytest
from pydantic import BaseModel

from api import exports
from api.export_files import columns_of, csv_cell

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def orders(db, pile: str, titles: list[str], state: str = "new") -> None:
    with db.cursor() as cur:
        cur.executemany("INSERT INTO work_orders (kind, pile_id, title, created_by, state) "
                        "VALUES ('corrective', %s, %s, 'rules', %s)", [(pile, t, state) for t in titles])


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def read_xlsx(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    return openpyxl.load_workbook(io.BytesIO(response.content)).active


def as_utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc).replace(tzinfo=None)


@pytest.fixture
def pages(monkeypatch):
    """Pages of 25 rows after the route's own first page, and the query of every call made."""
    monkeypatch.setattr(exports, "PAGE_ROWS", 25)
    calls = []
    call = exports.Exports._call

    async def spy(self, scope, receive, query, mark):
        calls.append(b"&".join(query).decode())
        return await call(self, scope, receive, query, mark)

    monkeypatch.setattr(exports.Exports, "_call", spy)
    return calls


def test_a_list_exported_as_csv_and_xlsx_holds_the_json_rows_of_every_page(db, fleet, api, pages):
    # 130 open orders on the first pile, 5 closed ones the filter leaves out.
    orders(db, fleet[0], [f"Fan stopped {i}" for i in range(130)])
    orders(db, fleet[0], [f"Done {i}" for i in range(5)], state="closed")
    expected = api.get("/work-orders", params={"open": "true", "limit": 1000}).json()
    assert expected["count"] == 130

    rows = read_csv(api.get("/work-orders", params={"open": "true", "format": "csv", "limit": 3, "offset": 7}))
    # The caller's limit and offset are dropped; the route's own first page (100 rows), then
    # pages of 25 from offset 100: 100 + 25 + 5 = 130 rows in three calls.
    assert pages == ["open=true", "open=true&limit=25&offset=100", "open=true&limit=25&offset=125"]
    header, body = rows[0], rows[1:]
    assert header[:5] == ["id", "kind", "pile_id", "site_id", "customer_id"]  # WorkOrderPublic's order
    assert len(body) == 130
    assert body == [[csv_cell(row.get(name)) for name in header] for row in expected["data"]]
    assert [int(r[0]) for r in body] == [row["id"] for row in expected["data"]]

    sheet = read_xlsx(api.get("/work-orders", params={"open": "true", "format": "xlsx"}))
    table = list(sheet.iter_rows(values_only=True))
    assert list(table[0]) == header and len(table) == 131
    for got, row in zip(table[1:], expected["data"]):
        record = dict(zip(header, got))
        assert record["id"] == row["id"] and isinstance(record["id"], int)  # numbers stay numbers
        assert record["priority"] == row["priority"] and record["safety"] is row["safety"]
        assert record["title"] == row["title"] and record["state"] == row["state"]
        # A date-time in UTC, to the millisecond a spreadsheet keeps.
        assert abs(record["created_at"] - as_utc(row["created_at"])) < timedelta(milliseconds=1)
        assert record["closed_at"] is None and record["arrival_flags"] is None  # null and [] are empty cells


def today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def test_the_file_is_named_after_the_list_and_the_day(db, fleet, api):
    orders(db, fleet[0], ["Fan stopped"])
    # The day of the request, read on both sides of it: a test run may cross midnight.
    days = {today()}
    xlsx = api.get("/work-orders", params={"format": "xlsx"})
    csv = api.get(f"/piles/{fleet[0]}/history", params={"format": "csv"})
    days.add(today())
    assert xlsx.headers["content-disposition"] in {f'attachment; filename="work-orders-{day}.xlsx"' for day in days}
    assert csv.headers["content-disposition"] in {f'attachment; filename="piles-{fleet[0]}-history-{day}.csv"'
                                                  for day in days}


def test_decimal_amounts_and_dates_are_typed_in_the_xlsx(db, fleet, api):
    from maintenance.costs.budgets import set_budget

    set_budget(db, date(2026, 10, 1), "travel", 5000, actor="test")
    for amount, note in (("7.50", "parking"), ("1234.05", "=HYPERLINK(\"http://evil\")")):
        response = api.post("/expenses", json={"category": "travel", "amount": amount, "spent_on": "2026-10-14",
                                               "note": note})
        assert response.status_code == 201, response.text
    assert api.get("/expenses").json()["data"][0]["amount"] in ("7.50", "1234.05")  # the JSON sends text
    table = list(read_xlsx(api.get("/expenses", params={"format": "xlsx"})).iter_rows(values_only=True))
    header = list(table[0])
    got = sorted((dict(zip(header, row)) for row in table[1:]), key=lambda r: r["amount"])
    assert [r["amount"] for r in got] == [7.5, 1234.05] and all(type(r["amount"]) is float for r in got)
    assert [r["spent_on"] for r in got] == [datetime(2026, 10, 14)] * 2  # a date cell (openpyxl reads it at midnight)
    assert got[1]["note"] == '=HYPERLINK("http://evil")'


def test_formula_like_text_is_neutralised_in_both_files(db, fleet, api):
    titles = ["=1+2", "+SUM(A1:A9)", "-2+3", "@cmd", "\tx", "plain - text", "Lüfter défaut ✓"]
    orders(db, fleet[0], titles)
    body = read_csv(api.get("/work-orders", params={"format": "csv"}))
    header = body[0]
    shown = {row[header.index("title")] for row in body[1:]}
    # OWASP: a leading quote before = + - @ tab; other text, and numbers, as they are.
    assert shown == {"'=1+2", "'+SUM(A1:A9)", "'-2+3", "'@cmd", "'\tx", "plain - text", "Lüfter défaut ✓"}
    sheet = read_xlsx(api.get("/work-orders", params={"format": "xlsx"}))
    column = [c for c in sheet[1] if c.value == "title"][0].column
    cells = [sheet.cell(row=r, column=column) for r in range(2, sheet.max_row + 1)]
    assert {c.value for c in cells} == set(titles)  # the text itself, never a formula
    assert all(c.data_type == "s" for c in cells)
    assert {c.value for c in cells if c.quotePrefix} == set(titles[:5])


def test_a_role_that_may_not_read_a_list_may_not_export_it(db, fleet, api, client_for):
    viewer = client_for("viewer")
    for fmt in ("csv", "xlsx"):
        response = viewer.get("/expenses", params={"format": fmt})  # budgets and spending: managers and supervisors
        assert response.status_code == 403 and response.json()["error"] == "forbidden"
    customer = client_for("customer", customer_id="CUST-1")
    assert customer.get("/alarms", params={"format": "csv"}).status_code == 403  # staff only
    assert client_for("engineer").get("/users", params={"format": "xlsx"}).status_code == 403  # admin only


def test_a_customers_export_of_work_orders_holds_only_their_own(db, fleet, api, client_for):
    db.execute("INSERT INTO customers (id, name, tier) VALUES ('CUST-2', 'Other Fleet', 'standard')")
    db.execute("INSERT INTO sites (id, customer_id, name, region, lat, lon) "
               "VALUES ('SITE-9', 'CUST-2', 'Elsewhere', 'north', 52.5, 13.4)")
    db.execute("INSERT INTO piles (id, serial, model_id, site_id) VALUES ('TP-9001', 'SN-9001', 'T-AC22', 'SITE-9')")
    orders(db, fleet[0], ["Ours 1", "Ours 2"])
    orders(db, fleet[1], ["Ours 3"])
    orders(db, "TP-9001", ["Theirs 1", "Theirs 2", "Theirs 3", "Theirs 4"])
    customer = client_for("customer", customer_id="CUST-1")
    body = read_csv(customer.get("/work-orders", params={"format": "csv"}))
    header = body[0]
    # 3 orders on CUST-1's piles; none of the 4 on CUST-2's.
    assert sorted(row[header.index("title")] for row in body[1:]) == ["Ours 1", "Ours 2", "Ours 3"]
    assert {row[header.index("customer_id")] for row in body[1:]} == {"CUST-1"}
    # The same filter asked by a customer who is not theirs: still only CUST-1's.
    body = read_csv(customer.get("/work-orders", params={"format": "csv", "customer_id": "CUST-2"}))
    assert body[1:] == []
    assert len(read_csv(api.get("/work-orders", params={"format": "csv"}))) == 1 + 7  # staff: all 7


def test_format_on_an_endpoint_that_is_not_a_list_is_a_clear_4xx(db, fleet, api):
    orders(db, fleet[0], ["Fan stopped"])
    order = db.execute("SELECT id FROM work_orders").fetchone()[0]
    for path in (f"/work-orders/{order}", "/fleet/overview", "/events", "/health", "/search?q=x", "/console/app.js"):
        response = api.get(path, params={"format": "csv"})
        assert response.status_code == 422, (path, response.status_code)
        assert response.json()["detail"].startswith("format: "), path
    # A list asked for a format it does not have, or two; a POST with a format.
    assert "csv or xlsx" in api.get("/work-orders", params={"format": "pdf"}).json()["detail"]
    assert api.get("/work-orders?format=csv&format=xlsx").status_code == 422
    response = api.post("/work-orders?format=csv", json={})
    assert response.status_code == 422 and response.json()["detail"].startswith("format: ")
    # Errors of the list itself come back as the JSON says them.
    response = api.get("/work-orders", params={"format": "csv", "priority": "eleven"})
    assert response.status_code == 422 and "priority" in response.json()["detail"]
    assert api.get("/piles/NOPE/history", params={"format": "csv"}).status_code == 404


def test_an_export_above_the_cap_is_refused_saying_how_many_match(db, fleet, api, monkeypatch):
    monkeypatch.setattr(exports, "MAX_ROWS", 10)
    orders(db, fleet[0], [f"Fan {i}" for i in range(11)])
    response = api.get("/work-orders", params={"format": "xlsx"})
    assert response.status_code == 422
    assert response.json()["detail"] == ("format: 11 rows match; an export holds at most 10. Narrow the filters "
                                         "(docs/exports.md)")
    assert api.get("/work-orders", params={"format": "xlsx", "priority": 1}).status_code == 200  # none match


def test_plain_array_lists_and_empty_lists_export_too(db, fleet, api):
    body = read_csv(api.get("/sites", params={"format": "csv"}))  # a bare JSON array
    assert sorted(row[0] for row in body[1:]) == ["SITE-1", "SITE-2"]
    assert body[0][0] == "id"
    empty = read_csv(api.get("/alarms", params={"format": "csv"}))
    assert empty[0][:3] == ["id", "pile_id", "site_id"] and empty[1:] == []  # a header even without rows


def test_nested_objects_are_flattened_and_lists_joined():
    class Clock(BaseModel):
        due_at: datetime | None
        status: str

    class Row(BaseModel):
        id: int
        clock: Clock | None
        skills: list[str]
        start: datetime

    assert [c.name for c in columns_of(Row)] == ["id", "clock.due_at", "clock.status", "skills", "start"]
    assert csv_cell(["hv", "=dc"]) == "hv; =dc"
    assert csv_cell("-5") == "'-5" and csv_cell(-5) == "-5" and csv_cell(True) == "true"
    assert csv_cell([{"a": 1}]) == '{"a": 1}'


def test_the_openapi_document_declares_format_on_lists_only(api):
    paths = api.get("/openapi.json").json()["paths"]
    listed = paths["/work-orders"]["get"]
    assert any(p["name"] == "format" and p["schema"]["enum"] == ["csv", "xlsx"] for p in listed["parameters"])
    assert set(listed["responses"]["200"]["content"]) == {"application/json", "text/csv", XLSX}
    assert not any(p["name"] == "format" for p in paths["/work-orders/{order_id}"]["get"].get("parameters", []))


def test_every_list_without_a_path_parameter_exports_for_an_admin(db, fleet, api):
    # Whatever its row model (nested clocks, decimal amounts, free-form rows), every list gives a
    # file (but the engineer's own jobs, which an admin has none of: 403 as for the JSON).
    paths = api.get("/openapi.json").json()["paths"]
    lists = [p for p, ops in paths.items() if "{" not in p and p != "/field/work-orders" and any(
        q["name"] == "format" for q in ops.get("get", {}).get("parameters", []))]
    assert len(lists) > 40
    for path in lists:
        for fmt in ("csv", "xlsx"):
            response = api.get(path, params={"format": fmt})
            assert response.status_code == 200, (path, fmt, response.text)
            assert response.headers["content-disposition"].startswith("attachment; "), path
