"""What one OCPP connection offers the rest of pilecare, and how others hear of connections.

The command relay (gateway/ocpp/relay.py) is a `Listener`: the server calls `connected`
after a connection is accepted and recorded as the charger's current one (its frames are
already being read, so `session.call` works from inside `connected`), and `disconnected`
before its cleanup (whether it was lost or replaced by a newer connection). Both are
awaited by the connection's own task: keep them short and start a task for long work.
"""
from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

OcppVersion = Literal["1.6", "2.0.1"]


@runtime_checkable
class Session(Protocol):
    """One charger's WebSocket connection.

    - `pile_id`: the charge point id from the URL path `/ocpp/{charge_point_id}` (= pile id).
    - `version`: the negotiated OCPP version, "1.6" or "2.0.1".
    - `connection_id`: uuid (as text) of this connection, the one in `ocpp_connections`.
    - `call(request)`: send a CALL built from the `ocpp` package's call payloads
      (`ocpp.v16.call.Reset(...)`, `ocpp.v201.call.Reset(...)`) and return the charger's
      CALLRESULT payload object. At most one CALL is in flight per connection (the package's
      call lock; OCPP-J 1.6 §4.1.1, 2.0.1 part 4 §4.1.1): concurrent callers wait in turn.
      Raises `asyncio.TimeoutError` when the charger does not answer within the response
      timeout, `ocpp.exceptions.OCPPError` subclasses for a CALLERROR, and
      `websockets.ConnectionClosed` when the connection is gone.
    """

    pile_id: str
    version: OcppVersion
    connection_id: str

    async def call(self, request: Any) -> Any: ...


@runtime_checkable
class Listener(Protocol):
    """Told of every accepted connection and of its end; must not raise (errors are logged)."""

    async def connected(self, session: Session) -> None: ...

    async def disconnected(self, session: Session) -> None: ...
