"""A deterministic, realistic fleet registry: `pilecare fleet seed --piles N --seed S`."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

import psycopg

# (id, manufacturer, name, kind, rated kW, connectors, reporting interval s)
MODELS = [
    ("VOLTA-AC7", "Volta", "Home 7", "AC", 7.4, 1, 60),
    ("VOLTA-AC11", "Volta", "Wall 11", "AC", 11.0, 1, 60),
    ("VOLTA-AC22D", "Volta", "Duo 22", "AC", 22.0, 2, 30),
    ("NORDE-AC22D", "Nordelec", "Street 22", "AC", 22.0, 2, 30),
    ("NORDE-DC30", "Nordelec", "Compact DC 30", "DC", 30.0, 1, 15),
    ("HYPER-DC60", "Hyperwatt", "DC 60", "DC", 60.0, 2, 15),
    ("HYPER-DC120", "Hyperwatt", "DC 120", "DC", 120.0, 2, 10),
    ("HYPER-DC180", "Hyperwatt", "DC 180", "DC", 180.0, 2, 10),
    ("ULTRA-DC360", "Ultracharge", "HPC 360", "DC", 360.0, 2, 10),
]
# Regions around real cities; environments shorten maintenance intervals (R-PM). Each
# region's time zone is the clock its sites' recurring maintenance windows follow.
REGIONS = [
    ("north", "Hamburg", 53.55, 9.99, ["coastal"], "Europe/Berlin"),
    ("east", "Berlin", 52.52, 13.40, [], "Europe/Berlin"),
    ("west", "Cologne", 50.94, 6.96, ["heavy_use"], "Europe/Berlin"),
    ("south", "Munich", 48.14, 11.58, ["cold"], "Europe/Berlin"),
    ("southwest", "Freiburg", 47.99, 7.85, ["hot"], "Europe/Berlin"),
    ("central", "Leipzig", 51.34, 12.37, ["dusty"], "Europe/Berlin"),
]
OPERATORS = ["Stadtwerke Nord", "ChargeWay", "FleetPower Logistics", "Autohof Mitte", "Parkhaus Gruppe",
             "Hotel Sonnenhof", "Retail Park Süd", "TaxiGenossenschaft", "Wohnbau eG", "Supermarkt Kette"]
SITE_KINDS = ["Depot", "Car park", "Retail", "Highway", "Hotel", "Office", "Residential"]
FIRMWARE = ["1.4.2", "1.5.0", "1.5.1", "2.0.3", "2.1.0"]


@dataclass(frozen=True)
class SimPileSpec:
    """What the simulator needs to know about a pile."""

    id: str
    kind: str
    rated_power_kw: float
    connectors: int
    reporting_interval_s: int
    environment: tuple[str, ...]
    firmware: str


def generate(piles: int, seed: int):
    """Pure generation (no database): customers, sites, piles as row tuples."""
    rng = random.Random(seed)
    customers, sites, rows = [], [], []
    n_customers = max(1, min(len(OPERATORS) + piles // 50, piles // 4 or 1))
    for c in range(n_customers):
        name = OPERATORS[c] if c < len(OPERATORS) else f"{rng.choice(['Müller', 'Schmidt', 'Weber', 'Fischer', 'Wagner'])} {rng.choice(['GmbH', 'KG', 'AG', 'eK'])} {c}"
        tier = "platinum" if c < 2 else "gold" if c < 5 else "standard"
        contact = rng.choice(["Anna", "Jonas", "Lea", "Felix", "Mia", "Paul"]) + " " + rng.choice(["Becker", "Hoffmann", "Koch", "Richter"])
        customers.append((f"CUST-{c + 1:04d}", name, tier, contact, f"+49 30 {rng.randint(1000000, 9999999)}",
                          f"{contact.split()[0].lower()}@cust{c + 1:04d}.example.com"))
    n_sites = max(1, piles // 6)
    for s in range(n_sites):
        region, city, lat, lon, env, zone = REGIONS[s % len(REGIONS)]
        customer = customers[min(int(rng.paretovariate(1.2)) - 1, len(customers) - 1)][0] if s >= len(customers) else customers[s][0]
        extra = ["heavy_use"] if rng.random() < 0.15 and "heavy_use" not in env else []
        sites.append((f"SITE-{s + 1:04d}", customer, f"{city} {rng.choice(SITE_KINDS)} {s + 1}",
                      f"{rng.randint(1, 200)} {rng.choice(['Hauptstr.', 'Ringstr.', 'Am Hafen', 'Industrieweg'])}, {city}",
                      region, round(lat + rng.uniform(-0.15, 0.15), 5), round(lon + rng.uniform(-0.2, 0.2), 5),
                      env + extra, zone))
    today = date(2026, 11, 1)
    for p in range(piles):
        site = sites[p % n_sites]
        model = MODELS[rng.choices(range(len(MODELS)), weights=[6, 8, 14, 10, 4, 6, 5, 3, 2])[0]]
        installed = today - timedelta(days=rng.randint(30, 4 * 365))
        years = rng.choice([2, 2, 3, 5])
        rows.append((f"PC-{p + 1:06d}", f"{model[1][:3].upper()}{installed:%y}{rng.randint(100000, 999999)}-{p + 1}",
                     model[0], site[0], rng.choice(FIRMWARE), installed, installed + timedelta(days=rng.randint(1, 21)),
                     installed.replace(year=installed.year + years) if not (installed.month == 2 and installed.day == 29)
                     else installed + timedelta(days=365 * years),
                     round(site[5] + rng.uniform(-0.0005, 0.0005), 6), round(site[6] + rng.uniform(-0.0005, 0.0005), 6)))
    return customers, sites, rows


def seed_fleet(conn: psycopg.Connection, piles: int, seed: int = 1) -> str:
    """Insert the generated fleet; running it again adds nothing (ON CONFLICT DO NOTHING)."""
    customers, sites, rows = generate(piles, seed)
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany("INSERT INTO pile_models (id, manufacturer, name, kind, rated_power_kw, connectors, "
                        "reporting_interval_s) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", MODELS)
        cur.executemany("INSERT INTO customers (id, name, tier, contact_name, contact_phone, contact_email) "
                        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", customers)
        # The contact of each customer as the desk finds callers and senders (issue 13): E.164.
        cur.executemany("INSERT INTO customer_contacts (customer_id, name, role, phone, email) "
                        "SELECT %s, %s, 'site manager', %s, %s WHERE NOT EXISTS "
                        "(SELECT 1 FROM customer_contacts WHERE customer_id = %s)",
                        [(c[0], c[3], c[4].replace(" ", ""), c[5], c[0]) for c in customers])
        cur.executemany("INSERT INTO sites (id, customer_id, name, address, region, lat, lon, environment, timezone) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", sites)
        cur.executemany("INSERT INTO piles (id, serial, model_id, site_id, firmware, installed_on, commissioned_on, "
                        "warranty_end, lat, lon, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'seed') "
                        "ON CONFLICT DO NOTHING", rows)
    return f"fleet seed {seed}: {len(rows)} piles at {len(sites)} sites of {len(customers)} customers"


def load_fleet(conn: psycopg.Connection, limit: int | None = None) -> list[SimPileSpec]:
    rows = conn.execute(
        "SELECT p.id, m.kind, m.rated_power_kw, m.connectors, m.reporting_interval_s, s.environment, "
        "coalesce(p.firmware, '1.0.0') FROM piles p JOIN pile_models m ON m.id = p.model_id "
        "JOIN sites s ON s.id = p.site_id ORDER BY p.id LIMIT %s", (limit,)).fetchall()
    return [SimPileSpec(r[0], r[1], float(r[2]), r[3], r[4], tuple(r[5]), r[6]) for r in rows]
