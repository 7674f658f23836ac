"""OCPP 2.0.1: the CALLs a charging station sends and the answers the CSMS gives.

Handlers get the payload's top-level fields as snake_case arguments (nested values as
received, camelCase) and return the answer; `Charger._handle_call` publishes the envelope for
ingest and sends the answer only after the broker's PUBACK (docs/ocpp.md, "Messages and
answers"). pilecare is a
maintenance platform, not a billing CSMS: every idToken is Accepted.
"""
from __future__ import annotations

from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result
from ocpp.v201.datatypes import IdTokenInfoType
from ocpp.v201.enums import Action, AuthorizationStatusEnumType, RegistrationStatusEnumType

from gateway.ocpp.charger import Charger, utcnow

_ACCEPTED = IdTokenInfoType(status=AuthorizationStatusEnumType.accepted)


def _now() -> str:
    return utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Charger201(Charger, ChargePoint):
    version = "2.0.1"
    known_actions = frozenset(action.value for action in Action)

    @on(Action.boot_notification)
    async def on_boot_notification(self, charging_station: dict, reason: str, **fields):
        """Accepted when the pile is commissioned, else Pending with the retry interval
        (2.0.1 B01/B02): a Pending station may only boot again or answer our CALLs."""
        accepted, interval = await self.boot_decision()
        self.pending = not accepted
        response = call_result.BootNotification(
            current_time=_now(),
            interval=interval,
            status=RegistrationStatusEnumType.accepted if accepted else RegistrationStatusEnumType.pending)
        await self.publish_status("online", firmware=charging_station.get("firmwareVersion"))
        return response

    @on(Action.heartbeat)
    async def on_heartbeat(self, **fields):
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)
    async def on_status_notification(self, **fields):
        return call_result.StatusNotification()

    @on(Action.notify_event)
    async def on_notify_event(self, **fields):
        return call_result.NotifyEvent()

    @on(Action.transaction_event)
    async def on_transaction_event(self, id_token: dict | None = None, **fields):
        """idTokenInfo Accepted when the event carries an idToken (2.0.1 E01–E03)."""
        return call_result.TransactionEvent(id_token_info=_ACCEPTED if id_token else None)

    @on(Action.meter_values)
    async def on_meter_values(self, **fields):
        return call_result.MeterValues()

    @on(Action.authorize)
    async def on_authorize(self, **fields):
        return call_result.Authorize(id_token_info=_ACCEPTED)

    @on(Action.log_status_notification)
    async def on_log_status_notification(self, **fields):
        return call_result.LogStatusNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, **fields):
        return call_result.FirmwareStatusNotification()

    @on(Action.security_event_notification)
    async def on_security_event_notification(self, **fields):
        return call_result.SecurityEventNotification()

    @on(Action.notify_report)
    async def on_notify_report(self, **fields):
        return call_result.NotifyReport()
