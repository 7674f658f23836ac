"""`pilecare bench desk`: how fast the agents' inbox answers on a year of requests, and how
many e-mails one SMTP listener turns into requests per second (issue 13).

A throwaway database (on PILECARE_DATABASE_URL's server, else an embedded PostgreSQL) gets
2,000 customers (a contact each, tiers mixed) and 100,000 requests spread over the past
year, every channel and class, with their threads and timelines; those of the last days
are still open (a realistic inbox of about 1,500), the rest resolved or closed. A real API
process (uvicorn, as `pilecare api` runs it) then serves the inbox's calls to an agent,
each timed over HTTP one at a time after a warm-up: the inbox (open requests next due
first), the breached ones, one customer's, and a request page. `inbox_p95_ms` is the
slowest of those calls' 95th percentiles (target ≤ 150 ms).

Then `mails_per_s`: mails sent over SMTP to one listener (maintenance/servicedesk,
started here as `pilecare run` starts it) from a few sending connections, counted from
the first SMTP accept to the last request committed (target ≥ 50/s); see
simulators/bench/desk_mail.py. The last line printed is JSON.
"""
from __future__ import annotations

import json
import logging
import random
import secrets
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

from api import accounts
from pilecare import embedded
from pilecare.migrate import migrate
from pilecare.settings import get_settings
from simulators.bench.api import CopyRows, figures, measure, serve_api
from simulators.bench.ingest import bench_database, say

TARGET_INBOX_P95_MS = 150
TARGET_MAILS_PER_S = 50
TIERS = (("platinum", 0.05, 4, 48), ("gold", 0.25, 8, 72), ("standard", 0.70, 24, 120))
CHANNELS = (("phone", 0.45), ("email", 0.40), ("web", 0.15))
CLASSES = (("consultation", 0.40), ("fault_report", 0.35), ("installation_request", 0.05), ("complaint", 0.08),
           ("suggestion", 0.04), (None, 0.08))
OPEN_DAYS = 3           # requests of the last days are still being worked
AGENTS = [f"agent-{i}" for i in range(1, 13)]


def _pick(rng: random.Random, table) -> object:
    x, acc = rng.random(), 0.0
    for value, share, *_ in table:
        acc += share
        if x < acc:
            return value
    return table[-1][0]


def seed_requests(conn: psycopg.Connection, customers: int, requests: int, now: datetime, seed: int = 1) -> dict:
    """Customers with a contact each, and `requests` requests over the past year with their
    threads and timelines (COPY); returns counts."""
    rng = random.Random(seed)
    tiers = {name: (response_h, resolve_h) for name, _, response_h, resolve_h in TIERS}
    with CopyRows(conn, "COPY customers (id, name, tier) FROM STDIN") as rows:
        customer_tiers = []
        for i in range(customers):
            tier = _pick(rng, TIERS)
            customer_tiers.append((f"C-{i:05d}", tier))
            rows.row(f"C-{i:05d}", f"Customer {i}", tier)
    with CopyRows(conn, "COPY customer_contacts (id, customer_id, name, phone, email) FROM STDIN") as rows:
        for i, (customer, _) in enumerate(customer_tiers, start=1):
            rows.row(i, customer, f"Contact {i}", f"+4930{1000000 + i}", f"contact{i}@customer{i}.example")
    conn.execute("SELECT setval('customer_contacts_id_seq', %s)", (customers,))
    year_ago = now - timedelta(days=365)
    open_from = now - timedelta(days=OPEN_DAYS)
    counts = {"requests": 0, "open": 0, "messages": 0, "events": 0}
    # One COPY at a time on a connection: the threads and timelines are gathered first.
    thread: list[tuple] = []
    timeline: list[tuple] = []
    with CopyRows(conn, "COPY requests (id, customer_id, contact_id, channel, class, state, subject, description, caller, "
                     "tier, created_at, created_by, updated_at, response_due_at, responded_at, resolve_due_at, "
                     "resolved_at, closed_at, waiting_since, agent, sla_breached_at) FROM STDIN") as rows:
        for request_id in range(1, requests + 1):
            index = rng.randrange(customers)
            customer, tier = customer_tiers[index]
            response_h, resolve_h = tiers[tier]
            created = year_ago + timedelta(seconds=rng.uniform(0, 365 * 86400))
            channel, request_class = _pick(rng, CHANNELS), _pick(rng, CLASSES)
            agent = rng.choice(AGENTS)
            response_due, resolve_due = created + timedelta(hours=response_h), created + timedelta(hours=resolve_h)
            responded = created + timedelta(hours=rng.lognormvariate(0.5, 1.0) * response_h / 8)
            resolved = closed = waiting = breached = None
            if created < open_from:
                resolved = responded + timedelta(hours=rng.uniform(0.1, resolve_h))
                closed = resolved + timedelta(days=rng.uniform(1, 7))
                state = "closed" if closed < now else "resolved"
                closed = closed if state == "closed" else None
            else:
                state = rng.choice(["new", "open", "open", "waiting_customer"])
                if state == "new" or responded > now:
                    state, responded = "new", None
                if state == "waiting_customer":
                    waiting = min(now, responded + timedelta(hours=1))
                counts["open"] += 1
            if (responded or now) > response_due:
                breached = response_due
            rows.row(request_id, customer, index + 1, channel, request_class, state, f"Request {request_id}",
                     "What the customer said.", f"+4930{1000001 + index}", tier, created, "bench",
                     closed or resolved or responded or created, response_due, responded, resolve_due, resolved,
                     closed, waiting, agent, breached)
            thread.append((request_id, created, "in", channel, f"contact{index + 1}", "message", "The question."))
            timeline.append((request_id, created, "bench", None, "new", "received"))
            if responded:
                thread.append((request_id, responded, "out", channel, agent, "answer", "The answer."))
                timeline.append((request_id, responded, agent, "new", "open", "first response"))
            if resolved:
                timeline.append((request_id, resolved, agent, "open", "resolved", None))
            counts["requests"] += 1
    with CopyRows(conn, "COPY request_messages (request_id, at, direction, channel, author, kind, body) FROM STDIN") as rows:
        for row in thread:
            rows.row(*row)
    with CopyRows(conn, "COPY request_events (request_id, at, actor, from_state, to_state, note) FROM STDIN") as rows:
        for row in timeline:
            rows.row(*row)
    counts["messages"], counts["events"] = len(thread), len(timeline)
    conn.execute("SELECT setval('requests_id_seq', %s)", (requests,))
    conn.execute("VACUUM ANALYZE")
    return counts


_PROCESSES: list[subprocess.Popen] = []


def main(args) -> None:
    try:
        _main(args)
    finally:
        embedded.terminate(_PROCESSES)


def _main(args) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    base = get_settings()
    data_dir = Path(base.data_dir) / "bench-desk"
    data_dir.mkdir(parents=True, exist_ok=True)
    db_url = bench_database(base, data_dir, "pilecare_bench_desk")
    settings = base.model_copy(update={"database_url": db_url})
    customers, requests = int(args.customers), int(args.requests)
    rounds = int(getattr(args, "rounds", 0) or 200)
    began = time.monotonic()
    with psycopg.connect(db_url, autocommit=True) as conn:
        migrate(conn, settings)
        now = datetime.now(timezone.utc)
        seeded = seed_requests(conn, customers, requests, now)
        password = secrets.token_urlsafe(16)
        accounts.create(conn, "bench-agent", role=accounts.Role.AGENT, full_name="Bench Agent", password=password,
                        actor="bench")
        sample = conn.execute("SELECT id, customer_id FROM requests WHERE state = 'open' ORDER BY id DESC "
                              "LIMIT 1").fetchone()
    say(f"seeded in {time.monotonic() - began:.0f} s: " + ", ".join(f"{k} {v:,}" for k, v in seeded.items()))

    base_url, token, _ = serve_api(db_url, data_dir, _PROCESSES, "bench-agent", password)
    calls = ("/requests?open=true&limit=50", "/requests?open=true&breached=true&limit=50",
             f"/requests?customer_id={sample[1]}&limit=50", f"/requests/{sample[0]}")
    say(f"timing {', '.join(calls)}: {rounds} rounds after 10 warm-up rounds, one call at a time, over HTTP")
    timings = figures(measure(base_url, token, rounds, warmup=10, calls=calls))
    inbox_p95 = max(c["p95_ms"] for c in timings.values())

    from simulators.bench.desk_mail import measure_mail   # starts the listener on the bench database
    measured = measure_mail(settings, mails=int(args.mails), connections=int(args.connections), data_dir=data_dir)
    # The mail run's own figures, named as the mail's (its "met" and "p95_ms" are not the inbox's).
    mail = {k if k.startswith("mail") else f"mail_{k}": v for k, v in measured.items()}
    result = {"customers": customers, "requests": requests, "open_requests": seeded["open"],
              "inbox_p95_ms": inbox_p95, "target_inbox_p95_ms": TARGET_INBOX_P95_MS,
              "inbox_met": inbox_p95 <= TARGET_INBOX_P95_MS, "calls": timings, "rounds": rounds,
              **mail, "target_mails_per_s": TARGET_MAILS_PER_S,
              "mails_met": mail["mails_per_s"] >= TARGET_MAILS_PER_S}
    print(json.dumps(result), flush=True)
