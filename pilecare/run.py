"""`pilecare run`: the whole platform on one machine.

With no configuration it starts an embedded PostgreSQL and a Mosquitto broker (data in
`.pilecare/`); with PILECARE_DATABASE_URL / PILECARE_MQTT_URL set it uses those. Then it
migrates, seeds a fleet when the registry is empty, and supervises ingest, the API,
the service desk's SMTP listener, the OCPP central system, a simulated fleet and its field crew (unless --no-crew:
simulators/field_crew.py, which works the offers through the API while the fleet hears of
the repairs from its event stream; the desk crowd; the parts keeper) as child processes,
restarting any that dies. Suppliers, rates, budgets and a few months of stores history are
seeded where missing (simulators/stores_seed.py). Without PILECARE_MAIL_RELAY the desk's
outbound mail goes to a local catcher (.pilecare/mail/*.eml).
"""
from __future__ import annotations

import logging
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from pilecare import embedded
from pilecare.db import INSTANCE_FILE
from pilecare.migrate import migrate
from pilecare.settings import get_settings

log = logging.getLogger(__name__)


class Child:
    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path):
        self.name, self.argv, self.env = name, argv, env
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.restarts = 0

    def start(self) -> None:
        out = open(self.log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "pilecare.cli", *self.argv], env=self.env,
                                        stdout=out, stderr=out)

    def check(self) -> None:
        if self.process and self.process.poll() is not None:
            self.restarts += 1
            log.error("%s exited with %s; restarting (log: %s)", self.name, self.process.returncode, self.log_path)
            time.sleep(min(2 ** self.restarts, 30))
            self.start()

    def stop(self, timeout: float = 30) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()


def main(args) -> None:
    settings = get_settings()
    data_dir = Path(settings.data_dir).resolve()
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    database_url = settings.database_url or embedded.start_postgres(data_dir)
    mqtt_url = settings.mqtt_url or embedded.start_broker(data_dir / "broker", port=_port_or_free(1883))[0]
    settings = settings.model_copy(update={"database_url": database_url, "mqtt_url": mqtt_url})

    with psycopg.connect(database_url, autocommit=True) as conn:
        migrate(conn, settings)
        if conn.execute("SELECT count(*) FROM piles").fetchone()[0] == 0:
            from simulators.fleetgen import seed_fleet
            from simulators.pm_history import seed_pm_history

            print(seed_fleet(conn, piles=args.piles, seed=1), flush=True)
            print(seed_pm_history(conn, seed=1), flush=True)  # a demo that starts mostly compliant
        if conn.execute("SELECT count(*) FROM engineers").fetchone()[0] == 0:
            from simulators.crew import seed_crew

            print(seed_crew(conn, seed=1), flush=True)
        from simulators.stores_seed import seed_stores

        # Suppliers, rates, budgets, starting reorder levels and a few months' history, where missing.
        print(seed_stores(conn, seed=1), flush=True)
        admin_note = first_accounts(conn, data_dir)
        if not args.no_crew:
            from simulators.crew_accounts import ACCOUNTS_FILE, ensure_accounts

            crew_accounts = ensure_accounts(conn, data_dir / ACCOUNTS_FILE)

    port = args.port or _port_or_free(settings.api_port)
    smtp_port = _port_or_free(settings.smtp_port)
    smtp_address = f"{settings.smtp_host}:{smtp_port}"
    ocpp_port = _port_or_free(settings.ocpp_port)
    ocpp_endpoint = settings.model_copy(update={"ocpp_port": ocpp_port}).ocpp_endpoint()
    relay, catcher = settings.mail_relay, None
    if not relay:
        from simulators.mail_catcher import MailCatcher

        # The world's mail servers stand-in: acknowledgements and answers land here as .eml files.
        catcher = MailCatcher(data_dir / "mail", port=_port_or_free(2526)).start()
        relay = catcher.address
    # Other commands (`pilecare users create`, `pilecare migrate`, …) run without configuration
    # find this instance here while it runs (pilecare.db.database_url).
    instance = data_dir / INSTANCE_FILE
    instance.write_text(json.dumps({"database_url": database_url, "mqtt_url": mqtt_url,
                                    "api_url": f"http://{settings.api_host}:{port}", "smtp": smtp_address,
                                    "pid": os.getpid()}) + "\n")
    policy_note = _demo_policy(settings, data_dir, args.verify_minutes, args.speed)
    env = dict(os.environ, PILECARE_DATABASE_URL=database_url, PILECARE_MQTT_URL=mqtt_url,
               PILECARE_POLICY_FILE=settings.policy_file or str(data_dir / DEMO_POLICY),
               # One worker here: a plain subscription survives broker restarts (topics.py).
               PILECARE_INGEST_GROUP=os.environ.get("PILECARE_INGEST_GROUP", ""),
               PILECARE_SMTP_PORT=str(smtp_port), PILECARE_MAIL_RELAY=relay, PILECARE_OCPP_PORT=str(ocpp_port))
    api_url = f"http://{settings.api_host}:{port}"
    # The fleet hears of completed repairs from the API (simulators/repairs.py), and the crew
    # works through it (simulators/field_crew.py): both with the accounts in crew-accounts.
    crew_args = [] if args.no_crew else ["--api", api_url, "--bad-repair-share", str(args.bad_repair_share)]
    children = [
        Child("ingest", ["ingest"], env, log_dir),
        Child("maintenance", ["maintenance"], env, log_dir),
        Child("api", ["api", "--host", settings.api_host, "--port", str(port)], env, log_dir),
        Child("smtp", ["smtp"], env, log_dir),
        # OCPP chargers' central system (docs/ocpp.md); it publishes what chargers send for ingest.
        Child("ocpp", ["ocpp"], env, log_dir),
        Child("simulator", ["simulate", "--interval", str(args.interval), "--speed", str(args.speed),
                            "--fault-rate", str(args.fault_rate), "--piles", str(args.piles), *crew_args],
              env, log_dir),
    ]
    for child in children:
        child.start()

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    embedded.wait_port(port, timeout=60)
    if not args.no_crew:  # once the API answers: the crew's first look at its phones would fail before
        children.append(Child("crew", ["crew", "--api", api_url, "--speed", str(args.speed)], env, log_dir))
        # The busy desk: customers mail the listener and call, demo agents work the inbox.
        children.append(Child("desk-crowd", ["desk-crowd", "--api", api_url, "--smtp", smtp_address,
                                             "--speed", str(args.speed)], env, log_dir))
        # The stores: the demo-keeper restocks vans, orders, receives and inspects (simulators/parts_keeper.py).
        children.append(Child("parts-keeper", ["parts-keeper", "--api", api_url, "--speed", str(args.speed)], env,
                              log_dir))
        for child in children[-3:]:
            child.start()
    print(
        f"\npilecare is running\n"
        f"  console          http://{settings.api_host}:{port}/\n"
        f"  API              http://{settings.api_host}:{port}/docs   (fleet: /fleet/health, ingest: /ingest/stats)\n"
        f"  database         {database_url}\n"
        f"  broker           {mqtt_url}  (topics {settings.topic_prefix}/piles/…)\n"
        f"  OCPP             {ocpp_endpoint}  (1.6-J and 2.0.1, HTTP Basic: POST /piles/{{id}}/credentials/ocpp; "
        f"docs/ocpp.md)\n"
        f"  smtp             {smtp_address}  (service desk mail to {settings.desk_address}; outbound "
        + (f"caught in {catcher.folder})\n" if catcher else f"through {relay})\n") +
        f"  logs             {log_dir}\n"
        f"  policy           {policy_note}\n"
        f"  login            {admin_note}\n"
        + ("" if args.no_crew else
           f"  demo crew        {sum(a.role == 'engineer' for a in crew_accounts)} simulated engineers work the "
           f"offers (accounts in {data_dir / 'crew-accounts'}); the engineer account's jobs are yours\n"
           f"  demo desk        customers mail, call and use the portal; {sum(a.role == 'agent' for a in crew_accounts)} "
           f"demo agents work the inbox (the agent account's desk is yours too)\n"
           f"  demo stores      demo-keeper restocks vans, orders from suppliers, receives, inspects and "
           f"stock-takes; log in as demo-manager for costs, budgets and reports (both in crew-accounts)\n") +
        f"  commands         .venv/bin/pilecare users create …  (finds this instance through {instance})\n"
        f"Press Ctrl-C to stop.\n",
        flush=True,
    )
    try:
        while not stopping:
            for child in children:
                child.check()
            time.sleep(1)
    finally:
        # Piles first (clean disconnects, no last wills), then ingest drains and acks.
        for child in children[::-1]:
            child.stop()
        if catcher is not None:
            catcher.stop()
        instance.unlink(missing_ok=True)
        print("pilecare stopped", flush=True)


DEMO_POLICY = "policy.yaml"


def _demo_policy(settings, data_dir: Path, verify_minutes: float, speed: float) -> str:
    """Without PILECARE_POLICY_FILE, the demo runs the shipped policy with a shorter
    verification hold-off, written to .pilecare/policy.yaml for every process to read: at
    30 minutes a fresh demo verifies nothing in its first half hour. And its vans drive at
    the simulation's `speed`, so the fastest plausible van (arrival_max_speed_kmh) is the
    shipped one × speed. Everything else — and every clock — is the shipped policy's, on the
    wall clock. Returns the banner's line."""
    if settings.policy_file:
        return f"{settings.policy_file} (PILECARE_POLICY_FILE)"
    import yaml

    from maintenance import policy as policies

    shipped = policies.load(None)
    demo = shipped.model_copy(update={"verify_s": round(verify_minutes * 60),
                                      "arrival_max_speed_kmh": shipped.arrival_max_speed_kmh * max(speed, 1.0)})
    path = data_dir / DEMO_POLICY
    path.write_text("# Written by `pilecare run` (--verify-minutes): the shipped policy\n"
                    "# (maintenance/policy.default.yaml) with the demo's verification hold-off.\n"
                    + yaml.safe_dump(demo.model_dump(mode="json"), sort_keys=False, allow_unicode=True))
    policies.load(str(path))  # what the processes will read must parse
    return (f"{path}: the shipped policy, verification after {verify_minutes:g} min healthy "
            f"(shipped: {shipped.verify_s // 60} min; --verify-minutes), vans at {max(speed, 1.0):g}× speed")


def first_accounts(conn, data_dir: Path) -> str:
    """On a database without accounts, one account per role (issue 12, item 7), each with a
    random password kept in <data_dir>/accounts (mode 0600, one "role user password" line
    each); the engineer's is linked to an engineer on shift now, so "My jobs" has work, and the
    customer's (the portal) to the first customer. The admin's password is also kept in <data_dir>/admin-password. Returns the banner's line."""
    import secrets

    from api import accounts

    path, admin_path = data_dir / "accounts", data_dir / "admin-password"
    if conn.execute("SELECT count(*) FROM users").fetchone()[0] == 0:
        on_shift = conn.execute(
            "SELECT e.id FROM engineers e WHERE e.active AND EXISTS (SELECT 1 FROM engineer_shifts s "
            "WHERE s.engineer_id = e.id AND s.starts_at <= now() AND s.ends_at > now()) ORDER BY e.id LIMIT 1"
        ).fetchone() or conn.execute("SELECT id FROM engineers WHERE active ORDER BY id LIMIT 1").fetchone()
        customer = conn.execute("SELECT id FROM customers ORDER BY id LIMIT 1").fetchone()
        lines = []
        for role in accounts.Role:
            if role is accounts.Role.ENGINEER and on_shift is None:
                continue  # no crew to link an engineer's login to
            if role is accounts.Role.CUSTOMER and customer is None:
                continue  # no customer for a portal login to belong to
            password = secrets.token_urlsafe(12)
            accounts.create(conn, role.value, role=role, full_name=f"Demo {role.value}", password=password,
                            actor="pilecare run",
                            engineer_id=on_shift[0] if role is accounts.Role.ENGINEER else None,
                            customer_id=customer[0] if role is accounts.Role.CUSTOMER else None)
            lines.append(f"{role.value} {role.value} {password}")
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        admin_path.write_text(lines[0].split()[-1] + "\n")
        admin_path.chmod(0o600)
    if admin_path.exists():
        more = f"one account per role in {path}" if path.exists() else "more accounts: pilecare users create"
        return f"admin / {admin_path.read_text().strip()}   (from {admin_path}; {more})"
    return "an existing account (pilecare users create adds one)"


def _port_or_free(preferred: int) -> int:
    import socket

    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", preferred)) != 0:
            return preferred
    return embedded.free_port()
