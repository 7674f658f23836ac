"""The message the gateway hands to ingest for every CALL a charger sends (docs/ocpp.md).

Published on `{prefix}/piles/{pile_id}/ocpp`, QoS 1, not retained. Shape (contract v1):

    {"v": 1, "ocpp": "1.6" | "2.0.1", "action": "StatusNotification", "message_id": "<CALL id>",
     "received_at": "2026-11-30T21:00:00.123456Z", "connection_id": "<uuid>",
     "payload": {... the CALL payload as received ...}, "response": {... the CALLRESULT ...},
     "error": null | {"code": "FormationViolation", "description": "..."}, "raw": null | "<frame>"}

A CALL that broke the schema carries `error` (the CALLERROR the charger got) and `raw` (the
frame as received) and no `response`: ingest dead-letters it with the reason.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from enum import Enum

from ocpp.exceptions import OCPPError

from gateway.topics import Topics

ENVELOPE_VERSION = 1
OCPP_LEAF = "ocpp"  # pilecare.domain.MessageKind.OCPP once ingest has it


class RpcErrorCode(str, Enum):
    """CALLERROR codes of OCPP-J 1.6 §4.2.3 and OCPP 2.0.1 part 4 §4.3.

    The two versions spell two codes differently: 1.6 "FormationViolation" and
    "OccurenceConstraintViolation", 2.0.1 "FormatViolation" and "OccurrenceConstraintViolation"
    (the `ocpp` package raises the 2.0.1 spelling for both). 2.0.1 adds "RpcFrameworkError"
    for a frame that is not a valid RPC message at all and "MessageTypeNotSupported" for an
    unknown message type number.
    """

    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMATION_VIOLATION = "FormationViolation"        # 1.6
    FORMAT_VIOLATION = "FormatViolation"              # 2.0.1
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"    # 1.6
    OCCURRENCE_CONSTRAINT_VIOLATION = "OccurrenceConstraintViolation"  # 2.0.1
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"
    RPC_FRAMEWORK_ERROR = "RpcFrameworkError"         # 2.0.1
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"  # 2.0.1


_SPELLING_16 = {
    RpcErrorCode.FORMAT_VIOLATION.value: RpcErrorCode.FORMATION_VIOLATION.value,
    RpcErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION.value: RpcErrorCode.OCCURENCE_CONSTRAINT_VIOLATION.value,
    RpcErrorCode.RPC_FRAMEWORK_ERROR.value: RpcErrorCode.PROTOCOL_ERROR.value,
}
_SPELLING_201 = {
    RpcErrorCode.FORMATION_VIOLATION.value: RpcErrorCode.FORMAT_VIOLATION.value,
    RpcErrorCode.OCCURENCE_CONSTRAINT_VIOLATION.value: RpcErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION.value,
}


def error_code(error: OCPPError, version: str) -> str:
    """The CALLERROR code for `error` as OCPP `version` ("1.6" | "2.0.1") spells it."""
    spelling = _SPELLING_16 if version == "1.6" else _SPELLING_201
    return spelling.get(error.code, error.code)


def error_description(error: OCPPError) -> str:
    """What was wrong, for the charger's log and the dead letter: the validator's cause
    (naming the field) when there is one, else the code's default description."""
    details = error.details if isinstance(error.details, dict) else {}
    cause = details.get("cause")
    return str(cause) if cause else str(error.description)


# What PostgreSQL text (and pydantic's str) cannot hold: NUL and lone UTF-16 surrogates, which
# a charger's JSON may carry ("\u0000", "\ud800").
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str | None) -> str | None:
    """`text` with NUL and lone surrogates as U+FFFD, for a column or a Status field."""
    return _UNSTORABLE.sub("\ufffd", text) if text else text


def topic(topics: Topics, pile_id: str) -> str:
    return topics.pile(pile_id, OCPP_LEAF)


def rfc3339(moment: datetime) -> str:
    """UTC with microseconds and a Z: 2026-11-30T21:00:00.123456Z."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def accepted(*, version: str, action: str, message_id: str, received_at: datetime, connection_id: str,
             payload: dict, response: dict) -> dict:
    """The envelope of a CALL the gateway answered with a CALLRESULT."""
    return {"v": ENVELOPE_VERSION, "ocpp": version, "action": action, "message_id": message_id,
            "received_at": rfc3339(received_at), "connection_id": connection_id,
            "payload": payload, "response": response, "error": None, "raw": None}


def refused(*, version: str, action: str | None, message_id: str | None, received_at: datetime,
            connection_id: str, payload, code: str, description: str, raw: str) -> dict:
    """The envelope of a frame the gateway answered with a CALLERROR (or could not answer)."""
    return {"v": ENVELOPE_VERSION, "ocpp": version, "action": action, "message_id": message_id,
            "received_at": rfc3339(received_at), "connection_id": connection_id,
            "payload": payload if isinstance(payload, dict) else None, "response": None,
            "error": {"code": code, "description": description[:1000]}, "raw": raw}
