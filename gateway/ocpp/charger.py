"""One charger's connection: the `ocpp` package's ChargePoint with pilecare's error path.

`Charger` is the shared base of the 1.6 and 2.0.1 handlers (gateway/ocpp/handlers16.py,
handlers201.py) and the `Session` the command relay uses (gateway/ocpp/session.py). It
replaces the package's `route_message` so that every frame a charger sends ends in exactly
one of:

- a CALL that passed the schema: its handler answers (`_handle_call`); the envelope with
  payload and answer is published (QoS 1) and only after the broker's PUBACK is the
  CALLRESULT sent;
- a CALL that broke the schema (or named an unknown action): the CALLERROR OCPP-J prescribes
  (1.6-J §4.2.3, 2.0.1 part 4 §4.3), spelled for the connection's version, and an envelope
  with `error` and `raw` so ingest dead-letters it;
- a frame that is no RPC message at all: the same envelope, and a CALLERROR when there is an
  id to answer (2.0.1: id "-1" with RpcFrameworkError, part 4 §4.2.3);
- a CALLRESULT or CALLERROR: handed to the CALL waiting for it (`call`).

Nothing a charger sends stops the process: any other exception is logged and the
connection goes on.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

from jsonschema.exceptions import best_match
from ocpp import messages as ocpp_messages
from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import NotImplementedError as RpcNotImplemented
from ocpp.exceptions import NotSupportedError, OCPPError, ProtocolError, SecurityError
from ocpp.messages import Call, CallError, MessageType, get_validator, unpack
from psycopg_pool import AsyncConnectionPool
from websockets.exceptions import ConnectionClosed

from gateway.ocpp import envelope, store
from gateway.ocpp.publisher import MessageTooLarge, Publisher
from gateway.protocol import Status
from gateway.topics import Topics

log = logging.getLogger(__name__)

# Validate in the event loop: the package's default hands every schema check to a thread
# pool, which for an OCPP payload costs three times the check itself (255 µs against 87 µs
# per StatusNotification, measured) and gains nothing under the GIL.
ocpp_messages.ASYNC_VALIDATION = False


RAW_KEPT = 64 * 1024  # characters of a frame too large to forward kept for its dead letter


@dataclass(frozen=True)
class Context:
    """What every connection of a gateway process shares."""

    pool: AsyncConnectionPool
    publisher: Publisher
    registration: Callable[[str], Awaitable[store.Registration | None]]  # batched store.registrations
    topics: Topics
    heartbeat_s: int
    boot_retry_s: int
    call_timeout_s: int


@dataclass(frozen=True)
class Incoming:
    """The CALL being handled: as received, for its envelope."""

    message_id: str
    action: str
    payload: dict
    received_at: datetime
    raw: str


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_payload(response) -> dict:
    """A call_result dataclass as the JSON object sent on the wire (camelCase, no nulls)."""
    return snake_to_camel_case(remove_nones(serialize_as_dict(response)))


class Charger:
    """Mixed into `ocpp.v16.ChargePoint` / `ocpp.v201.ChargePoint`; see the module doc."""

    version: str  # "1.6" | "2.0.1", set by the subclasses
    known_actions: frozenset[str]  # every action the version defines, set by the subclasses

    def __init__(self, pile_id: str, websocket, connection_id: str, context: Context):
        super().__init__(pile_id, websocket, response_timeout=context.call_timeout_s)
        self.pile_id = pile_id
        self.connection_id = connection_id
        self.context = context
        self._incoming: Incoming | None = None
        # Set while the last BootNotification on this connection was answered Pending: the
        # charger may then only boot again or answer our CALLs (1.6 §4.2, 2.0.1 B02).
        self.pending = False

    # -- Session -------------------------------------------------------------------------
    async def call(self, request, suppress: bool = False, unique_id=None, skip_schema_validation: bool = False):
        """Send a CALL and return the charger's answer (one in flight: the package's lock).

        Unlike the package's default, a CALLERROR raises (an OCPPError subclass)."""
        return await super().call(request, suppress=suppress, unique_id=unique_id,
                                  skip_schema_validation=skip_schema_validation)

    async def close(self, reason: str) -> None:
        """Close the WebSocket with a normal closure (1000) and `reason`."""
        await self._connection.close(1000, reason)

    # -- receiving -----------------------------------------------------------------------
    async def run(self) -> None:
        """Handle frames until the connection closes (then websockets raises or the loop ends)."""
        async for frame in self._connection:
            try:
                await self.route_message(frame)
            except ConnectionClosed:
                raise
            except Exception:
                log.exception("%s: a frame could not be handled; the connection goes on", self.pile_id)

    async def route_message(self, raw_msg):
        received_at = utcnow()
        raw = raw_msg.decode("utf-8", "replace") if isinstance(raw_msg, bytes) else raw_msg
        try:
            msg = unpack(raw)
        except OCPPError as error:
            await self._refuse_frame(raw, error, received_at)
            return
        if msg.message_type_id == MessageType.Call:
            await self._route_call(msg, raw, received_at)
        elif msg.message_type_id in (MessageType.CallResult, MessageType.CallError):
            if self._call_lock.locked():
                self._response_queue.put_nowait(msg)
            else:
                # Nobody waits for it (a late answer to a timed-out CALL, or a charger sending
                # answers unasked): queued, it would only pile up until the next CALL.
                log.warning("%s: an answer to no pending CALL dropped: %s", self.pile_id, raw[:200])

    async def _route_call(self, msg: Call, raw: str, received_at: datetime) -> None:
        if not isinstance(msg.unique_id, str) or not isinstance(msg.action, str):
            await self._refuse_frame(raw, ProtocolError(details={"cause": "MessageId and Action must be strings"}),
                                     received_at)
            return
        if self.pending and msg.action != "BootNotification":
            await self._refuse_call(msg, raw, received_at, SecurityError(details={
                "cause": f"{msg.action} refused: the charger's BootNotification is Pending; "
                         "only BootNotification and answers to the CSMS's requests are allowed"}))
            return
        if msg.action not in self.route_map:
            await self._refuse_call(msg, raw, received_at, self._unhandled(msg.action))
            return
        self._incoming = Incoming(msg.unique_id, msg.action, msg.payload, received_at, raw)
        try:
            await self._handle_call(msg)
        except OCPPError as error:  # the package's schema check
            await self._refuse_call(msg, raw, received_at, error, field=_schema_field(msg, self.version))
        finally:
            self._incoming = None

    def _unhandled(self, action: str) -> OCPPError:
        """OCPP-J 1.6 §4.2.3 / 2.0.1 part 4 §4.3: NotImplemented for an action the receiver
        does not know, NotSupported for one it knows but does not handle. (The `ocpp`
        package answers the other way round.)"""
        if action in self.known_actions:
            return NotSupportedError(details={"cause": f"{action} is not handled by pilecare's central system"})
        return RpcNotImplemented(details={"cause": f"{action} is not an OCPP {self.version} action"})

    async def _refuse_call(self, msg: Call, raw: str, received_at: datetime, error: OCPPError,
                           field: str | None = None) -> None:
        code, description = envelope.error_code(error, self.version), envelope.error_description(error)
        if field:
            description = f"{field}: {description}"
        await self._publish_refused(msg.action, msg.unique_id, msg.payload, code, description, raw, received_at)
        await self._send(CallError(msg.unique_id, code, description, {}).to_json())

    async def _refuse_frame(self, raw: str, error: OCPPError, received_at: datetime) -> None:
        """A frame that is no valid RPC message: answer it if it has an id we can read."""
        message_id, action, payload, message_type = _peek(raw)
        code, description = envelope.error_code(error, self.version), envelope.error_description(error)
        if self.version != "1.6":
            if message_id is None:
                code = envelope.RpcErrorCode.RPC_FRAMEWORK_ERROR.value
            elif message_type not in (MessageType.Call, MessageType.CallResult, MessageType.CallError):
                code = envelope.RpcErrorCode.MESSAGE_TYPE_NOT_SUPPORTED.value
        await self._publish_refused(action, message_id, payload, code, description, raw, received_at)
        reply_to = message_id if message_id is not None else ("-1" if self.version != "1.6" else None)
        if reply_to is not None:
            await self._send(CallError(reply_to, code, description, {}).to_json())

    async def _publish_refused(self, action, message_id, payload, code, description, raw, received_at) -> None:
        log.warning("%s: %s %s refused with %s: %s", self.pile_id, action, message_id, code, description)
        body = envelope.refused(version=self.version, action=action, message_id=message_id,
                                received_at=received_at, connection_id=self.connection_id, payload=payload,
                                code=code, description=description, raw=raw)
        topic = envelope.topic(self.context.topics, self.pile_id)
        try:
            try:
                await self.context.publisher.publish(topic, body)
            except MessageTooLarge:  # the frame itself is too large to carry: its beginning is kept
                kept = f"{description} (frame of {len(raw)} characters; the first {RAW_KEPT} kept)"
                await self.context.publisher.publish(topic, body | {"payload": None, "raw": raw[:RAW_KEPT],
                                                                    "error": {"code": code, "description": kept}})
        except Exception:
            # The charger still gets its CALLERROR; the dead letter is what is lost.
            log.exception("%s: the envelope of a refused message could not be published", self.pile_id)

    async def boot_decision(self) -> tuple[bool, int]:
        """(accepted, interval) for a BootNotification: Accepted when the pile is commissioned
        (1.6 §4.2, 2.0.1 B01), with a heartbeat interval no longer than its model's reporting
        interval, so that an idle charger is never taken for a silent one (pilecare/liveness.py
        counts three of them), else Pending with the boot retry interval (2.0.1 B02)."""
        registered = await self.context.registration(self.pile_id)
        if registered is None or not registered.commissioned:
            return False, self.context.boot_retry_s
        return True, min(self.context.heartbeat_s, registered.reporting_interval_s)

    # -- answering -----------------------------------------------------------------------
    async def _handle_call(self, msg: Call) -> None:
        """Answer a CALL whose action has a handler (the package's `_handle_call`, leaner).

        The CALL is checked against its schema (an OCPPError goes back to `_route_call`); the
        handler gets the payload's top-level fields as snake_case arguments, with nested values
        as received (the package converts every nested key with regular expressions and
        inspects the handler's signature on every call: a third of the gateway's CPU per
        MeterValues, measured). The answer is checked against its schema, its envelope is
        published, and only after the broker's PUBACK is the CALLRESULT sent. A handler that
        raises gets a CALLERROR (an OCPPError's code, else InternalError): a PublishTimeout
        so tells the charger to send again.
        """
        handlers = self.route_map[msg.action]
        checked = not handlers.get("_skip_schema_validation", False)
        if checked:
            await ocpp_messages.validate_payload(msg, self._ocpp_version)
        try:
            response = await handlers["_on_action"](**{_snake(key): value for key, value in msg.payload.items()})
            result = msg.create_call_result(as_payload(response))
            if checked:
                await ocpp_messages.validate_payload(result, self._ocpp_version)
            incoming = self._incoming
            await self.context.publisher.publish(envelope.topic(self.context.topics, self.pile_id), envelope.accepted(
                version=self.version, action=incoming.action, message_id=incoming.message_id,
                received_at=incoming.received_at, connection_id=self.connection_id, payload=incoming.payload,
                response=result.payload))
        except MessageTooLarge as error:
            # Not acknowledged, since not forwarded; dead-lettered with the frame's beginning.
            incoming = self._incoming
            description = f"too large to forward to ingest: {error}"
            await self._publish_refused(incoming.action, incoming.message_id, None,
                                        envelope.RpcErrorCode.INTERNAL_ERROR.value, description, incoming.raw,
                                        incoming.received_at)
            await self._send(CallError(msg.unique_id, envelope.RpcErrorCode.INTERNAL_ERROR.value, description,
                                       {}).to_json())
            return
        except Exception as error:
            if not isinstance(error, OCPPError):
                log.exception("%s: %s %s could not be answered", self.pile_id, msg.action, msg.unique_id)
            await self._send(msg.create_call_error(error).to_json())
            return
        await self._send(result.to_json())

    async def invalid(self, error: OCPPError) -> OCPPError:
        """For a handler that finds what the schema cannot say (a date-time that is none):
        publish the refused envelope and return `error` for the handler to raise (the
        package then answers it as a CALLERROR)."""
        incoming = self._incoming
        await self._publish_refused(incoming.action, incoming.message_id, incoming.payload,
                                    envelope.error_code(error, self.version), envelope.error_description(error),
                                    incoming.raw, incoming.received_at)
        error.code = envelope.error_code(error, self.version)
        return error

    async def publish_status(self, state: str, *, reason: str | None = None, firmware: str | None = None) -> None:
        """The canonical retained Status (gateway/protocol.py) on the charger's behalf."""
        await publish_status(self.context, self.pile_id, state, reason=reason, firmware=firmware)


async def publish_status(context: Context, pile_id: str, state: str, *, reason: str | None = None,
                         firmware: str | None = None) -> None:
    """Publish `{"v":1,"state":…}` retained on `…/piles/{pile_id}/status` (QoS 1, PUBACK awaited).

    Online carries the gateway's time; offline none, like an MQTT last will. A firmware
    version with a lone surrogate would fail the Status model, and with it the boot."""
    status = Status(v=1, state=state, ts=utcnow() if state == "online" else None, reason=reason,
                    firmware=envelope.storable(firmware[:64]) if firmware else None)
    await context.publisher.publish(context.topics.status(pile_id), status.model_dump(mode="json", exclude_none=True),
                                    retain=True)


@lru_cache(maxsize=4096)
def _snake(key: str) -> str:
    """A payload key as a handler argument: chargePointVendor → charge_point_vendor (the
    package's own conversion, once per key). The schemas bound the keys a payload may have."""
    return next(iter(camel_to_snake_case({key: None})))


def _schema_field(msg: Call, version: str) -> str | None:
    """The payload field (a JSON path, `meterValue/0/timestamp`) the schema check failed on,
    so that the CALLERROR and the dead letter name it; the validator's own message often
    does not ("'one' is not of type 'integer'")."""
    try:
        validator = get_validator(msg.message_type_id, msg.action, version)
        error = best_match(validator.iter_errors(msg.payload))
    except Exception:  # no schema for this action, or nothing wrong with the payload's shape
        return None
    if error is None or not error.absolute_path:
        return None
    return "/".join(str(part) for part in error.absolute_path)


def _peek(raw: str) -> tuple[str | None, str | None, dict | None, object]:
    """(message id, action, payload, message type) of whatever of them a broken frame still shows."""
    try:
        frame = json.loads(raw)
    except ValueError:
        return None, None, None, None
    if not isinstance(frame, list):
        return None, None, None, None
    message_type = frame[0] if frame else None
    message_id = frame[1] if len(frame) > 1 and isinstance(frame[1], str) else None
    action = frame[2] if len(frame) > 2 and frame[:1] == [2] and isinstance(frame[2], str) else None
    payload = frame[3] if len(frame) > 3 and frame[:1] == [2] and isinstance(frame[3], dict) else None
    return message_id, action, payload, message_type
