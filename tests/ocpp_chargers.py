"""Chargers for the command relay's tests: the `ocpp` package's own ChargePoint (a real OCPP-J
client library, not written here) answering the central system's CALLs, and a bare central
system that offers the relay the gateway's Session interface.

`Charger16` / `Charger201` record every frame as it arrives (`frames`), keep reading while a
handler waits (so a second CALL would be seen at once), and answer each command action with
`answers[action]`: a status word, an `ocpp.exceptions.OCPPError` to raise (a CALLERROR), or
`HOLD` to answer only once `release(action)` is called — or never.
"""
from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Callable

import psycopg
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as A16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as A201
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

HOLD = object()


class _Answering:
    def _setup(self):
        self.frames: list[list] = []
        self.answers: dict[str, object] = {}
        self._gates: dict[str, asyncio.Event] = {}

    async def start(self):
        # The package's loop awaits each handler before reading on; a real charger keeps reading.
        try:
            async for message in self._connection:
                self.frames.append(json.loads(message))
                asyncio.create_task(self.route_message(message))
        except ConnectionClosed:  # the central system went away (killed): the charger stops here
            pass

    def calls(self) -> list[tuple[str, dict]]:
        """The CALLs received so far: (action, payload)."""
        return [(f[2], f[3]) for f in self.frames if f[0] == 2]

    def release(self, action: str) -> None:
        self._gates.setdefault(action, asyncio.Event()).set()

    async def _answer(self, action: str, make: Callable[[str], object], default: str = "Accepted"):
        answer = self.answers.get(action, default)
        if answer is HOLD:
            gate = self._gates.setdefault(action, asyncio.Event())
            await gate.wait()
            gate.clear()
            answer = default
        if isinstance(answer, Exception):
            raise answer
        return make(answer)


class Charger16(_Answering, ChargePoint16):
    version = "1.6"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._setup()

    @on(A16.reset)
    async def on_reset(self, type, **_):
        return await self._answer("Reset", lambda s: result16.Reset(status=s))

    @on(A16.change_availability)
    async def on_change_availability(self, connector_id, type, **_):
        return await self._answer("ChangeAvailability", lambda s: result16.ChangeAvailability(status=s))

    @on(A16.trigger_message)
    async def on_trigger_message(self, requested_message, **_):
        return await self._answer("TriggerMessage", lambda s: result16.TriggerMessage(status=s))

    @on(A16.unlock_connector)
    async def on_unlock_connector(self, connector_id, **_):
        return await self._answer("UnlockConnector", lambda s: result16.UnlockConnector(status=s), "Unlocked")

    @on(A16.get_diagnostics)
    async def on_get_diagnostics(self, location, **_):
        return await self._answer("GetDiagnostics", lambda s: result16.GetDiagnostics(file_name=s), "diag.zip")


class Charger201(_Answering, ChargePoint201):
    version = "2.0.1"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._setup()

    @on(A201.reset)
    async def on_reset(self, type, **_):
        return await self._answer("Reset", lambda s: result201.Reset(status=s))

    @on(A201.change_availability)
    async def on_change_availability(self, operational_status, **_):
        return await self._answer("ChangeAvailability", lambda s: result201.ChangeAvailability(status=s))

    @on(A201.trigger_message)
    async def on_trigger_message(self, requested_message, **_):
        return await self._answer("TriggerMessage", lambda s: result201.TriggerMessage(status=s))

    @on(A201.unlock_connector)
    async def on_unlock_connector(self, evse_id, connector_id, **_):
        return await self._answer("UnlockConnector", lambda s: result201.UnlockConnector(status=s), "Unlocked")

    @on(A201.get_log)
    async def on_get_log(self, log, log_type, request_id, **_):
        return await self._answer("GetLog", lambda s: result201.GetLog(status=s))


CHARGERS = {"1.6": Charger16, "2.0.1": Charger201}


async def open_charger(url: str, pile_id: str, version: str, *, headers: dict | None = None):
    """Connect a charger at `url` (ending in /ocpp); return (charger, its reading task)."""
    websocket = await connect(f"{url}/{pile_id}", subprotocols=[Subprotocol(f"ocpp{version}")],
                              additional_headers=headers or {}, open_timeout=10)
    charger = CHARGERS[version](pile_id, websocket)
    return charger, asyncio.create_task(charger.start())


class _CentralSession:
    """The gateway's Session: a CALLERROR raises (the gateway calls with suppress=False)."""

    def __init__(self, cp, pile_id: str, version: str):
        self.cp, self.pile_id, self.version = cp, pile_id, version
        self.connection_id = str(uuid.uuid4())

    async def call(self, request):
        return await self.cp.call(request, suppress=False)


class BareCentral:
    """A minimal OCPP-J central system standing in for the gateway server: accepts any id,
    records the connection in ocpp_connections as the gateway does (an upsert; deleted when it
    closes, if still current) and tells its listener. Runs in its own event-loop thread so the
    tests stay plain functions."""

    def __init__(self, database_url: str, listener, *, call_timeout_s: float = 5.0):
        self.database_url = database_url
        self.listener = listener
        self.call_timeout_s = call_timeout_s
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.url = ""
        self._server = None

    def run(self, coro, timeout: float = 30.0):
        """Run a coroutine in the central's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> "BareCentral":
        self._thread.start()
        self.run(self._start())
        return self

    async def _start(self):
        if hasattr(self.listener, "start"):
            await self.listener.start()
        self._server = await serve(self._handle, "127.0.0.1", 0,
                                   subprotocols=[Subprotocol("ocpp1.6"), Subprotocol("ocpp2.0.1")])
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/ocpp"

    async def _handle(self, websocket):
        pile_id = websocket.request.path.rsplit("/", 1)[-1]
        version = websocket.subprotocol.removeprefix("ocpp")
        cp = (ChargePoint16 if version == "1.6" else ChargePoint201)(pile_id, websocket,
                                                                     response_timeout=self.call_timeout_s)
        session = _CentralSession(cp, pile_id, version)
        async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn:
            await conn.execute(
                "INSERT INTO ocpp_connections (pile_id, connection_id, gateway, ocpp_version) VALUES (%s, %s, 'bare', %s) "
                "ON CONFLICT (pile_id) DO UPDATE SET connection_id = EXCLUDED.connection_id, "
                "ocpp_version = EXCLUDED.ocpp_version, connected_at = now()",
                (pile_id, session.connection_id, version))
        await self.listener.connected(session)
        try:
            await cp.start()
        except ConnectionClosed:
            pass
        finally:
            await self.listener.disconnected(session)
            async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn:
                await conn.execute("DELETE FROM ocpp_connections WHERE pile_id = %s AND connection_id = %s",
                                   (pile_id, session.connection_id))

    def stop(self) -> None:
        async def _stop():
            self._server.close()
            await self._server.wait_closed()
            if hasattr(self.listener, "close"):
                await self.listener.close()
            # chargers still holding an answer that will never be released
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
        self.run(_stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


class ClientLoop:
    """An event loop in a thread for charger clients (the tests stay plain functions)."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        async def _cancel():
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
        self.run(_cancel())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
