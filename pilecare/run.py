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
from gateway.broker_auth import ServiceRole
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
    settings = settings.model_copy(update={"database_url": database_url})

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
        # The local broker is secured as in production: its files are rendered before it starts.
        accounts = None if settings.mqtt_url else secure_local_broker(conn, data_dir, settings.topic_prefix)

    if accounts is None:  # PILECARE_MQTT_URL: that broker, with the account in the URL, for every process
        mqtt_url, tls_note = settings.mqtt_url, ""
        mqtt_urls = {role: mqtt_url for role in _MQTT_ROLES}
    else:
        broker_dir = data_dir / "broker"
        tls_port = _port_or_free(8883)
        mqtt_url = embedded.start_broker(broker_dir, port=_port_or_free(1883), tls_port=tls_port)[0]
        mqtt_urls = {role: _with_account(mqtt_url, *accounts[role]) for role in _MQTT_ROLES}
        tls_note = (f"\n                   piles: mqtts://127.0.0.1:{tls_port} (CA {broker_dir / 'tls' / 'ca.crt'}), "
                    f"each with its own password ({data_dir / DEVICE_CREDENTIALS})")
    settings = settings.model_copy(update={"mqtt_url": mqtt_url})

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
    instance.write_text(json.dumps({"database_url": database_url, "mqtt_url": _without_account(mqtt_url),
                                    "api_url": f"http://{settings.api_host}:{port}", "smtp": smtp_address,
                                    "pid": os.getpid()}) + "\n")
    policy_note = _demo_policy(settings, data_dir, args.verify_minutes, args.speed)
    # Processes that do not speak MQTT get the broker's address without an account.
    env = dict(os.environ, PILECARE_DATABASE_URL=database_url, PILECARE_MQTT_URL=_without_account(mqtt_url),
               PILECARE_POLICY_FILE=settings.policy_file or str(data_dir / DEMO_POLICY),
               # One worker here: a plain subscription survives broker restarts (topics.py).
               PILECARE_INGEST_GROUP=os.environ.get("PILECARE_INGEST_GROUP", ""),
               PILECARE_SMTP_PORT=str(smtp_port), PILECARE_MAIL_RELAY=relay, PILECARE_OCPP_PORT=str(ocpp_port))
    api_url = f"http://{settings.api_host}:{port}"
    # The fleet hears of completed repairs from the API (simulators/repairs.py), and the crew
    # works through it (simulators/field_crew.py): both with the accounts in crew-accounts.
    crew_args = [] if args.no_crew else ["--api", api_url, "--bad-repair-share", str(args.bad_repair_share)]
    # Each process that speaks MQTT connects with its own service account (gateway/broker_auth.py).
    as_ = {role: dict(env, PILECARE_MQTT_URL=url) for role, url in mqtt_urls.items()}
    credentials = [] if accounts is None else ["--credentials", str(data_dir / DEVICE_CREDENTIALS)]
    children = [
        Child("ingest", ["ingest"], as_[ServiceRole.INGEST], log_dir),
        Child("maintenance", ["maintenance"], as_[ServiceRole.MAINTENANCE], log_dir),
        Child("api", ["api", "--host", settings.api_host, "--port", str(port)], as_[ServiceRole.API], log_dir),
        Child("smtp", ["smtp"], env, log_dir),
        # OCPP chargers' central system (docs/ocpp.md); it publishes what chargers send for ingest.
        Child("ocpp", ["ocpp"], as_[ServiceRole.OCPP_GATEWAY], log_dir),
        Child("simulator", ["simulate", "--interval", str(args.interval), "--speed", str(args.speed),
                            "--fault-rate", str(args.fault_rate), "--piles", str(args.piles), *credentials,
                            *crew_args],
              as_[ServiceRole.SIMULATOR], log_dir),
    ]
    if accounts is not None:
        # Keeps the broker's files in step with device credentials issued, rotated or revoked
        # through the API while the platform runs (SIGHUP to the broker on every change).
        children.append(Child("broker-auth", ["broker-auth", "--password-file", str(broker_dir / "passwords"),
                                              "--acl-file", str(broker_dir / "acl"),
                                              "--broker-pid-file", str(broker_dir / "mosquitto.pid")], env, log_dir))
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
        f"  broker           {_without_account(mqtt_url)}  (topics {settings.topic_prefix}/piles/…){tls_note}\n"
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
DEVICE_CREDENTIALS = "device-credentials"
# The processes `run` starts that speak MQTT, each as its own service account.
_MQTT_ROLES = (ServiceRole.INGEST, ServiceRole.MAINTENANCE, ServiceRole.API, ServiceRole.SIMULATOR,
               ServiceRole.OCPP_GATEWAY)


def secure_local_broker(conn, data_dir: Path, prefix: str) -> dict:
    """Before the local broker starts: a service account per process (new random passwords,
    stored hashed; returned as {role: (username, password)} for the children's environment),
    an MQTT credential for every pile of the demo fleet that has none the simulator knows
    (<data_dir>/device-credentials, mode 0600, 'pile_id password' lines), and the broker's
    password and ACL files rendered from all of it (<data_dir>/broker/)."""
    from gateway import broker_auth, credentials
    from simulators.runner import read_credentials

    accounts = {role: broker_auth.ensure_service_account(conn, role, created_by="pilecare run") for role in _MQTT_ROLES}
    path = data_dir / DEVICE_CREDENTIALS
    known = read_credentials(str(path)) if path.exists() else {}
    live = {r[0] for r in conn.execute(
        "SELECT pile_id FROM device_credentials WHERE protocol = 'mqtt' AND revoked_at IS NULL")}
    piles = [r[0] for r in conn.execute("SELECT id FROM piles ORDER BY id")]
    lines = ["# pile_id password: the demo fleet's MQTT credentials (written by `pilecare run`)"]
    for pile_id in piles:
        if pile_id not in live or pile_id not in known:  # a password we never saw is useless to the simulator
            known[pile_id] = credentials.issue(conn, pile_id, credentials.Protocol.MQTT, issued_by="pilecare run").password
        lines.append(f"{pile_id} {known[pile_id]}")
    broker_auth.write_atomically(path, "\n".join(lines) + "\n")
    broker_dir = data_dir / "broker"
    embedded.broker_config(broker_dir, 1883)  # the empty files and the certificates, before the first render
    broker_auth.BrokerFiles(broker_dir / "passwords", broker_dir / "acl").write(conn, prefix)
    return accounts


def _with_account(url: str, username: str, password: str) -> str:
    from urllib.parse import quote

    scheme, rest = url.split("://", 1)
    return f"{scheme}://{quote(username, safe='')}:{quote(password, safe='')}@{rest}"


def _without_account(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{rest.rpartition('@')[2]}"


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
