"""The command relay: pending commands of OCPP chargers, kept in PostgreSQL, delivered as CALLs.

A `Listener` of the OCPP server (gateway/ocpp/session.py). For every charger whose current
connection (`ocpp_connections`) is one of this process's sessions, a delivery task takes the
charger's commands one at a time, oldest first:

1. claim: a conditional `UPDATE commands SET state = 'delivering', connection_id, delivering_at
   … WHERE state = 'pending'` that only hits while `ocpp_connections` still names this
   connection. Of two gateway processes only the one holding the current connection can
   claim, and the row is claimed once (healthchecks' claim-by-update habit), so no command
   goes twice;
2. the CALL (gateway/ocpp/actions.py builds it); one in flight per charger (OCPP-J 1.6 §4.1.1,
   2.0.1 part 4 §4.1.1): the next command is claimed only after this one ended;
3. the outcome, written only if the row is still `delivering` on this connection:
   `acknowledged` with `ack_status`/`ack_info` (CALLRESULT; a Rejected answer is an
   acknowledged command with ack_status Rejected, as over MQTT), `failed` with `failure`
   (CALLERROR, unmappable params, connection closed mid-call), `timed_out` (no answer).

Wake-ups: a charger connecting; the `ocpp_commands` notification a new OCPP command raises
(migration 0046 trigger; payload = pile id); and a slow sweep (`sweep_s`) that also catches a
lost notification.

After a crash: a command `delivering` on a connection that is gone (gateway killed, charger
dropped) can never get its CALLRESULT — OCPP-J answers on the connection that carried the
CALL — so it is recorded `failed` ("outcome unknown: …") when the charger connects again, or
by the sweep once `orphan_after_s` passed; never sent again. A command still `pending` is
delivered once, by whichever process then holds the charger. Undelivered commands expire
`timed_out` after `queue_ttl_s` (a reset queued for a day is no longer wanted).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass, field

import psycopg
from psycopg_pool import AsyncConnectionPool

from gateway.ocpp import actions
from gateway.ocpp.envelope import storable
from gateway.ocpp.session import Session

log = logging.getLogger(__name__)

CHANNEL = "ocpp_commands"
OUTCOME_UNKNOWN = "outcome unknown: the connection closed before the charger answered"

_FAIL_ORPHANS = """
    UPDATE commands c SET state = 'failed', ended_at = now(), failure = %(failure)s
    WHERE c.pile_id = %(pile)s AND c.state = 'delivering' AND c.connection_id <> %(connection)s
      AND EXISTS (SELECT 1 FROM ocpp_connections oc WHERE oc.pile_id = c.pile_id AND oc.connection_id = %(connection)s)
    RETURNING c.id"""

# The oldest pending command of the pile, while this connection is the pile's current one
# and none of the pile's commands is in flight on it (one CALL at a time).
CLAIM = """
    UPDATE commands c SET state = 'delivering', connection_id = %(connection)s, delivering_at = now()
    WHERE c.id = (SELECT n.id FROM commands n
                  WHERE n.pile_id = %(pile)s AND n.state = 'pending' AND n.via = 'ocpp'
                  ORDER BY n.requested_at, n.id LIMIT 1 FOR UPDATE)
      AND c.state = 'pending'
      AND EXISTS (SELECT 1 FROM ocpp_connections oc WHERE oc.pile_id = c.pile_id AND oc.connection_id = %(connection)s)
      AND NOT EXISTS (SELECT 1 FROM commands f WHERE f.pile_id = c.pile_id AND f.state = 'delivering'
                      AND f.connection_id = %(connection)s)
    RETURNING c.id, c.type, c.params"""

_RECORD = """
    UPDATE commands SET state = %(state)s, ended_at = now(),
           acked_at = CASE WHEN %(state)s = 'acknowledged' THEN now() END,
           ack_status = %(ack_status)s, ack_info = %(ack_info)s, failure = %(failure)s
    WHERE id = %(id)s AND state = 'delivering' AND connection_id = %(connection)s"""

_SWEEP_ORPHANS = """
    UPDATE commands c SET state = 'failed', ended_at = now(), failure = %(failure)s
    WHERE c.state = 'delivering' AND c.delivering_at < now() - make_interval(secs => %(after)s)
      AND NOT EXISTS (SELECT 1 FROM ocpp_connections oc WHERE oc.pile_id = c.pile_id
                      AND oc.connection_id = c.connection_id)"""

_EXPIRE = """
    UPDATE commands SET state = 'timed_out', ended_at = now(),
           failure = format('never delivered: the charger was not connected within %%s s', %(ttl)s::int)
    WHERE state = 'pending' AND via = 'ocpp' AND requested_at < now() - make_interval(secs => %(ttl)s)"""


@dataclass
class _Held:
    session: Session
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    task: asyncio.Task | None = None


class CommandRelay:
    """Delivers queued commands to the chargers whose connections this process holds.

    `database_url`: PostgreSQL. `sweep_s`: the slow periodic wake-up and clean-up.
    `call_timeout_s`: an outer bound on one CALL (the session's own response time-out
    normally ends it first). `orphan_after_s`: how long a `delivering` command on a
    connection that is no longer current may wait for its charger before the sweep records it
    failed. `queue_ttl_s`: how long an undelivered command waits for its charger.

    Use: `await relay.start()`, register it as a listener, `await relay.close()` at shutdown.
    """

    def __init__(self, database_url: str, *, sweep_s: float = 30.0, call_timeout_s: float = 120.0,
                 orphan_after_s: float = 300.0, queue_ttl_s: float = 86_400.0, pool_size: int = 4):
        self.database_url = database_url
        self.sweep_s = sweep_s
        self.call_timeout_s = call_timeout_s
        self.orphan_after_s = orphan_after_s
        self.queue_ttl_s = queue_ttl_s
        # A reconnect storm queues thousands of short look-ups on this small pool: they wait
        # their turn (timeout) rather than fail; the gateway's own pool is not shared.
        self._pool = AsyncConnectionPool(database_url, min_size=1, max_size=pool_size, open=False, timeout=300,
                                         kwargs={"autocommit": True})
        self._held: dict[str, _Held] = {}
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        await self._pool.open(wait=True)
        self._tasks = [asyncio.create_task(self._listen(), name="relay-listen"),
                       asyncio.create_task(self._sweeper(), name="relay-sweep")]

    async def close(self) -> None:
        for held in list(self._held.values()):
            held.closed = True
            held.wake.set()
        tasks = self._tasks + [h.task for h in self._held.values() if h.task]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._held.clear()
        await self._pool.close()

    # -- Listener -------------------------------------------------------------------------

    async def connected(self, session: Session) -> None:
        """Start delivering to this charger (replacing an older session of the same charger)."""
        old = self._held.get(session.pile_id)
        if old is not None:
            old.closed = True
            old.wake.set()
        held = _Held(session)
        held.task = asyncio.create_task(self._deliver(held), name=f"relay-{session.pile_id}")
        self._held[session.pile_id] = held

    async def disconnected(self, session: Session) -> None:
        """Stop claiming for this session; a CALL in flight ends with its own outcome."""
        held = self._held.get(session.pile_id)
        if held is not None and held.session is session:
            held.closed = True
            held.wake.set()
            del self._held[session.pile_id]

    def wake(self, pile_id: str) -> None:
        """Look for new commands of `pile_id` now (if this process holds it)."""
        held = self._held.get(pile_id)
        if held is not None:
            held.wake.set()

    # -- delivery -------------------------------------------------------------------------

    async def _deliver(self, held: _Held) -> None:
        session = held.session
        try:
            async with self._pool.connection() as conn:
                failed = await (await conn.execute(_FAIL_ORPHANS, {
                    "pile": session.pile_id, "connection": session.connection_id, "failure": OUTCOME_UNKNOWN,
                })).fetchall()
            for (command_id,) in failed:
                log.warning("command %s to %s: %s", command_id, session.pile_id, OUTCOME_UNKNOWN)
            while not held.closed:
                held.wake.clear()  # before looking, so a notification during the look is not lost
                while not held.closed and await self._deliver_next(session):
                    pass
                if not held.closed:
                    await held.wake.wait()
        except asyncio.CancelledError:
            raise
        except Exception:  # a database outage: the sweep or the next connect starts it again
            log.exception("command delivery to %s stopped", session.pile_id)
            if self._held.get(session.pile_id) is held:
                held.task = None

    async def _deliver_next(self, session: Session) -> bool:
        """Claim, send and record one command; False when there was none to claim."""
        async with self._pool.connection() as conn:
            row = await (await conn.execute(CLAIM, {"pile": session.pile_id,
                                                      "connection": session.connection_id})).fetchone()
        if row is None:
            return False
        command_id, kind, params = row
        params = params if isinstance(params, dict) else json.loads(params or "{}")
        result = await self._call(session, command_id, kind, params)
        await self._record(session, command_id, **result)
        return True

    async def _call(self, session: Session, command_id: uuid.UUID, kind: str, params: dict) -> dict:
        """Send one CALL; return the columns of its outcome."""
        from ocpp.exceptions import OCPPError
        from websockets.exceptions import ConnectionClosed

        try:
            request = actions.request_for(kind, params, session.version, command_id)
        except actions.Unmappable as error:
            return {"state": "failed", "failure": f"not sent: {error}"}
        try:
            response = await asyncio.wait_for(session.call(request), self.call_timeout_s)
        except asyncio.TimeoutError:
            return {"state": "timed_out", "failure": "the charger did not answer the CALL in time"}
        except OCPPError as error:
            return {"state": "failed", "failure": _callerror(error)}
        except ConnectionClosed:
            return {"state": "failed", "failure": OUTCOME_UNKNOWN}
        except Exception as error:  # the package refusing our request or the answer: say which
            log.exception("command %s to %s failed", command_id, session.pile_id)
            return {"state": "failed", "failure": f"{type(error).__name__}: {error}"[:actions.INFO_MAX]}
        if response is None:  # a session calling with suppress=True turns a CALLERROR into None
            return {"state": "failed", "failure": "the charger answered with a CALLERROR"}
        status, info = actions.outcome(kind, session.version, response)
        return {"state": "acknowledged", "ack_status": status.value, "ack_info": info}

    async def _record(self, session: Session, command_id: uuid.UUID, *, state: str, ack_status: str | None = None,
                      ack_info: str | None = None, failure: str | None = None) -> None:
        values = {"id": command_id, "connection": session.connection_id, "state": state,
                  # A charger's answer (a CALLERROR description, statusInfo, a file name) may hold
                  # NUL: refused by PostgreSQL, the command would stay `delivering` and block the queue.
                  "ack_status": ack_status, "ack_info": storable(ack_info), "failure": storable(failure)}
        for attempt in range(5):  # a short database hiccup must not turn a known outcome into "unknown"
            try:
                async with self._pool.connection() as conn:
                    await conn.execute(_RECORD, values)
                break
            except psycopg.OperationalError:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.5 * 2 ** attempt)
        log.info("command %s to %s: %s %s", command_id, session.pile_id, state, ack_status or failure or "")

    # -- wake-ups -------------------------------------------------------------------------

    async def _listen(self) -> None:
        """LISTEN for new commands; reconnect after a database outage (the sweep covers the gap)."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    for held in list(self._held.values()):  # anything queued while we were not listening
                        held.wake.set()
                    async for notice in conn.notifies():
                        self.wake(notice.payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("command notifications lost; listening again")
                await asyncio.sleep(min(self.sweep_s, 5.0))

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_s)
            try:
                await self.sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the next sweep tries again
                log.exception("command sweep failed")

    async def sweep_once(self) -> dict[str, int]:
        """Expire undelivered commands, record orphans failed, wake the held chargers that have
        pending commands; return counts."""
        async with self._pool.connection() as conn:
            expired = (await conn.execute(_EXPIRE, {"ttl": self.queue_ttl_s})).rowcount
            orphans = (await conn.execute(_SWEEP_ORPHANS, {"after": self.orphan_after_s,
                                                           "failure": OUTCOME_UNKNOWN})).rowcount
            # Only the held chargers with something waiting: thousands of idle ones cost one query.
            waiting = {row[0] for row in await (await conn.execute(
                "SELECT DISTINCT pile_id FROM commands WHERE state = 'pending' AND via = 'ocpp' AND pile_id = ANY(%s)",
                (list(self._held),))).fetchall()}
        for pile_id in waiting:
            held = self._held.get(pile_id)
            if held is None:
                continue
            if held.task is None or held.task.done():  # restart a delivery stopped by a database outage
                held.task = asyncio.create_task(self._deliver(held), name=f"relay-{pile_id}")
            held.wake.set()
        return {"expired": expired, "orphans": orphans}


def _callerror(error) -> str:
    code = getattr(error, "code", type(error).__name__)
    text = f"the charger answered CALLERROR {code}"
    if getattr(error, "description", None):
        text += f": {error.description}"
    return text[:actions.INFO_MAX]

