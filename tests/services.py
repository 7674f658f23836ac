"""Real services for the tests: a fresh PostgreSQL database and a Mosquitto broker started
with the project's own config on a free port (Debian's default config drops queued
messages beyond 1,000 per client, which would hide loss)."""
from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

import psycopg

from gateway.broker_auth import ServiceRole, account_name, render_files, write_atomically
from gateway.credentials import hash_password, new_password
from pilecare.embedded import broker_config, free_port, mosquitto_binary, wait_port

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("PILECARE_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def database_url(name: str) -> str:
    return psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name)


def ensure_postgres() -> str | None:
    """Make ADMIN_URL reachable; return a reason when that is impossible.

    With no PostgreSQL on the default address (and no PILECARE_TEST_ADMIN_URL), start
    the embedded one the run command uses, so a fresh machine can run the tests.
    """
    global ADMIN_URL
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=5):
            return None
    except psycopg.OperationalError as error:
        if "PILECARE_TEST_ADMIN_URL" in os.environ:
            return f"PostgreSQL is not reachable at {ADMIN_URL}: {error}"
    from pilecare.embedded import start_postgres

    ADMIN_URL = start_postgres(ROOT / ".pilecare" / "test")
    return None


def create_database() -> tuple[str, str]:
    name = f"pilecare_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, database_url(name)


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Broker:
    """A Mosquitto process with the shipped config (no anonymous clients, password and ACL
    files); restartable with its persistence.

    Unless `files_from_db` (a test renders them with gateway/broker_auth.py), its files hold
    one service account with every right (`ServiceRole.ADMIN`), which `url` carries, so the
    suite's clients connect as before the broker was secured."""

    def __init__(self, workdir: Path, port: int | None = None, *, files_from_db: bool = False):
        self.workdir = workdir
        self.port = port or free_port()
        self.tls_port = free_port()
        self.process: subprocess.Popen | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = broker_config(workdir, self.port, self.tls_port)
        self.password_file, self.acl_file = workdir.resolve() / "passwords", workdir.resolve() / "acl"
        self.ca_file = workdir.resolve() / "tls" / "ca.crt"
        self.username, self.password = account_name(ServiceRole.ADMIN), new_password()
        if not files_from_db:
            rendered = render_files([(self.username, hash_password(self.password), ServiceRole.ADMIN.value)], [],
                                    "unused")
            write_atomically(self.acl_file, rendered.acl)
            write_atomically(self.password_file, rendered.passwords)

    @property
    def url(self) -> str:
        return f"mqtt://{self.username}:{self.password}@127.0.0.1:{self.port}"

    @property
    def anonymous_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = mosquitto_binary() or "mosquitto"
        log = open(self.workdir / "mosquitto.log", "ab")
        self.process = subprocess.Popen([binary, "-c", str(self.config)], stdout=log, stderr=log)
        wait_port(self.port)

    def stop(self) -> None:
        """Graceful stop: Mosquitto saves sessions and queued messages on SIGTERM."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()
