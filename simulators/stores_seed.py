"""The demo's stores and books (issue 14): suppliers listing every part, engineers' hourly
rates, the year's budgets, the parts keeper's starting reorder levels, and a few months of
cost-bearing history, so the parts keeper, the manager's pages and the first monthly report
have something to show on a fresh start.

Everything goes through the rooms' own functions (maintenance.inventory, maintenance.costs),
as a person at the console would, recorded as `stores-seed`. Deterministic for a seed: each
figure is drawn from a generator seeded with the seed and what it belongs to (a supplier and
part, an engineer, a month), so it does not depend on what an earlier run already wrote. And
idempotent: each piece is written only where it is missing (a supplier, a listing, a rate, a
month's budget of a category, a level), and the history only once (its purchase orders and
expenses carry `stores-seed`).

What the history cannot say (docs/demo-stores.md): the rooms stamp stock movements with the
time they are recorded, so the seeded receipts' movements are dated at seeding while the goods
receipts, purchase orders and inspections carry their past dates (the scorecard and the
budgets read those). No past jobs are seeded: job costs, KPIs and the report's jobs come from
the simulated crew as it works.
"""
from __future__ import annotations

import calendar
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import psycopg

from maintenance import costs
from maintenance.inventory import Listing, OrderLine, catalogue, purchasing, receipts, reorder
from maintenance.policy import Reorder

SEEDED_BY = "stores-seed"
HISTORY_MONTHS = 3      # full months before this one, plus this one so far


@dataclass(frozen=True)
class Supplier:
    id: str
    name: str
    email: str
    price_factor: tuple[float, float]   # × the part's standard cost
    lead_days: tuple[int, int]
    lists_every: int                    # lists every n-th part of the catalogue (1: all)


# The cheapest lists everything with a lead time of days (so it is the one reorder planning and
# the proposals pick); one is dearer and slower; one is dear and quick, for half the parts.
SUPPLIERS = [
    Supplier("SUP-VOLTA", "Volta Components GmbH", "orders@volta-components.example", (0.90, 1.00), (2, 4), 1),
    Supplier("SUP-NORDLICHT", "Nordlicht Ladetechnik AG", "einkauf@nordlicht.example", (1.00, 1.10), (5, 10), 1),
    Supplier("SUP-EXPRESS", "Express Spares Ltd", "sales@express-spares.example", (1.20, 1.35), (1, 1), 2),
]
# The parts keeper's starting levels, until the consumption history is long enough for TSB
# (docs/parts.md, "Reorder planning"): a van keeps its kit (1 left: restock up to 3), the
# warehouse 8 of each part (then order 12 more).
VAN_LEVEL = (1, 2)
WAREHOUSE_LEVEL = (8, 12)
LEVEL_REASON = "demo starting level until consumption history builds up (simulators/stores_seed.py)"
# Monthly budgets (currency units) of the categories not derived from the crew, before ±8 %.
BUDGETS = {costs.BudgetCategory.TRAINING: 3000, costs.BudgetCategory.PARTS_PURCHASING: 60000,
           costs.BudgetCategory.OFFICE: 6500, costs.BudgetCategory.EQUIPMENT_UPKEEP: 4000}
STAFF_HOURS = 140       # paid hours per engineer and month the staff budget plans for
TRAVEL_PER_ENGINEER = 900
# A month's expenses: (category, note, low, high).
EXPENSES = [
    (costs.BudgetCategory.OFFICE, "office rent and service line", 4200, 4600),
    (costs.BudgetCategory.TRAINING, "HV safety refresher course", 900, 2400),
    (costs.BudgetCategory.EQUIPMENT_UPKEEP, "insulation testers calibrated, van servicing", 1200, 3000),
    (costs.BudgetCategory.TRAVEL, "fuel cards and tolls", 5000, 9000),
    (costs.BudgetCategory.STAFF, "on-call allowances", 1800, 3200),
]


def _rng(seed: int, *what: object) -> random.Random:
    return random.Random(":".join(map(str, (seed, *what))))


def _cents(x: float) -> Decimal:
    return Decimal(str(round(x, 2)))


def seed_stores(conn: psycopg.Connection, *, seed: int = 1, now: datetime | None = None,
                policy: Reorder | None = None, history: bool = True) -> str:
    """Seed what is missing (module docstring); returns a one-line summary. Needs the crew's
    parts, warehouse and vans (simulators/crew.py) for listings and levels."""
    now = now or datetime.now(timezone.utc)
    if policy is None:
        from maintenance import policy as policies
        policy = policies.load(None).reorder
    counts = {"listings": _suppliers(conn, seed), "rates": _rates(conn, seed),
              "budgets": _budgets(conn, seed, now.date()), "levels": _levels(conn, policy)}
    if history:
        counts |= _history(conn, seed, now)
    return f"stores seed {seed}: " + ", ".join(f"{n} {what}" for what, n in counts.items())


def _suppliers(conn: psycopg.Connection, seed: int) -> int:
    """Suppliers, and their listings of the catalogue's parts (price, lead time, their number);
    returns the listings written."""
    parts = conn.execute("SELECT id, unit_cost FROM parts WHERE active ORDER BY id").fetchall()
    listed = set(conn.execute("SELECT supplier_id, part_id FROM supplier_parts").fetchall())
    written = 0
    for s in SUPPLIERS:
        if conn.execute("SELECT 1 FROM suppliers WHERE id = %s", (s.id,)).fetchone() is None:
            catalogue.create_supplier(conn, s.id, name=s.name, email=s.email, actor=SEEDED_BY)
        for i, (part_id, unit_cost) in enumerate(parts):
            if i % s.lists_every or (s.id, part_id) in listed:
                continue
            rng = _rng(seed, s.id, part_id)
            price = _cents(float(unit_cost) * rng.uniform(*s.price_factor))
            catalogue.list_part(conn, part_id, Listing(s.id, price, rng.randint(*s.lead_days),
                                                       f"{s.id[4:7]}-{rng.randrange(10**5):05d}"), actor=SEEDED_BY)
            written += 1
    return written


def _rates(conn: psycopg.Connection, seed: int) -> int:
    """An hourly rate for every engineer without one: 72–92, high-voltage engineers 8 more."""
    rows = conn.execute("SELECT id, skills FROM engineers WHERE hourly_rate IS NULL ORDER BY id").fetchall()
    for engineer_id, skills in rows:
        rate = _rng(seed, engineer_id).randint(72, 92) + (8 if "HV" in (skills or []) else 0)
        costs.set_hourly_rate(conn, engineer_id, rate, actor=SEEDED_BY)
    return len(rows)


def _history_start(today: date) -> date:
    first = today.replace(day=1)
    for _ in range(HISTORY_MONTHS):
        first = (first - timedelta(days=1)).replace(day=1)
    return first


def _months(today: date) -> list[date]:
    """The budgets' months, first days: January of this year (or the history's first month,
    if that is last year) through December."""
    months = [min(_history_start(today), date(today.year, 1, 1))]
    while months[-1] < date(today.year, 12, 1):
        last = months[-1]
        months.append(date(last.year + last.month // 12, last.month % 12 + 1, 1))
    return months


def _budgets(conn: psycopg.Connection, seed: int, today: date) -> int:
    """Each month's budget per category, where none is set: staff from the crew (hours × its
    mean hourly rate), travel per engineer, the rest fixed; each ±8 % by month, to 100."""
    engineers, mean_rate = conn.execute(
        "SELECT count(*), coalesce(avg(hourly_rate), 85) FROM engineers WHERE active").fetchone()
    base = dict(BUDGETS) | {costs.BudgetCategory.STAFF: engineers * STAFF_HOURS * float(mean_rate),
                            costs.BudgetCategory.TRAVEL: engineers * TRAVEL_PER_ENGINEER}
    have = set(conn.execute("SELECT period, category FROM budgets").fetchall())
    written = 0
    for month in _months(today):
        for category in costs.BudgetCategory:
            if (month, category.value) in have or not base[category]:
                continue
            amount = round(base[category] * _rng(seed, month, category.value).uniform(0.92, 1.08), -2)
            costs.set_budget(conn, month, category, amount, actor=SEEDED_BY)
            written += 1
    return written


def _levels(conn: psycopg.Connection, policy: Reorder) -> int:
    """The parts keeper's starting reorder levels (overrides, with their reason) where a
    location has no level for a part yet: each van for the parts it carries, each warehouse
    for every part."""
    pairs = conn.execute(
        "SELECT l.id, s.part_id, l.kind FROM stock_locations l JOIN stock s ON s.location_id = l.id "
        "WHERE l.kind = 'van' UNION "
        "SELECT l.id, p.id, l.kind FROM stock_locations l CROSS JOIN parts p WHERE l.kind = 'warehouse' AND p.active "
        "EXCEPT SELECT r.location_id, r.part_id, l.kind FROM reorder_levels r JOIN stock_locations l "
        "ON l.id = r.location_id ORDER BY 1, 2").fetchall()
    for location_id, part_id, kind in pairs:
        point, quantity = VAN_LEVEL if kind == "van" else WAREHOUSE_LEVEL
        reorder.override(conn, policy, location_id, part_id, reorder_point=point, order_quantity=quantity,
                         reason=LEVEL_REASON, actor=SEEDED_BY)
    return len(pairs)


def _history(conn: psycopg.Connection, seed: int, now: datetime) -> dict[str, int]:
    """Once: each month of the history's expenses, and two deliveries a month from the
    suppliers, ordered, received (now and then a few days late) and inspected (a line in ten
    fails a unit: a supplier claim the parts keeper ships); and one order placed days ago
    still on its way, for the parts keeper to receive. Returns what was written."""
    warehouse = conn.execute("SELECT id FROM stock_locations WHERE kind = 'warehouse' ORDER BY id LIMIT 1").fetchone()
    done = conn.execute("SELECT EXISTS (SELECT 1 FROM expenses WHERE recorded_by = %(s)s) OR EXISTS "
                        "(SELECT 1 FROM purchase_orders WHERE created_by = %(s)s)", {"s": SEEDED_BY}).fetchone()[0]
    if done or warehouse is None:
        return {"past expenses": 0, "past purchase orders": 0}
    start = _history_start(now.date())
    months = [m for m in _months(now.date()) if start <= m <= now.date()]
    spent = orders = 0
    for month in months:
        rng = _rng(seed, "expenses", month)
        last_day = calendar.monthrange(month.year, month.month)[1]
        for category, note, low, high in EXPENSES:
            day = month.replace(day=rng.randint(1, last_day))
            if day >= now.date():
                continue
            costs.record_expense(conn, category=category, amount=_cents(rng.uniform(low, high)), spent_on=day,
                                 note=note, actor=SEEDED_BY)
            spent += 1
        for order_day, supplier in ((3, SUPPLIERS[0]), (17, SUPPLIERS[1])):
            ordered_at = datetime.combine(month.replace(day=order_day), time(9), tzinfo=timezone.utc)
            orders += _past_delivery(conn, seed, supplier.id, warehouse[0], ordered_at, now)
    # On its way: ordered two days ago from the quick-ish supplier.
    orders += _past_delivery(conn, seed, SUPPLIERS[0].id, warehouse[0], now - timedelta(days=2), now, receive=False)
    return {"past expenses": spent, "past purchase orders": orders}


def _past_delivery(conn: psycopg.Connection, seed: int, supplier_id: str, warehouse: str, ordered_at: datetime,
                   now: datetime, *, receive: bool = True) -> int:
    """A purchase order of three parts the supplier lists, ordered at `ordered_at`; when
    `receive`, delivered after its lead time (one in five 1–3 days late) and inspected the same
    day, if that is in the past. Returns 1 (written) or 0."""
    rng = _rng(seed, "order", supplier_id, ordered_at.date())
    listed = [r[0] for r in conn.execute("SELECT part_id FROM supplier_parts WHERE supplier_id = %s ORDER BY part_id",
                                         (supplier_id,)).fetchall()]
    if not listed or ordered_at >= now:
        return 0
    lines = [OrderLine(p, rng.randint(2, 6)) for p in sorted(rng.sample(listed, min(3, len(listed))))]
    order_id = purchasing.create(conn, supplier_id, warehouse, lines, actor=SEEDED_BY,
                                 note="seeded history" if receive else "on its way")
    expected_at = purchasing.order(conn, order_id, actor=SEEDED_BY, at=ordered_at)
    received_at = expected_at - timedelta(hours=rng.randint(2, 20))
    if rng.random() < 0.2:
        received_at = expected_at + timedelta(days=rng.randint(1, 3))
    if not receive or received_at >= now:
        return 1
    receipt_id = receipts.receive(conn, [receipts.ReceiptLine(line.part_id, line.quantity) for line in lines],
                                  purchase_order_id=order_id, delivery_note=f"DN-{rng.randrange(10**6):06d}",
                                  actor=SEEDED_BY, at=received_at)
    inspected_at = received_at + timedelta(hours=2)
    for line_id, quantity in conn.execute("SELECT id, quantity FROM goods_receipt_lines WHERE goods_receipt_id = %s "
                                          "ORDER BY id", (receipt_id,)).fetchall():
        failed = 1 if rng.random() < 0.1 else 0
        receipts.inspect(conn, receipt_id, line_id, passed=quantity - failed, failed=failed, actor=SEEDED_BY,
                         failure_reason="damaged in transit" if failed else None,
                         at=min(inspected_at, now))
    return 1
