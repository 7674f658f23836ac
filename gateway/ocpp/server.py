"""`pilecare ocpp`: the WebSocket server chargers connect to (docs/ocpp.md).

`ws(s)://host:port/ocpp/{charge_point_id}`, subprotocols `ocpp2.0.1` and `ocpp1.6` (a
handshake offering neither is refused with HTTP 400, OCPP-J 1.6 §3.1.2 / 2.0.1 part 4 §3.1.2).
HTTP Basic is checked before the WebSocket is accepted (gateway/ocpp/auth.py): 401 otherwise.

Connections (issue 15, item 5): an accepted connection claims the charger's row of
`ocpp_connections` and publishes the retained Status online; when it closes it deletes the
row only if it still names this connection, and only then publishes Status offline
("connection lost") at once, so the offline alarm comes from the usual pipeline. A newer
connection for the same charger replaces the older: in this process the old socket is closed
directly, in another the trigger of migration 0048 tells that process (LISTEN/NOTIFY), and a
replaced connection never reports offline. All shared state is in PostgreSQL, so several
gateway processes may run behind one load balancer. A stopping gateway closes its
connections with 1012 and reports nobody offline; restarted under the same name it reports
offline those of its previous run's chargers that did not come back within a grace period.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import uuid
from collections.abc import Sequence
from functools import partial
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from gateway.ocpp import auth, store
from gateway.ocpp.batch import Batcher
from gateway.ocpp.charger import Charger, Context, publish_status
from gateway.ocpp.handlers16 import Charger16
from gateway.ocpp.handlers201 import Charger201
from gateway.ocpp.publisher import Publisher
from gateway.ocpp.session import Listener
from gateway.topics import Topics
from pilecare.db import database_url
from pilecare.settings import Settings

log = logging.getLogger(__name__)

# Preferred first: the server's order decides when a charger offers both.
SUBPROTOCOLS = {"ocpp2.0.1": Charger201, "ocpp1.6": Charger16}
REPLACED_REASON = "replaced by a newer connection"
LOST_REASON = "connection lost"
RESTART_REASON = "central system restarting"


def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """Server TLS for security profile 2: TLS 1.2 or later (1.6 Security Whitepaper §2.2,
    2.0.1 part 2 A00.FR.3xx)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


class Gateway:
    """One gateway process: the server, its database pool and its broker connection.

    `listeners` hear of every accepted connection and of its end (gateway/ocpp/session.py).
    `port` is the bound port once started (useful with port 0 in tests).
    """

    def __init__(self, settings: Settings, *, listeners: Sequence[Listener] = (), database: str | None = None,
                 client_id: str | None = None):
        if settings.ocpp_security_profile == 2 and not (settings.ocpp_tls_cert and settings.ocpp_tls_key):
            raise ValueError("OCPP security profile 2 needs PILECARE_OCPP_TLS_CERT and PILECARE_OCPP_TLS_KEY")
        self.settings = settings
        self.name = settings.ocpp_gateway_name
        self.listeners = list(listeners)
        self._database = database or database_url(settings)
        self._client_id = client_id or f"pilecare-{self.name}"
        self._sessions: dict[str, Charger] = {}       # connection id → connection, this process
        self._current: dict[str, Charger] = {}        # pile id → its newest connection here
        self._server: Server | None = None
        self._listen_task: asyncio.Task | None = None
        self._predecessor_task: asyncio.Task | None = None
        self._stopping = False
        self._closing: set[asyncio.Task] = set()
        self.context: Context | None = None
        self.port: int | None = None

    async def start(self) -> None:
        """Open the pool, connect to the broker, listen for replacements, then serve.
        Raises PublishTimeout when the broker cannot be reached (nothing is left open)."""
        settings = self.settings
        pool = store.open_pool(self._database, max_size=settings.ocpp_db_pool)
        await pool.open(wait=True)
        publisher = Publisher(settings.mqtt(), self._client_id, timeout_s=settings.ocpp_publish_timeout_s)
        try:
            await publisher.start()
        except BaseException:
            await publisher.stop()
            await pool.close()
            raise
        # A reconnect storm's handshakes, claims and boots go to the database in batches.
        self._live_hash = Batcher(partial(auth.live_hashes, pool))
        self._claim = Batcher(partial(store.claim_many, pool, self.name))
        self.context = Context(pool=pool, publisher=publisher, registration=Batcher(partial(store.registrations, pool)),
                               topics=Topics(settings.topic_prefix),
                               heartbeat_s=settings.ocpp_heartbeat_s, boot_retry_s=settings.ocpp_boot_retry_s,
                               call_timeout_s=settings.ocpp_call_timeout_s)
        started = await self._database_now()
        self._predecessor_task = asyncio.create_task(self._forget_predecessor(started))
        ready = asyncio.Event()

        async def listening() -> None:
            await self._sweep()
            ready.set()

        self._listen_task = asyncio.create_task(store.listen_replaced(self._database, self._on_replaced, listening))
        await asyncio.wait_for(ready.wait(), 30)
        tls = None
        if settings.ocpp_security_profile == 2:
            tls = tls_context(settings.ocpp_tls_cert, settings.ocpp_tls_key)
        self._server = await serve(self._handle, settings.ocpp_host, settings.ocpp_port, ssl=tls,
                                   process_request=self._process_request,
                                   subprotocols=[Subprotocol(name) for name in SUBPROTOCOLS])
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        log.info("OCPP central system at %s (port %s)", settings.ocpp_endpoint(), self.port)

    async def stop(self) -> None:
        """Close every connection with 1012 (service restart) and stop.

        The chargers are not reported offline and their rows stay: they reconnect (to another
        gateway, or to this one restarted, which reports offline only those that have not come
        back within PILECARE_OCPP_RESTART_GRACE_S), so a deploy raises no offline alarms."""
        self._stopping = True
        if self._server is not None:
            self._server.close(code=CloseCode.SERVICE_RESTART, reason=RESTART_REASON)
            await self._server.wait_closed()
        for task in (self._listen_task, self._predecessor_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self.context is not None:
            await self.context.publisher.stop()
            await self.context.pool.close()

    async def _database_now(self):
        async with self.context.pool.connection() as conn:
            return (await (await conn.execute("SELECT now()")).fetchone())[0]

    async def _forget_predecessor(self, started) -> None:
        """The previous run of this gateway (stopped, or killed with -9) left the rows of its
        connections. After the grace period, a charger still named by such a row has not come
        back, here or elsewhere (a reconnect claims the row anew): it is offline."""
        await asyncio.sleep(self.settings.ocpp_restart_grace_s)
        try:
            async with self.context.pool.connection() as conn:
                cur = await conn.execute("DELETE FROM ocpp_connections WHERE gateway = %s AND connected_at < %s "
                                         "RETURNING pile_id", (self.name, started))
                stale = [row[0] for row in await cur.fetchall()]
            for pile_id in stale:
                await publish_status(self.context, pile_id, "offline", reason=LOST_REASON)
        except Exception:
            log.exception("reporting the previous run's chargers offline failed")

    # -- handshake -----------------------------------------------------------------------
    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        pile_id = auth.charge_point_id(request.path)
        if pile_id is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "OCPP chargers connect at /ocpp/{charge_point_id}\n")
        password = auth.basic_password(request.headers.get("Authorization"), pile_id)
        if password is None or not auth.accepts(await self._live_hash(pile_id), password):
            log.warning("OCPP handshake for %r refused: unknown id or wrong credentials", pile_id)
            response = connection.respond(HTTPStatus.UNAUTHORIZED, "unknown charge point or wrong password\n")
            response.headers["WWW-Authenticate"] = 'Basic realm="pilecare OCPP", charset="UTF-8"'
            return response
        return None

    # -- one connection ------------------------------------------------------------------
    async def _handle(self, websocket: ServerConnection) -> None:
        pile_id = auth.charge_point_id(websocket.request.path)
        connection_id = str(uuid.uuid4())
        charger = SUBPROTOCOLS[websocket.subprotocol](pile_id, websocket, connection_id, self.context)
        self._sessions[connection_id] = charger
        older = self._current.get(pile_id)
        self._current[pile_id] = charger
        receiving: asyncio.Task | None = None
        try:
            await self._claim((pile_id, connection_id, charger.version))
            if older is not None:
                # In the background: the older socket is often half dead (that is why the charger
                # came back), and its close handshake may wait out the close time-out.
                self._close_replaced(older)
            await publish_status(self.context, pile_id, "online")
            log.info("%s connected (OCPP %s, connection %s)", pile_id, charger.version, connection_id)
            # Frames are read from here on, so that a listener's CALL gets its answer.
            receiving = asyncio.create_task(charger.run())
            await self._tell("connected", charger)
            await receiving
        except ConnectionClosed:
            pass
        finally:
            if receiving is not None and not receiving.done():
                receiving.cancel()
            await self._tell("disconnected", charger)
            self._sessions.pop(connection_id, None)
            if self._current.get(pile_id) is charger:
                del self._current[pile_id]
            if not self._stopping:  # a stopping gateway leaves the row for the charger's return
                await self._release(charger)

    async def _release(self, charger: Charger) -> None:
        try:
            if await store.release(self.context.pool, charger.pile_id, charger.connection_id):
                await publish_status(self.context, charger.pile_id, "offline", reason=LOST_REASON)
                log.info("%s disconnected: reported offline", charger.pile_id)
                # A newer connection may have claimed the charger between our release and our
                # publish and said online before our offline reached the broker: the retained
                # state must end online then.
                if await store.is_connected(self.context.pool, charger.pile_id):
                    await publish_status(self.context, charger.pile_id, "online")
        except Exception:
            log.exception("%s: releasing connection %s failed", charger.pile_id, charger.connection_id)

    async def _tell(self, event: str, charger: Charger) -> None:
        for listener in self.listeners:
            try:
                await getattr(listener, event)(charger)
            except Exception:
                log.exception("listener %r failed on %s of %s", listener, event, charger.pile_id)

    async def _sweep(self) -> None:
        """Close every connection of this process that is no longer its charger's current one
        (replaced while this process was not listening)."""
        current = await store.current_of(self.context.pool, list(self._sessions))
        for connection_id, charger in list(self._sessions.items()):
            if connection_id not in current:
                await self._on_replaced(charger.pile_id, connection_id)

    async def _on_replaced(self, pile_id: str, connection_id: str) -> None:
        charger = self._sessions.get(connection_id)
        if charger is not None:
            self._close_replaced(charger)

    def _close_replaced(self, charger: Charger) -> None:
        log.info("%s: connection %s replaced by a newer one; closing it", charger.pile_id, charger.connection_id)
        task = asyncio.create_task(charger.close(REPLACED_REASON))
        self._closing.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._closing.discard)


async def run(settings: Settings, *, listeners: Sequence[Listener] = ()) -> None:
    """Serve until SIGINT or SIGTERM."""
    gateway = Gateway(settings, listeners=listeners)
    await gateway.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"pilecare ocpp: chargers connect at {settings.ocpp_endpoint()} "
          f"(security profile {settings.ocpp_security_profile}); broker {settings.mqtt().host}:{settings.mqtt().port}",
          flush=True)
    await stop.wait()
    await gateway.stop()


def main(settings: Settings, listeners: Sequence[Listener] = ()) -> None:
    """`pilecare ocpp`: serve until SIGINT/SIGTERM, telling `listeners` of every connection."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The package logs every frame at INFO: thousands of chargers would drown the log.
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    try:
        asyncio.run(run(settings, listeners=listeners))
    except ValueError as error:  # settings that cannot work, e.g. profile 2 without a certificate
        raise SystemExit(f"pilecare ocpp: {error}") from None
