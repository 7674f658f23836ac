"""A service crew for the generated fleet: engineers in every region with a mix of skills,
home bases near the regional city, a week of shifts, vans and a central warehouse stocked
with the parts the common faults need. Deterministic for a seed, and idempotent."""
from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta, timezone

import psycopg

from maintenance.inventory import Line, MovementKind, record
from simulators.fleetgen import REGIONS

FIRST_NAMES = ["Eva", "Noah", "Fay", "Otto", "Lena", "Jonas", "Mia", "Paul", "Ida", "Emil", "Zoe", "Finn",
               "Lea", "Ben", "Nora", "Tim", "Ella", "Max"]
SKILL_SETS = [["AC", "DC", "HV"], ["AC", "DC", "HV"], ["AC", "DC"], ["AC"]]
NIGHT_SKILLS = ["AC", "DC", "HV"]
# (id, name, unit cost, fault categories it usually fixes)
PARTS = [
    ("FAN-120", "Cabinet fan 120 mm", 42.5, ["cooling", "thermal"]),
    ("CONTACTOR-63A", "AC contactor 63 A", 96.0, ["electrical"]),
    ("RCD-B", "Residual-current device type B", 310.0, ["electrical", "insulation"]),
    ("CABLE-DC", "DC charging cable set", 780.0, ["connector", "insulation"]),
    ("LOCK-ACT", "Connector lock actuator", 58.0, ["connector"]),
    ("CTRL-BOARD", "Controller board", 420.0, ["controller", "communication"]),
    ("METER-MID", "MID energy meter", 260.0, ["metering"]),
    ("PM-30KW", "Power module 30 kW", 1900.0, ["power_module"]),
    ("LTE-MODEM", "LTE modem", 120.0, ["connectivity", "communication"]),
    ("ESTOP-BTN", "Emergency-stop button", 35.0, ["emergency_stop"]),
]


def shift_times(today: date, day_starts: time, *, night: bool, days: int) -> list[tuple[datetime, datetime]]:
    """One engineer's 12-hour shifts from the day before `today` for `days` more days: day
    shifts start at `day_starts` (UTC), night shifts 12 h later."""
    first = datetime.combine(today, day_starts, tzinfo=timezone.utc) + timedelta(hours=12 if night else 0)
    return [(first + timedelta(days=d), first + timedelta(days=d, hours=12)) for d in range(-1, days)]


def seed_crew(conn: psycopg.Connection, per_region: int = 3, seed: int = 1, *, days: int = 7,
              day_starts: time = time(6)) -> str:
    """Insert the crew; running it again adds nothing new (ON CONFLICT DO NOTHING).

    Day shifts start at `day_starts` UTC (06:00 for the demo), the night shift 12 h later. A
    caller that needs the day crew whatever the wall clock says (tests/test_demo_crew.py)
    starts the day a little before now."""
    rng = random.Random(seed)
    today = datetime.now(timezone.utc).date()
    engineers, shifts, vans, van_stock = [], [], [], []
    for r, (region, city, lat, lon, _env, _zone) in enumerate(REGIONS):
        for k in range(per_region):
            n = r * per_region + k
            engineer_id = f"ENG-{n + 1:03d}"
            name = f"{FIRST_NAMES[n % len(FIRST_NAMES)]} {city[:1]}."
            # Day shifts 06–18 UTC (by default); the last engineer of a region covers nights 18–06, alone, so
            # holds every skill a fault category needs (AC, DC, HV; issue 12, item 3): a ground
            # fault at night finds someone. Only the maker's certificate (mfr:…, needed when
            # dispatch.certified_manufacturers names the maker) has no night cover.
            night = k == per_region - 1 and per_region > 1
            skills = (NIGHT_SKILLS if night else SKILL_SETS[k % len(SKILL_SETS)]) + (["mfr:Ultracharge"] if k == 0 else [])
            # Neighbouring regions help out: the first engineer of each region also covers the next.
            regions = [region] + ([REGIONS[(r + 1) % len(REGIONS)][0]] if k == 0 else [])
            engineers.append((engineer_id, name, f"+49 151 {rng.randrange(10**7):07d}", skills, regions,
                              round(lat + rng.uniform(-0.1, 0.1), 5), round(lon + rng.uniform(-0.15, 0.15), 5)))
            shifts += [(engineer_id, start, end) for start, end in shift_times(today, day_starts, night=night,
                                                                                days=days)]
            vans.append((f"VAN-{engineer_id}", f"{name}'s van", engineer_id))
            for part_id, *_ in rng.sample(PARTS, 5):
                van_stock.append((f"VAN-{engineer_id}", part_id, rng.randint(1, 3)))
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany("INSERT INTO parts (id, name, unit_cost) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                        [(p, name, cost) for p, name, cost, _ in PARTS])
        cur.executemany("INSERT INTO category_parts (fault_category, part_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                        [(c, p) for p, _, _, categories in PARTS for c in categories])
        cur.execute("INSERT INTO stock_locations (id, kind, name) VALUES ('WH-CENTRAL', 'warehouse', "
                    "'Central warehouse') ON CONFLICT DO NOTHING")
        if not conn.execute("SELECT 1 FROM stock_movements WHERE location_id = 'WH-CENTRAL' LIMIT 1").fetchone():
            record(conn, MovementKind.OPENING, [Line(p, "WH-CENTRAL", 25) for p, *_ in PARTS], actor="crew-seed",
                   reason="demo warehouse stock")
        cur.execute("SELECT count(*) FROM engineers")
        if cur.fetchone()[0]:
            return "crew: engineers exist already, none added"
        cur.executemany("INSERT INTO engineers (id, name, phone, skills, regions, home_lat, home_lon) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s)", engineers)
        cur.executemany("INSERT INTO engineer_shifts (engineer_id, starts_at, ends_at) VALUES (%s, %s, %s)", shifts)
        cur.executemany("INSERT INTO stock_locations (id, kind, name, engineer_id, parent_id) "
                        "VALUES (%s, 'van', %s, %s, 'WH-CENTRAL')", vans)
        record(conn, MovementKind.OPENING, [Line(p, van, n) for van, p, n in van_stock], actor="crew-seed",
               reason="demo van stock")
    return (f"crew seed {seed}: {len(engineers)} engineers in {len(REGIONS)} regions, {len(shifts)} shifts, "
            f"{len(PARTS)} parts")
