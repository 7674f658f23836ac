"""History for the console's charts to draw, written straight into the database: telemetry
for a pile's page, twelve weeks of service for the KPI page. The console's browser test and
`pilecare docs screenshots` seed it; neither waits hours for a live fleet to make it."""
from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone


def backfill_telemetry(db, pile_id: str, *, hours: float = 6, every_s: int = 60, connectors: int = 2) -> int:
    """History for a pile's charts: charging sessions with power, heating and energy, and
    the pile's internal temperature.

    Called once the pile has reported, the history leads up to what it reports now: each
    energy register ends at the pile's reading (so no bucket shows the jump from zero to a
    lifetime meter as energy delivered) and temperatures rest at the current ones.
    Sequence numbers start far above what the simulator will use, so the rows it sends
    later never collide with these."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    steps = int(hours * 3600 / every_s)
    state = {c: (e, t) for c, e, t in db.execute(
        "SELECT connector_id, energy_kwh, temp_c FROM connector_state WHERE pile_id = %s", (pile_id,))}
    internal = db.execute("SELECT temp_internal_c FROM pile_state WHERE pile_id = %s", (pile_id,)).fetchone()
    internal = internal[0] if internal and internal[0] is not None else 20.0

    # Sessions come and go: a sine envelope per connector, clipped at zero.
    def level(i: int, c: int) -> float:
        return max(0.0, math.sin(i / 9 + c * 1.7))

    rows = []
    for c in range(1, connectors + 1):
        meter, idle = state.get(c, (None, None))
        delivered = sum(22 * level(i, c) * every_s / 3600 for i in range(steps))
        energy = (meter if meter is not None else delivered) - delivered
        for i in range(steps):
            at = now - timedelta(seconds=(steps - i) * every_s)
            power = round(22 * level(i, c), 2)
            energy += power * every_s / 3600
            rows.append((at, pile_id, c, 10_000_000 + i, at, at, "Charging" if power > 0 else "Available", "NoError",
                         400.0 if power else 0.0, power * 2.5, power, round(energy, 3),
                         round((idle if idle is not None else 24.0) + 14 * level(i, c), 1)))
    for i in range(steps):
        at = now - timedelta(seconds=(steps - i) * every_s)
        busy = sum(level(i, c) for c in range(1, connectors + 1)) / connectors
        rows.append((at, pile_id, 0, 10_000_000 + i, at, at, None, None, None, None, None, None,
                     round(internal + 9 * busy, 1)))
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO telemetry (time, pile_id, connector_id, seq, device_ts, received_at, status, error_code, "
            "voltage_v, current_a, power_kw, energy_kwh, temp_c) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "%s, %s, %s)", rows)
    return len(rows)


# Faults the history is made of: (category, title, hours to restore at the median).
_FAULTS = [("electrical", "GroundFailure on connector {c}", 10), ("connector", "Cable latch broken on connector {c}", 14),
           ("communication", "Lost backend connection", 3), ("power_module", "Power module tripped", 20),
           ("thermal", "Overheating on connector {c}", 8), ("user_interface", "Display blank", 6),
           ("metering", "Meter reading frozen", 12)]
_PM_TITLES = ["Quarterly inspection", "Annual electrical test", "Cable and connector check", "Filter and fan service"]


def seed_kpi_history(db, *, weeks: int = 12, seed: int = 7) -> dict[str, int]:
    """A realistic service history for the KPI page: closed corrective orders over the last
    `weeks` weeks (responded, resolved, verified, closed; some repeats of a repair closed
    within 30 days, a few reopened after a failed verification, some remote fixes), closed
    preventive orders around their due dates (most on time), and each port's state known
    since before the window, down while its corrective order was open.

    Everything is closed and every status change is marked processed, so the maintenance
    worker finds nothing to act on and the open counts the console shows stay as they were."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start = now - timedelta(weeks=weeks, days=1)
    ports = db.execute("SELECT pile_id, connector_id FROM connector_state WHERE connector_id > 0 "
                       "ORDER BY pile_id, connector_id").fetchall()
    piles = sorted({p for p, _ in ports})
    connectors = {p: [c for q, c in ports if q == p] for p in piles}
    engineers = [r[0] for r in db.execute("SELECT id FROM engineers WHERE active ORDER BY id")]

    # Corrective orders, oldest first, so a repeat can point at an earlier closed repair.
    orders, changes = [], []
    created = start
    while True:
        created += timedelta(hours=rng.expovariate(1 / 30))  # about five failures a week
        responded = created + timedelta(hours=rng.lognormvariate(0.7, 0.6))
        closed_by = now - timedelta(hours=2)
        if responded >= closed_by:
            break
        earlier = [o for o in orders if o["closed_at"] > created - timedelta(days=30) and o["resolution"] == "repaired"]
        if earlier and rng.random() < 0.12:
            first = rng.choice(earlier)
            pile, connector, (category, title, median_h) = first["pile_id"], first["connector"], first["fault"]
            repeat_of = first["id"]
        else:
            pile = rng.choice(piles)
            connector = rng.choice(connectors[pile])
            category, title, median_h = rng.choice(_FAULTS)
            repeat_of = None
        remote = category == "communication" and rng.random() < 0.7
        reopened = not remote and rng.random() < 0.1
        restore_h = 0.5 if remote else median_h * rng.lognormvariate(0, 0.45) * (1.8 if reopened else 1)
        resolved = min(responded + timedelta(hours=restore_h), closed_by - timedelta(hours=1))
        order = {"id": len(orders) + 1, "pile_id": pile, "connector": connector, "fault": (category, title, median_h),
                 "created_at": created, "responded_at": resolved if remote else responded, "resolved_at": resolved,
                 "closed_at": min(resolved + timedelta(hours=rng.uniform(1, 20)), closed_by),
                 "resolution": "remote" if remote else "repaired", "reopened_count": int(reopened),
                 "repeat_of": repeat_of}
        orders.append(order)
        if not remote:  # the port was out of order from the fault until the repair
            changes.append((pile, connector, created - timedelta(minutes=rng.randint(2, 20)), "Available", "Faulted"))
            changes.append((pile, connector, resolved, "Faulted", "Available"))

    # Ids come from the table's sequence; map our numbering onto them as we insert.
    ids = {}
    with db.cursor() as cur:
        for o in orders:
            category, title, _ = o["fault"]
            severity = "critical" if category in ("electrical", "power_module") else "major"
            response_h, resolve_h = (4, 24) if severity == "critical" else (8, 48)
            cur.execute(
                "INSERT INTO work_orders (kind, pile_id, fault_category, state, priority, title, created_at, "
                "created_by, updated_at, closed_at, severity, resolution, responded_at, resolved_at, verified_at, "
                "response_due_at, resolve_due_at, repeat_of, engineer_id, reopened_count) VALUES ('corrective', "
                "%s, %s, 'closed', %s, %s, %s, 'rules', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (o["pile_id"], category, 2 if severity == "critical" else 3, title.format(c=o["connector"]),
                 o["created_at"], o["closed_at"], o["closed_at"], severity, o["resolution"], o["responded_at"],
                 o["resolved_at"], o["resolved_at"] + timedelta(minutes=30), o["created_at"] + timedelta(hours=response_h),
                 o["created_at"] + timedelta(hours=resolve_h), ids.get(o["repeat_of"]),
                 None if o["resolution"] == "remote" else rng.choice(engineers), o["reopened_count"]))
            ids[o["id"]] = cur.fetchone()[0]

        # Preventive orders due through the window; most closed a few days early, some late.
        pm = 0
        for pile in piles:
            due = start + timedelta(days=rng.uniform(0, 21))
            while due < now - timedelta(days=1):
                late = rng.random() < 0.12
                closed = min(due + timedelta(days=rng.uniform(0.5, 4)) if late
                             else due - timedelta(days=rng.uniform(0, 6)), now - timedelta(hours=1))
                cur.execute(
                    "INSERT INTO work_orders (kind, pile_id, state, priority, title, created_at, created_by, updated_at, "
                    "closed_at, due_at, engineer_id) VALUES ('preventive', %s, 'closed', 4, %s, %s, 'planner', %s, %s, "
                    "%s, %s)", (pile, rng.choice(_PM_TITLES), due - timedelta(days=14), closed, closed, due,
                                rng.choice(engineers)))
                pm += 1
                due += timedelta(days=rng.uniform(18, 30))

        # Each port's first report before the window, then its outages; already processed.
        first = [(p, c, start - timedelta(days=7), None, "Available") for p, c in ports]
        cur.executemany(
            "INSERT INTO connector_status_changes (pile_id, connector_id, time, old_status, new_status, old_error_code, "
            "new_error_code, processed_at) VALUES (%s, %s, %s, %s, %s, NULL, 'NoError', now())", first + changes)
    return {"corrective": len(orders), "preventive": pm, "outages": len(changes) // 2}
