"""The broker's password and ACL files, rendered from PostgreSQL and kept in step.

Mosquitto (2.0) checks every CONNECT against `password_file` and every PUBLISH,
SUBSCRIBE and delivery against `acl_file`. pilecare owns both: they are written from
`device_credentials` (live `mqtt` credentials; username = pile id) and `broker_accounts`
(pilecare's own processes), atomically, and the broker is told to reload them with SIGHUP.
Why files and not the dynamic-security plugin: dynsec wants each password in plain text
when the client is created, while the files render from the stored hashes at any time, so
the broker is put right again after any outage of this process (a full render at start).

What the ACL grants (docs/device-protocol.md, "Security"):

- a pile (a `pattern` with `%u` = its username = its pile id) writes only
  `{prefix}/piles/<own id>/telemetry|status|events|commands/ack` and reads only
  `{prefix}/piles/<own id>/commands`;
- each service account what its process uses, by `ServiceRole` (`SERVICE_TOPICS`).

Anything not granted is refused by the broker: a denied PUBLISH is acknowledged and
dropped (MQTT 5: PUBACK "not authorized"); Mosquitto 2.0 grants a SUBSCRIBE to a topic the
client may not read but delivers it nothing, the ACL being applied to every message.

On SIGHUP Mosquitto 2.0 rereads both files and checks the clients already connected
against them: a pile whose credential was revoked (or rotated) is disconnected then, and
its reconnect is refused (tests/test_broker_auth.py). Between the change in PostgreSQL and
the reload lies at most a second (`keep_in_step`), or `FULL_RENDER_S` when a notification
was lost.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import psycopg

from gateway.credentials import hash_password, new_password

log = logging.getLogger(__name__)

CHANNEL = "device_credentials"  # NOTIFY'd by migration 0045's triggers
# A render this often even without a NOTIFY (a reconnect to PostgreSQL renders anyway): a
# file edited or replaced by hand is put back within this long. Unchanged files are not
# rewritten and the broker is not signalled.
FULL_RENDER_S = 60.0

# What a pile may do on its own topics. Mosquitto substitutes %u with the username (the
# pile id) and refuses the match when it holds + or # (a pile id cannot: piles.id CHECK).
PILE_WRITES = ("telemetry", "status", "events", "commands/ack")
PILE_READS = ("commands",)


class ServiceRole(str, Enum):
    """What a pilecare process is on the broker (`broker_accounts.role`); the account names
    are `pilecare-<role>` (`account_name`)."""

    INGEST = "ingest"                # uplink consumer
    MAINTENANCE = "maintenance"      # rules engine: triage commands, outbox notices
    API = "api"                      # commands a dispatcher sends; health probe
    OCPP_GATEWAY = "ocpp-gateway"    # bridges OCPP chargers onto the pile topics
    SIMULATOR = "simulator"          # the demo fleet in multiplexed mode (per-pile mode uses the piles' own)
    ADMIN = "admin"                  # operators' tools and the test suite: everything


SERVICE_NAMESPACE = "pilecare-"  # service account names and pilecare processes' MQTT client ids


def account_name(role: ServiceRole) -> str:
    return f"{SERVICE_NAMESPACE}{role.value}"


def service_topics(role: ServiceRole, prefix: str) -> list[tuple[str, str]]:
    """(access, topic filter) pairs for a service account: access is read, write or readwrite."""
    piles = f"{prefix}/piles/+"
    uplink = [f"{piles}/{leaf}" for leaf in PILE_WRITES]
    people = [f"{prefix}/engineers/+/work-orders", f"{prefix}/staff/+/notices"]
    if role is ServiceRole.INGEST:
        return [("read", t) for t in [*uplink, f"{piles}/ocpp"]]
    if role in (ServiceRole.MAINTENANCE, ServiceRole.API):
        return [("write", f"{piles}/commands"), *(("write", t) for t in people)]
    if role is ServiceRole.OCPP_GATEWAY:
        return [("write", f"{piles}/ocpp"), ("write", f"{piles}/status"), ("write", f"{piles}/commands/ack"),
                ("read", f"{piles}/commands")]
    if role is ServiceRole.SIMULATOR:
        return [*(("write", t) for t in uplink), ("read", f"{piles}/commands")]
    return [("readwrite", "#")]


@dataclass(frozen=True)
class Rendered:
    passwords: str
    acl: str
    piles: int
    accounts: int


def render(conn: psycopg.Connection, prefix: str) -> Rendered:
    """The password file and the ACL file for topic prefix `prefix`, from PostgreSQL."""
    accounts = conn.execute("SELECT username, password_hash, role FROM broker_accounts ORDER BY username").fetchall()
    piles = conn.execute(
        "SELECT pile_id, password_hash FROM device_credentials WHERE protocol = 'mqtt' AND revoked_at IS NULL "
        "ORDER BY pile_id").fetchall()
    return render_files(accounts, piles, prefix)


def render_files(accounts: list[tuple[str, str, str]], piles: list[tuple[str, str]], prefix: str) -> Rendered:
    """The files for service `accounts` (username, $7$ hash, role) and `piles` (pile id, $7$ hash).

    The password file has `username:hash` lines. A pile whose id equals a service account's
    name, or lies in pilecare's own namespace (`pilecare-…`, the service accounts' names and
    the processes' client ids, e.g. `pilecare-ingest-<host>`), is left out (logged): the
    ACL's `pattern` lines would otherwise mix their rights, and the piles' listener makes a
    pile's client id its username, so it would take over that process's session."""
    names = {a[0] for a in accounts}

    def reserved(pile_id: str) -> bool:
        return pile_id in names or pile_id.startswith(SERVICE_NAMESPACE)

    for pile_id, _ in piles:
        if reserved(pile_id):
            log.error("pile %r has a name of pilecare's own processes on the broker: its MQTT credential is not "
                      "rendered", pile_id)
    piles = [p for p in piles if not reserved(p[0])]
    passwords = "".join(f"{user}:{password_hash}\n" for user, password_hash, *_ in [*accounts, *piles])
    acl = ["# Written by pilecare (gateway/broker_auth.py) from PostgreSQL; edits are overwritten.",
           "# Piles: username = pile id, only their own topics."]
    acl += [f"pattern write {prefix}/piles/%u/{leaf}" for leaf in PILE_WRITES]
    acl += [f"pattern read {prefix}/piles/%u/{leaf}" for leaf in PILE_READS]
    for user, _, role in accounts:
        try:
            topics = service_topics(ServiceRole(role), prefix)
        except ValueError:
            log.error("broker account %r has unknown role %r: it gets no topics", user, role)
            topics = []
        acl += ["", f"user {user}", *(f"topic {access} {topic}" for access, topic in topics)]
    return Rendered(passwords, "\n".join(acl) + "\n", len(piles), len(accounts))


def write_atomically(path: Path, text: str) -> bool:
    """Replace `path` with `text` (mode 0600) by rename, so the broker never reads half a
    file; False when it already held exactly that. The new file keeps the owner of the one
    it replaces where this process may set it (as root, next to a broker that runs as its
    own user and rereads the file after dropping privileges: docker-compose.yml)."""
    path = Path(path)
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        if path.exists():
            owner = path.stat()
            try:
                os.chown(tmp, owner.st_uid, owner.st_gid)
            except PermissionError:
                pass  # not root: the file is ours, as the one it replaces was
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def ensure_service_account(conn: psycopg.Connection, role: ServiceRole, *, created_by: str) -> tuple[str, str]:
    """Create or re-key the service account of `role` with a new random password; returns
    (username, password). The password exists only in this answer (stored hashed), so a
    supervisor calls this at each start and hands it to its child through the environment."""
    password = new_password()
    return set_service_account(conn, role, password, created_by=created_by), password


class BrokerFiles:
    """The broker's two files and how to make it reread them.

    `broker_pid` (an int) or `broker_pid_file` (Mosquitto's own `pid_file`) names the process
    to SIGHUP; with neither, the files are only written (a broker started after them)."""

    def __init__(self, password_file: Path, acl_file: Path, *, broker_pid: int | None = None,
                 broker_pid_file: Path | None = None):
        self.password_file, self.acl_file = Path(password_file), Path(acl_file)
        self.broker_pid, self.broker_pid_file = broker_pid, broker_pid_file

    def write(self, conn: psycopg.Connection, prefix: str) -> bool:
        """Render and write both files; SIGHUP the broker when either changed. True if changed."""
        rendered = render(conn, prefix)
        # The ACL first: a pile whose password appears before its ACL line would be allowed
        # nothing for a moment, never more than it should.
        changed = write_atomically(self.acl_file, rendered.acl)
        changed = write_atomically(self.password_file, rendered.passwords) or changed
        if changed:
            log.info("broker files rendered: %d pile(s), %d service account(s)", rendered.piles, rendered.accounts)
            self.reload()
        return changed

    def reload(self) -> None:
        pid = self.broker_pid
        if pid is None and self.broker_pid_file is not None and self.broker_pid_file.exists():
            pid = int(self.broker_pid_file.read_text().split()[0])
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGHUP)  # Mosquitto 2.0 rereads password_file and acl_file
        except ProcessLookupError:
            log.warning("no broker process %d to reload; the files take effect when it starts", pid)


def keep_in_step(database_url: str, files: BrokerFiles, prefix: str, *, stop=None,
                 full_render_s: float = FULL_RENDER_S) -> None:
    """Render at start, then again on every NOTIFY on 'device_credentials' and at least every
    `full_render_s`; reconnects to PostgreSQL after an outage (with a full render). Runs until
    `stop` (a threading.Event) is set."""
    while stop is None or not stop.is_set():
        try:
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                files.write(conn, prefix)
                last = time.monotonic()
                while stop is None or not stop.is_set():
                    woken = False
                    for _ in conn.notifies(timeout=1.0):
                        woken = True  # keep draining: one render answers a whole burst
                    if woken or time.monotonic() - last >= full_render_s:
                        files.write(conn, prefix)
                        last = time.monotonic()
        except psycopg.OperationalError as error:
            log.warning("lost PostgreSQL (%s); rendering again once it is back", error)
            time.sleep(2)


def set_service_account(conn: psycopg.Connection, role: ServiceRole, password: str, *, created_by: str) -> str:
    """Create or re-key the service account of `role` with a given password (deployments that
    keep their secrets elsewhere, e.g. docker-compose's environment); returns its username."""
    username = account_name(role)
    conn.execute(
        "INSERT INTO broker_accounts (username, password_hash, role, created_by) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role",
        (username, hash_password(password), role.value, created_by))
    return username


def password_env(role: ServiceRole) -> str:
    """The environment variable `pilecare broker-auth --accounts-from-env` reads a role's
    password from: PILECARE_BROKER_PASSWORD_INGEST, …_OCPP_GATEWAY, …"""
    return "PILECARE_BROKER_PASSWORD_" + role.name


def start_admin_broker(data_dir: Path, port: int | None = None) -> tuple[str, subprocess.Popen]:
    """A local broker with the shipped config whose files hold one `ServiceRole.ADMIN` account
    (a new random password), for benchmarks and screenshots that run everything under one
    account. Returns (URL with that account's credentials, the broker process)."""
    from urllib.parse import quote

    from pilecare import embedded

    data_dir.mkdir(parents=True, exist_ok=True)
    password = new_password()
    rendered = render_files([(account_name(ServiceRole.ADMIN), hash_password(password), ServiceRole.ADMIN.value)], [],
                            "unused")
    write_atomically(data_dir / "acl", rendered.acl)
    write_atomically(data_dir / "passwords", rendered.passwords)
    url, process = embedded.start_broker(data_dir, port)
    return url.replace("mqtt://", f"mqtt://{account_name(ServiceRole.ADMIN)}:{quote(password, safe='')}@", 1), process


def main(settings, args) -> None:
    """`pilecare broker-auth`: (optionally) set the service accounts from the environment,
    then render the files and keep them in step until SIGTERM (or once, with --once)."""
    import threading

    from pilecare.db import database_url

    url = database_url(settings)
    if args.accounts_from_env:
        with psycopg.connect(url, autocommit=True) as conn:
            for role in ServiceRole:
                if os.environ.get(password_env(role)):
                    set_service_account(conn, role, os.environ[password_env(role)], created_by="pilecare broker-auth")
    if args.tls_dir:
        from pilecare.embedded import local_tls

        local_tls(Path(args.tls_dir), hosts=tuple(args.tls_host or ("localhost", "127.0.0.1", "mosquitto")))
    files = BrokerFiles(Path(args.password_file), Path(args.acl_file), broker_pid=args.broker_pid,
                        broker_pid_file=Path(args.broker_pid_file) if args.broker_pid_file else None)
    if args.once:
        with psycopg.connect(url, autocommit=True) as conn:
            files.write(conn, settings.topic_prefix)
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("keeping %s and %s in step with PostgreSQL", files.password_file, files.acl_file)
    keep_in_step(url, files, settings.topic_prefix, stop=stop)
