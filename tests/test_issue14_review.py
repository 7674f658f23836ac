"""A review of issue 14 as its users would try it (spare parts, costs, reports): hostile and
odd input through the real API, each a defect found and fixed (docs: parts.md, costs.md)."""
from __future__ import annotations

import pytest

from tests.purchasing import RCD, stores  # noqa: F401


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_an_expense_dated_outside_the_budget_calendar_is_refused_naming_spent_on(stores, day):
    # The budgets API reads months 1900-01 … 2099-12; a spend outside them could never be
    # read against a budget (and 9999-12's month end, year 10000, used to answer 500).
    refused = stores.post("/expenses", json={"category": "office", "amount": "5.00", "spent_on": day, "note": "x"})
    assert refused.status_code == 422 and refused.json()["detail"].startswith("spent_on"), refused.text
    assert stores.get("/expenses").json()["count"] == 0

