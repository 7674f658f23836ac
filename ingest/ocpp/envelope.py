"""One envelope from the OCPP gateway → the rows ingest stores for any pile, or a dead letter.

The gateway publishes one envelope per accepted OCPP CALL on `{prefix}/piles/{id}/ocpp`
(the contract: docs/ocpp.md; `{"v": 1, "ocpp": "1.6"|"2.0.1", "action", "message_id",
"received_at", "connection_id", "payload", "response", "error", "raw"}`). Each action is
mapped (actions.py) onto what an MQTT pile would have sent (the table: docs/ocpp.md, "From OCPP to
pilecare"): statuses and meter values become telemetry rows, boots and sessions pile
events, BootNotification the charger's reported identity, and every envelope proves the
charger alive.

Keys come from content, never from the OCPP message id: a charger replays what it queued
offline with new message ids after a reconnect, and it must be stored once. A reading's
`seq` is a content key at most OCPP_SEQ_MAX (OCPP has no sequence counter, so sequence
accounting leaves these rows out, as it does salvage.NO_SEQ); an event's id is a digest of
its action, time, connector and transaction.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from gateway import protocol
from ingest.decode import DataProblem, DeadLetter, Inbound, Quirk, TelemetryMessage, ocpp_error
from ingest.ocpp import meter
from ingest.salvage import clean_json
from pilecare.domain import ConnectorStatus, MessageKind, PileEventType
from pilecare.settings import Settings

# seq of a reading stored from OCPP: a content key at most this. MQTT piles' counters are
# >= 0 and salvage.NO_SEQ is -1, so the merge tells OCPP readings apart by `seq <= -2`.
OCPP_SEQ_MAX = -2
_KEY_BITS = 2**60 - 1
# Which of two rows at the same device time comes last (and so is the connector's latest
# state): above the content key in the seq, the merge ordering rows by (time, seq). A 2.0.1
# StatusNotification (status, no error code) after the NotifyEvent that names the fault,
# as the same facts in MQTT order: Faulted with its code, then Faulted without one.
_RANK = {"MeterValues": 0, "NotifyEvent": 1, "StatusNotification": 2}
_INFO_MAX = 256
_KIND = MessageKind.OCPP.value


class Unreadable(Exception):
    """A field the mapping cannot read: the envelope is dead-lettered naming it."""

    def __init__(self, where: str, why: str):
        super().__init__(f"{where}: {why}")
        self.where, self.why = where, why


@dataclass(slots=True)
class Identity:
    """What a charger says it is (BootNotification): kept beside the registry, never over it."""

    vendor: str | None
    model: str | None
    serial: str | None
    firmware: str | None


@dataclass(slots=True)
class OcppMessage:
    """One envelope, mapped. `telemetry` rows are in storage.TELEMETRY_COLUMNS order plus
    `skewed`; a row or event whose connector the message does not name (1.6 StopTransaction,
    a later 2.0.1 TransactionEvent) has connector None until the store finds it from
    `transaction_id`."""

    pile_id: str
    action: str
    received_at: datetime
    telemetry: TelemetryMessage | None = None
    events: list[protocol.Event] = field(default_factory=list)
    identity: Identity | None = None
    transaction_id: str | None = None
    quirks: list[Quirk] = field(default_factory=list)

    def place(self, connector_id: int | None) -> None:
        """Give the rows and events without a connector `connector_id`; rows that still
        have none (the transaction is unknown) are left out and noted."""
        if self.telemetry is not None:
            rows = [r if r[2] is not None else r[:2] + (connector_id,) + r[3:] for r in self.telemetry.rows]
            kept = [r for r in rows if r[2] is not None]
            if len(kept) < len(rows):
                self.quirks.append(Quirk(DataProblem.INVALID_FIELD,
                                         f"{self.action}: transaction {self.transaction_id!r} is unknown, so its "
                                         f"connector is: {len(rows) - len(kept)} meter value(s) left out"))
            self.telemetry = TelemetryMessage(self.pile_id, kept, self.telemetry.skewed, []) if kept else None
        self.events = [e if e.connector_id is not None else e.model_copy(update={"connector_id": connector_id})
                       for e in self.events]


Handler = Callable[["Build", dict, dict], None]
HANDLERS: dict[tuple[str, str], Handler] = {}


def on(version: str, action: str) -> Callable[[Handler], Handler]:
    """Route envelopes of `action` in OCPP `version` to the decorated handler."""
    def register(handler: Handler) -> Handler:
        HANDLERS[(version, action)] = handler
        return handler
    return register


class OcppDecoder:
    def __init__(self, settings: Settings):
        self.ahead = timedelta(seconds=settings.clock_ahead_tolerance_s)
        self.max_age = timedelta(days=settings.clock_max_age_days)

    def decode(self, pile_id: str, inbound: Inbound) -> OcppMessage | DeadLetter:
        """The envelope's rows, or a dead letter whose reason names the action and the field."""
        def dead(reason: str) -> DeadLetter:
            return DeadLetter(inbound, reason[:500], pile_id, _KIND)

        try:
            env = json.loads(inbound.payload)
        except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
            return dead(f"OCPP envelope: malformed JSON: {error}")
        if not isinstance(env, dict):
            return dead("OCPP envelope: not a JSON object")
        # A charger's text may hold NUL or a lone surrogate ("\u0000", "\ud800"): PostgreSQL
        # would reject the whole message, and with it the fault it reports. As for MQTT piles
        # (salvage.py), they become U+FFFD and the repair is noted.
        cleaned = clean_json(env)
        repaired = cleaned != env
        env = cleaned
        if env.get("v") != 1 or isinstance(env.get("v"), bool):
            return dead(f"OCPP envelope: v must be 1, got {env.get('v')!r}")
        version, action = env.get("ocpp"), env.get("action")
        if version not in ("1.6", "2.0.1"):
            return dead(f"OCPP envelope: ocpp must be '1.6' or '2.0.1', got {version!r}")
        error = env.get("error")
        if error is not None:
            # Checked before the action: a frame the gateway could not read has none, and the
            # gateway's reason is the one worth keeping.
            code = error.get("code") if isinstance(error, dict) else None
            why = error.get("description") if isinstance(error, dict) else error
            what = action if isinstance(action, str) and action else "frame without a readable action"
            return dead(f"OCPP {version} {what} refused by the gateway ({code or 'error'}): {why or 'no description'}")
        if not isinstance(action, str) or not action:
            return dead(f"OCPP envelope: action must be a non-empty string, got {action!r}")
        payload, response = env.get("payload"), env.get("response") or {}
        if not isinstance(payload, dict):
            return dead(f"OCPP {version} {action}: payload must be a JSON object")
        if not isinstance(response, dict):
            response = {}
        received_at = _received(env.get("received_at"), inbound)
        build = Build(self, pile_id, version, action, received_at, env.get("connection_id"))
        if repaired:
            build.quirks.append(Quirk(DataProblem.INVALID_FIELD, f"{action}: text with NUL bytes or lone UTF-16 "
                                                                 "surrogates: replaced by U+FFFD"))
        handler = HANDLERS.get((version, action))
        if handler is not None:
            try:
                handler(build, payload, response)
            except Unreadable as bad:
                return dead(f"OCPP {version} {action}: {bad.where}: {bad.why}")
        return build.message()


def _received(text: Any, inbound: Inbound) -> datetime:
    """The gateway's receive time (when the charger's CALL arrived), else this worker's."""
    if isinstance(text, str):
        try:
            at = datetime.fromisoformat(text)
            if at.tzinfo is not None:
                return at
        except ValueError:
            pass
    return datetime.fromtimestamp(inbound.received_at, timezone.utc)


class Build:
    """The rows and events of one envelope as its handler finds them."""

    def __init__(self, decoder: OcppDecoder, pile_id: str, version: str, action: str, received_at: datetime,
                 connection_id: Any):
        self.decoder, self.pile_id, self.version, self.action = decoder, pile_id, version, action
        self.received_at, self.connection_id = received_at, connection_id
        self.rows: list[tuple] = []
        self.events: list[protocol.Event] = []
        self.quirks: list[Quirk] = []
        self.identity: Identity | None = None
        self.transaction_id: str | None = None

    def message(self) -> OcppMessage:
        telemetry = (TelemetryMessage(self.pile_id, self.rows, any(r[-1] for r in self.rows), [])
                     if self.rows else None)
        return OcppMessage(self.pile_id, self.action, self.received_at, telemetry, self.events, self.identity,
                           self.transaction_id, self.quirks)

    # --- times -----------------------------------------------------------------------
    def when(self, text: Any, where: str) -> tuple[datetime, datetime, bool]:
        """(time to store at, device time, skewed) for a device time, by ingest's clock
        rules (decode.Decoder._telemetry): a time without an offset is read as UTC and, its
        zone unknown, stored at receive time; so is one far off the receive time. A
        missing time (1.6 StatusNotification's is optional) is the receive time."""
        if text is None:
            return self.received_at, self.received_at, False
        if not isinstance(text, str):
            raise Unreadable(where, f"{text!r} is not an RFC 3339 time")
        try:
            device_ts = datetime.fromisoformat(text.strip())
        except ValueError:
            raise Unreadable(where, f"{text!r} is not an RFC 3339 time") from None
        if device_ts.tzinfo is None:
            device_ts = device_ts.replace(tzinfo=timezone.utc)
            self.quirks.append(Quirk(DataProblem.TIMESTAMP_WITHOUT_OFFSET,
                                     f"{self.action} {where} {text!r} has no UTC offset; read as UTC, stored at receive time"))
            return self.received_at, device_ts, True
        d = self.decoder
        skewed = not (self.received_at - d.max_age <= device_ts <= self.received_at + d.ahead)
        return (self.received_at if skewed else device_ts), device_ts, skewed

    # --- rows and events ---------------------------------------------------------------
    def reading(self, at: tuple[datetime, datetime, bool], connector: int | None, key: tuple, *,
                status: ConnectorStatus | None = None, error: str | None = None, vendor: str | None = None,
                info: str | None = None, measured: dict[str, float] | None = None) -> None:
        """One telemetry row: a status (with its error code) or measurements, never both
        invented: a meter value's row has no status."""
        time, device_ts, skewed = at
        m = measured or {}
        self.rows.append((
            time, self.pile_id, connector, _seq(self.action, device_ts, connector, *key), device_ts, self.received_at,
            status.value if status else None, error if status else None, vendor if status else None,
            info if status else None,
            m.get("voltage_v"), m.get("current_a"), m.get("current_offered_a"), m.get("power_kw"),
            m.get("power_offered_kw"), m.get("energy_kwh"), m.get("temp_c"), m.get("soc_pct"), None, None, None,
            skewed,
        ))

    def meter_values(self, values: Any, connector: int | None, transaction: Any, where: str) -> None:
        """Rows for an OCPP MeterValue list: one per timestamp for the connector, and one for
        the pile (connector 0) when it carries the cabinet temperature."""
        if not isinstance(values, list):
            raise Unreadable(where, "must be a list of MeterValue")
        for i, mv in enumerate(values):
            if not isinstance(mv, dict):
                raise Unreadable(f"{where}[{i}]", "must be a MeterValue object")
            at = self.when(need(mv, "timestamp", f"{where}[{i}]"), f"{where}[{i}].timestamp")
            notes: list[str] = []
            s = meter.sample(mv.get("sampledValue") or [], self.version, notes)
            for note in notes:
                self.quirks.append(Quirk(DataProblem.INVALID_FIELD, f"{self.action} {where}[{i}].{note}"))
            content = json.dumps(mv.get("sampledValue"), sort_keys=True, separators=(",", ":"))
            if s.connector:
                self.reading(at, connector, ("meter", transaction, content), measured=s.connector)
            if s.pile:
                self.reading(at, 0, ("meter", transaction, content), measured={"temp_c": s.pile["temp_c"]})

    def status(self, at, connector: int, status: ConnectorStatus, code: str, vendor: str | None,
               info: str | None, key: tuple) -> None:
        if connector == 0 and status not in protocol.PILE_STATUSES:
            # OCPP 1.6 section 4.9: connector 0 is Available, Unavailable or Faulted only.
            self.quirks.append(Quirk(DataProblem.INVALID_FIELD,
                                     f"{self.action}: status {status.value} for connector 0 (the charger): dropped"))
            return
        error, vendor, info = ocpp_error(code, vendor, info, f"connector {connector}", self.quirks)
        self.reading(at, connector, ("status", status.value, error, vendor, info) + key, status=status, error=error,
                     vendor=vendor, info=info[:_INFO_MAX] if info else None)

    def event(self, type_: PileEventType, at: tuple[datetime, datetime, bool], connector: int | None, key: tuple,
              data: dict) -> None:
        digest = hashlib.sha256(repr((self.action, type_.value) + key).encode()).hexdigest()[:40]
        self.events.append(protocol.Event.model_construct(
            v=1, id=f"ocpp-{digest}", ts=at[1], type=type_, connector_id=connector,
            data={"ocpp": self.version, "action": self.action} | {k: v for k, v in data.items() if v is not None},
            pile_id=None))


def _seq(action: str, device_ts: datetime, connector: int | None, *key) -> int:
    """A content key at most OCPP_SEQ_MAX; at one device time a higher _RANK sorts later."""
    digest = hashlib.sha256(repr((action, device_ts.isoformat(), connector) + key).encode()).digest()
    rank = 3 - _RANK.get(action, 0)
    return OCPP_SEQ_MAX - ((rank << 60) | (int.from_bytes(digest[:8], "big") & _KEY_BITS))


def need(obj: dict, name: str, where: str) -> Any:
    value = obj.get(name)
    if value is None:
        raise Unreadable(f"{where}.{name}" if where else name, "missing")
    return value


def whole(obj: dict, name: str, where: str = "", *, required: bool = True, low: int = 0) -> int | None:
    value = obj.get(name)
    path = f"{where}.{name}" if where else name
    if value is None:
        if required:
            raise Unreadable(path, "missing")
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 32767:
        raise Unreadable(path, f"{value!r} is not a whole number from {low}")
    return value


def as_text(obj: dict, name: str) -> str | None:
    value = obj.get(name)
    return str(value) if value is not None else None


def authorized(info: Any) -> tuple[bool, str | None]:
    """(accepted, the status) of an idTagInfo / idTokenInfo; no info is accepted."""
    status = info.get("status") if isinstance(info, dict) else None
    return status in (None, "Accepted"), status


