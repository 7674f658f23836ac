"""OCPP 1.6-J: the CALLs a charge point sends and the answers the central system gives.

Handlers get the payload's top-level fields as snake_case arguments (nested values as
received) and return the answer; `Charger._handle_call` publishes the envelope for ingest
and sends the answer only after the broker's PUBACK (docs/ocpp.md, "Messages and answers").
pilecare is a maintenance platform, not a billing CSMS: every idTag is Accepted.
"""
from __future__ import annotations

from datetime import datetime

from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action, AuthorizationStatus, DataTransferStatus, RegistrationStatus

from gateway.ocpp import store
from gateway.ocpp.charger import Charger, utcnow
from gateway.ocpp.envelope import storable

_ACCEPTED = IdTagInfo(status=AuthorizationStatus.accepted)
MAX_CONNECTOR = 32767  # as ingest reads connector ids (ingest/ocpp/envelope.py `whole`)
MAX_METER_WH = 2**63 - 1  # ocpp_transactions.meter_start_wh bigint


def _now() -> str:
    return utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Charger16(Charger, ChargePoint):
    version = "1.6"
    known_actions = frozenset(action.value for action in Action)

    @on(Action.boot_notification)
    async def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str, **fields):
        """Accepted when the pile is commissioned, else Pending with the retry interval
        (1.6 §4.2, §6.9): a Pending charger may only boot again or answer our CALLs."""
        accepted, interval = await self.boot_decision()
        self.pending = not accepted
        response = call_result.BootNotification(
            current_time=_now(),
            interval=interval,
            status=RegistrationStatus.accepted if accepted else RegistrationStatus.pending)
        await self.publish_status("online", firmware=fields.get("firmware_version"))
        return response

    @on(Action.heartbeat)
    async def on_heartbeat(self, **fields):
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)
    async def on_status_notification(self, **fields):
        return call_result.StatusNotification()

    @on(Action.meter_values)
    async def on_meter_values(self, **fields):
        return call_result.MeterValues()

    @on(Action.start_transaction)
    async def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **fields):
        """transactionId from `ocpp_transactions`: the same start replayed gets the same id.

        connectorId 1–32767 (1.6 §6.45: > 0) and meterStart a Wh register (0 – 2^63-1) are
        checked here, the schema bounding neither: beyond the columns they would be an
        InternalError the charger retries for ever, with no dead letter."""
        started_at = await self._timestamp("timestamp", timestamp)
        if not 1 <= connector_id <= MAX_CONNECTOR:
            raise await self.invalid(PropertyConstraintViolationError(
                details={"cause": f"connectorId {connector_id} is not a connector (1–{MAX_CONNECTOR})"}))
        if not 0 <= meter_start <= MAX_METER_WH:
            raise await self.invalid(PropertyConstraintViolationError(
                details={"cause": f"meterStart {meter_start} is not a Wh register reading (0–{MAX_METER_WH})"}))
        id_tag = storable(id_tag)
        transaction_id = await store.transaction_id(self.context.pool, self.pile_id, connector_id, id_tag,
                                                    meter_start, started_at)
        return call_result.StartTransaction(transaction_id=transaction_id, id_tag_info=_ACCEPTED)

    @on(Action.stop_transaction)
    async def on_stop_transaction(self, id_tag: str | None = None, **fields):
        return call_result.StopTransaction(id_tag_info=_ACCEPTED if id_tag is not None else None)

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str, **fields):
        return call_result.Authorize(id_tag_info=_ACCEPTED)

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **fields):
        """pilecare knows no vendor's extensions (1.6 §4.3): UnknownVendorId; ingest still gets
        the payload."""
        return call_result.DataTransfer(status=DataTransferStatus.unknown_vendor_id)

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(self, **fields):
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, **fields):
        return call_result.FirmwareStatusNotification()

    async def _timestamp(self, field: str, value: str) -> datetime:
        """A 1.6 dateTime (the schema's "format": "date-time" is not enforced by the validator)."""
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise await self.invalid(PropertyConstraintViolationError(
                details={"cause": f"{field} {value!r} is not an RFC 3339 date-time with an offset"}))
        return moment
