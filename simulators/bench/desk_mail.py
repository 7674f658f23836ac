"""`pilecare bench desk-mail --mails 2000 --connections 4`: inbound mail, end to end.

One SMTP listener (`pilecare smtp`, its own process, as in production) takes mail from a few
sending connections at once — each a sending server that keeps its connection open and
sends its mails one after another, as mail servers do. Every mail is timed from the start of
its SMTP transaction to the listener's 250, which is answered only after the mail's request
is committed: so `mails_per_s` is SMTP accept → request committed, over the whole run.

Four mails in five open a request (a contact of a seeded customer, a few unknown senders),
one in five replies to a request its connection opened before (In-Reply-To the customer's
first mail, "[SR-n]" in the subject) and joins it. Senders are spread so that none passes
the desk's hourly per-sender limit: nothing is quarantined, and the run checks that every
mail arrived exactly once. The last line printed is JSON.
"""
from __future__ import annotations

import json
import os
import random
import re
import smtplib
import subprocess
import sys
import threading
import time
import zlib
from email.message import EmailMessage
from pathlib import Path

import psycopg

from maintenance import policy as policies
from pilecare import embedded
from pilecare.migrate import migrate
from pilecare.settings import Settings, get_settings
from simulators.bench.ingest import bench_database, say

TARGET_MAILS_PER_S = 50
DESK = "service@pilecare.local"
SUBJECTS = ["Pile {pile} is not charging", "Invoice question for March", "Cable stuck in connector 2 at {pile}",
            "Can you install two new piles at our depot?", "Display shows error E-42", "Opening hours of the hotline",
            "Complaint about the last visit", "Suggestion: show the price on the screen", "Card reader offline",
            "Charging stops after 10 minutes"]
BODY = ("Hello,\n\n{line}\n\nThe charger is at our {site} site, serial SN-{pile}. It started {when}.\n"
        "Could you please have a look and tell us when an engineer can come?\n\nKind regards\n{name}\n")
LINES = ["Our drivers report that the pile does not start a session.", "The display stays dark since the storm.",
         "We were charged twice for the same session.", "The connector will not release the cable.",
         "We would like to add two more charging points next month."]


def seed_senders(conn: psycopg.Connection, count: int) -> list[str]:
    """Contact addresses to send from: the database's own contacts, topped up with bench customers."""
    have = [r[0] for r in conn.execute("SELECT lower(email) FROM customer_contacts WHERE email IS NOT NULL AND active "
                                       "ORDER BY id LIMIT %s", (count,))]
    with conn.cursor() as cur:
        for i in range(len(have), count):
            cur.execute("INSERT INTO customers (id, name, tier) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                        (f"MAIL-{i:04d}", f"Mail Bench Customer {i}", ("standard", "gold", "platinum")[i % 3]))
            cur.execute("INSERT INTO customer_contacts (customer_id, name, email) VALUES (%s, %s, %s)",
                        (f"MAIL-{i:04d}", f"Contact {i}", f"desk{i}@customer{i}.example"))
            have.append(f"desk{i}@customer{i}.example")
    return have


def _mail(rng: random.Random, sender: str, n: int, reply_to: tuple[str, int, str] | None = None) -> tuple[str, bytes]:
    """(Message-ID, the mail as a sending server transmits it: CRLF lines)."""
    message = EmailMessage()
    pile = f"TP-{rng.randint(1, 9999):04d}"
    message["From"] = sender
    message["To"] = DESK
    message["Message-ID"] = f"<bench.{n}.{rng.getrandbits(64):x}@{sender.rpartition('@')[2]}>"
    if reply_to:
        first_id, request_id, subject = reply_to
        message["Subject"] = f"Re: [SR-{request_id}] {subject}"
        message["In-Reply-To"] = message["References"] = f"<{first_id}>"
        message.set_content("Any news on this? The problem is still there.\n\n> " + subject)
    else:
        message["Subject"] = rng.choice(SUBJECTS).format(pile=pile)
        message.set_content(BODY.format(line=rng.choice(LINES), site=rng.choice(["north", "harbour", "airport"]),
                                        pile=pile, when=rng.choice(["yesterday", "this morning", "last week"]),
                                        name=sender.partition("@")[0].title()))
    return message["Message-ID"].strip("<>"), re.sub(rb"(?<!\r)\n", b"\r\n", message.as_bytes())


def _sender(port: int, mails: list[tuple[str, int, str, bytes]], seed: int, out: dict,
            lock: threading.Lock) -> None:
    """One sending server: one connection, its mails one after another; a fifth of them are
    replies to a request this connection opened for the same sender (composed on the way, as
    only then is the request's number known)."""
    rng = random.Random(seed)
    opened: dict[str, list[tuple[str, int, str]]] = {}
    latencies, answers = [], []
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=60)
    smtp.ehlo("mx.bench.example")
    try:
        for sender, n, subject, raw in mails:
            reply = rng.choice(opened[sender]) if sender in opened and rng.random() < 0.2 else None
            message_id, raw = _mail(rng, sender, n, reply) if reply else (None, raw)
            started = time.perf_counter()
            smtp.mail(sender)
            smtp.rcpt(DESK)
            code, text = smtp.data(raw)
            latencies.append(time.perf_counter() - started)
            answers.append(text.decode())
            if not reply and (found := re.search(r"SR-(\d+)", text.decode())):
                first_id = re.search(rb"Message-ID: <([^>]+)>", raw).group(1).decode()
                opened.setdefault(sender, []).append((first_id, int(found.group(1)), subject))
    finally:
        smtp.quit()
    with lock:
        out["latencies"] += latencies
        out["answers"] += answers


_COUNTS = ("SELECT (SELECT count(*) FROM requests), (SELECT count(*) FROM mail_received), "
           "(SELECT count(*) FROM mail_quarantine)")


def _warm_up(port: int, connections: int) -> None:
    """A mail per connection at once before the clock starts, so the listener's worker threads
    have their database connections (opened at a thread's first mail) when it does."""
    def one(i: int) -> None:
        _, raw = _mail(random.Random(i), f"warm-up{i}@bench.example", -1 - i)
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            smtp.sendmail(f"warm-up{i}@bench.example", [DESK], raw)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def measure(database_url: str, *, mails: int = 2000, connections: int = 4, seed: int = 1,
            log_dir: Path | None = None) -> dict:
    """Send `mails` mails over `connections` SMTP connections to one listener on `database_url`
    (migrated); returns {"mails_per_s", "p50_ms", "p95_ms", "p99_ms", "opened", "joined",
    "quarantined", "lost", …}."""
    limit = policies.load().desk.mail_per_sender_per_h
    with psycopg.connect(database_url, autocommit=True) as conn:
        # Under half the hourly limit each, replies included, whatever ran before in this hour.
        senders = seed_senders(conn, max(1, -(-mails // max(1, limit // 2))))
    rng = random.Random(seed)
    plan = [(rng.choice(senders) if rng.random() > 0.05 else f"someone{n}@freemail.example", n) for n in range(mails)]
    # Each sender's mails go over one connection, so its replies follow its own first mails.
    # Composed before the clock starts: the figure is the listener's, not this process's.
    shares: list[list[tuple[str, int, str, bytes]]] = [[] for _ in range(connections)]
    for sender, n in plan:
        _, raw = _mail(rng, sender, n)
        subject = re.search(rb"Subject: ([^\r]*)", raw).group(1).decode()
        shares[zlib.crc32(sender.encode()) % connections].append((sender, n, subject, raw))

    port = embedded.free_port()
    log_dir = log_dir or Path(get_settings().data_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PILECARE_DATABASE_URL=database_url, PILECARE_SMTP_HOST="127.0.0.1",
               PILECARE_SMTP_PORT=str(port), PILECARE_DESK_ADDRESS=DESK)
    env.pop("PILECARE_POLICY_FILE", None)
    listener = subprocess.Popen([sys.executable, "-m", "pilecare.cli", "smtp"], env=env,
                                stdout=subprocess.DEVNULL, stderr=open(log_dir / "bench-smtp.log", "ab"))
    try:
        embedded.wait_port(port, 30)
        _warm_up(port, connections)
        with psycopg.connect(database_url, autocommit=True) as conn:
            before = conn.execute(_COUNTS).fetchone()
        out, lock = {"latencies": [], "answers": []}, threading.Lock()
        threads = [threading.Thread(target=_sender, args=(port, share, seed + i, out, lock))
                   for i, share in enumerate(shares)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
    finally:
        embedded.terminate([listener], 15)

    with psycopg.connect(database_url, autocommit=True) as conn:
        after = conn.execute(_COUNTS).fetchone()
    latencies = sorted(out["latencies"])
    received = after[1] - before[1]

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1) if latencies else 0.0

    opened = after[0] - before[0]
    return {"mails": mails, "connections": connections, "seconds": round(seconds, 2),
            "mails_per_s": round(len(latencies) / seconds, 1), "p50_ms": pct(0.50), "p95_ms": pct(0.95),
            "p99_ms": pct(0.99), "opened": opened, "joined": received - opened - (after[2] - before[2]),
            "quarantined": after[2] - before[2], "lost": mails - received,
            "target_mails_per_s": TARGET_MAILS_PER_S, "met": len(latencies) / seconds >= TARGET_MAILS_PER_S}


def measure_mail(settings: Settings, *, mails: int = 2000, connections: int = 4, data_dir: Path | None = None) -> dict:
    """`measure` on `settings.database_url` (migrated, e.g. `pilecare bench desk`'s seeded database)."""
    return measure(settings.database_url, mails=mails, connections=connections, log_dir=data_dir)


def run(mails: int = 2000, connections: int = 4, seed: int = 1) -> dict:
    """`measure` on a fresh, migrated throwaway database; returns its figures."""
    base = get_settings()
    data_dir = Path(base.data_dir) / "bench-desk-mail"
    data_dir.mkdir(parents=True, exist_ok=True)
    url = bench_database(base, data_dir, "pilecare_bench_desk_mail")
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, base.model_copy(update={"database_url": url}))
    return measure(url, mails=mails, connections=connections, seed=seed, log_dir=data_dir)


def main(args) -> None:
    mails, connections = getattr(args, "mails", 2000) or 2000, getattr(args, "connections", 4) or 4
    say(f"sending {mails:,} mails over {connections} SMTP connections to one `pilecare smtp` listener")
    result = run(mails, connections)
    say(f"{result['mails_per_s']} mails/s (target ≥ {TARGET_MAILS_PER_S}), SMTP transaction → 250 after commit: "
        f"p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms; "
        f"{result['opened']} requests opened, {result['joined']} replies joined, {result['quarantined']} quarantined, "
        f"{result['lost']} lost")
    print(json.dumps(result))
