"""Registry rows for tests, written straight to the database."""
from __future__ import annotations

from datetime import date


def make_fleet(conn, piles: int = 20) -> list[str]:
    conn.execute("INSERT INTO customers (id, name, tier, contact_name, contact_phone) VALUES "
                 "('CUST-1', 'Metro Fleet', 'gold', 'Jana Meyer', '+49 30 1234567')")
    conn.execute(
        "INSERT INTO sites (id, customer_id, name, region, lat, lon, environment) VALUES "
        "('SITE-1', 'CUST-1', 'Depot North', 'north', 52.52, 13.40, '{}'),"
        "('SITE-2', 'CUST-1', 'Harbour', 'coast', 53.55, 9.99, '{coastal}')"
    )
    conn.execute(
        "INSERT INTO pile_models (id, manufacturer, name, kind, rated_power_kw, connectors, reporting_interval_s) VALUES "
        "('T-AC22', 'Pilecare', 'AC22 Duo', 'AC', 22, 2, 30), ('T-DC120', 'Pilecare', 'DC120', 'DC', 120, 2, 15) "
        "ON CONFLICT DO NOTHING"
    )
    ids = [f"TP-{i:04d}" for i in range(1, piles + 1)]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO piles (id, serial, model_id, site_id, firmware, installed_on, warranty_end, lat, lon) "
            "VALUES (%s, %s, %s, %s, '1.4.2', %s, %s, 52.52, 13.40)",
            [
                (pid, f"SN-{pid}", "T-AC22" if i % 3 else "T-DC120", "SITE-1" if i % 2 else "SITE-2",
                 date(2025, 1, 15), date(2028, 1, 15))
                for i, pid in enumerate(ids)
            ],
        )
    return ids


def set_stock(conn, location_id: str, part_id: str, quantity: int) -> None:
    """Bring `location_id`'s stock of `part_id` to `quantity` through the ledger (an opening
    balance, then an adjustment): the balance table refuses direct writes."""
    from maintenance.inventory import Line, MovementKind, on_hand, record
    change = quantity - on_hand(conn, location_id, part_id)
    if change:
        record(conn, MovementKind.ADJUSTMENT, [Line(part_id, location_id, change)], actor="test",
               reason="set by the test")
