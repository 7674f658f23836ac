"""The service desk's inbound SMTP listener (`pilecare smtp`; R-INTAKE): sending mail servers
deliver straight to it, so no mailbox fetcher can stall or drop mail.

Each mail is taken by mail_in.take on a worker thread, each thread with its own PostgreSQL
connection (opened again when it breaks), and the sending server is answered:
- `250 OK: SR-<n>` (or `250 OK: held` for quarantined mail) only after the commit;
- `451 4.3.0 …` while the database is away, and for any other failure of one mail (logged):
  a temporary answer, so the sending server keeps the mail and retries — nothing is dropped;
  its retry carries the same Message-ID and is taken once (mail_in.py);
- `550 5.1.1` for a recipient outside the desk's domain, `552` for a mail over the size limit.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
from aiosmtpd.controller import Controller

from maintenance import policy as policies
from maintenance.policy import Policy
from maintenance.servicedesk import mail_in
from pilecare.db import configure, database_url
from pilecare.embedded import free_port
from pilecare.settings import Settings

log = logging.getLogger(__name__)

TEMPORARY = "451 4.3.0 The service desk cannot store mail right now; please try again later"
# A database that stops answering (a cut network, not a refused connection) must turn into a
# 451 well within the sending server's 10-minute DATA timeout (RFC 5321 §4.5.3.2.6).
_CONNECT = {"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
            "keepalives_count": 3, "tcp_user_timeout": 30_000}


class DeskHandler:
    """aiosmtpd handler: recipients of the desk's domain, each mail to mail_in.take."""

    def __init__(self, settings: Settings, policy: Policy, *, workers: int = 4):
        self.url = database_url(settings)
        self.policy = policy
        self.domain = settings.desk_address.rpartition("@")[2].lower()
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smtp-take")
        self.local = threading.local()
        self.connections: list[psycopg.Connection] = []
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options) -> str:
        if address.rpartition("@")[2].lower() != self.domain:
            return f"550 5.1.1 <{address}>: not an address of the service desk"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        loop = asyncio.get_running_loop()
        try:
            taken = await loop.run_in_executor(self.pool, self.take, envelope.content, envelope.mail_from or "")
        except (psycopg.OperationalError, psycopg.InterfaceError) as error:
            log.warning("mail from %s not taken, database unavailable (answered 451): %s", envelope.mail_from,
                        str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)
            return TEMPORARY
        except Exception:
            log.exception("mail from %s not taken (answered 451; the sender will retry)", envelope.mail_from)
            return TEMPORARY
        return f"250 OK: {taken.reference}"

    def take(self, raw: bytes, mail_from: str) -> mail_in.Taken:
        """On a worker thread: take one mail on this thread's connection."""
        conn = self._connection()
        try:
            return mail_in.take(conn, self.policy, raw, mail_from=mail_from)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            self._drop(conn)   # the next mail on this thread connects again
            raise

    def _connection(self) -> psycopg.Connection:
        conn = getattr(self.local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                self._drop(conn)
            conn = psycopg.connect(self.url, autocommit=True, application_name="pilecare-smtp", **_CONNECT)
            configure(conn)
            self.local.conn = conn
            with self.lock:
                self.connections.append(conn)
        return conn

    def _drop(self, conn: psycopg.Connection) -> None:
        self.local.conn = None
        with self.lock:
            if conn in self.connections:
                self.connections.remove(conn)
        conn.close()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        with self.lock:
            for conn in self.connections:
                conn.close()
            self.connections.clear()


class SmtpListener:
    """The listener on (host, port): `start()`, `stop()`; port 0 picks a free one."""

    def __init__(self, settings: Settings, *, host: str | None = None, port: int | None = None,
                 policy: Policy | None = None, workers: int = 4):
        self.handler = DeskHandler(settings, policy or policies.load(settings.policy_file), workers=workers)
        self.host = host or settings.smtp_host
        self.port = settings.smtp_port if port is None else port or free_port()
        self.controller = Controller(self.handler, hostname=self.host, port=self.port,
                                     data_size_limit=settings.smtp_max_bytes, ident="pilecare service desk",
                                     server_hostname=settings.desk_address.rpartition("@")[2])

    def start(self) -> "SmtpListener":
        self.controller.start()
        log.info("service desk SMTP listener on %s:%d", self.host, self.port)
        return self

    def stop(self) -> None:
        self.controller.stop()
        self.handler.close()


def main(settings: Settings) -> None:
    """`pilecare smtp`: listen until SIGTERM or SIGINT."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    listener = SmtpListener(settings).start()
    print(f"smtp  {listener.host}:{listener.port}", flush=True)
    try:
        stop.wait()
    finally:
        listener.stop()
