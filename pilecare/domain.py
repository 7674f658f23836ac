"""Shared vocabularies. Each is a `str, Enum` so it serialises as its value."""
from __future__ import annotations

from enum import Enum

# A pile id is also its MQTT topic segment and client id: the registry and the device
# contract accept exactly these.
PILE_ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


class ConnectorStatus(str, Enum):
    """OCPP 1.6 ChargePointStatus (connector 0 = the whole pile uses Available,
    Unavailable and Faulted only)."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EVSE = "SuspendedEVSE"
    SUSPENDED_EV = "SuspendedEV"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


# Whether a connector can charge is said by its status, not its error code: firmware keeps
# a connector Faulted while its error code goes back to NoError (domain brief, "Field
# realities"). Connector 0 (the pile as a whole) is down when Faulted or Unavailable. A
# charging connector only when Faulted: Unavailable is also what ChangeAvailability
# Inoperative leaves behind (the platform's own out-of-service for a safety fault), after
# the repair as before it, so it cannot say whether the fault is still there.
PILE_DOWN = frozenset({ConnectorStatus.FAULTED.value, ConnectorStatus.UNAVAILABLE.value})
CONNECTOR_DOWN = frozenset({ConnectorStatus.FAULTED.value})


def is_down(connector_id: int, status: str) -> bool:
    """Whether a connector (0 = the pile) reporting `status` cannot work, whatever its error
    code says (OCPP 1.6 ChargePointStatus; connector 0 per OCPP 1.6 section 4.9)."""
    return status in (PILE_DOWN if connector_id == 0 else CONNECTOR_DOWN)


class ErrorCode(str, Enum):
    """OCPP 1.6 ChargePointErrorCode. Vendor detail rides in vendor_error_code / info."""

    CONNECTOR_LOCK_FAILURE = "ConnectorLockFailure"
    EV_COMMUNICATION_ERROR = "EVCommunicationError"
    GROUND_FAILURE = "GroundFailure"
    HIGH_TEMPERATURE = "HighTemperature"
    INTERNAL_ERROR = "InternalError"
    LOCAL_LIST_CONFLICT = "LocalListConflict"
    NO_ERROR = "NoError"
    OTHER_ERROR = "OtherError"
    OVER_CURRENT_FAILURE = "OverCurrentFailure"
    OVER_VOLTAGE = "OverVoltage"
    POWER_METER_FAILURE = "PowerMeterFailure"
    POWER_SWITCH_FAILURE = "PowerSwitchFailure"
    READER_FAILURE = "ReaderFailure"
    RESET_FAILURE = "ResetFailure"
    UNDER_VOLTAGE = "UnderVoltage"
    WEAK_SIGNAL = "WeakSignal"


class PileKind(str, Enum):
    """Current type delivered to the vehicle."""

    AC = "AC"
    DC = "DC"


class EnergyRegister(str, Enum):
    """How a pile model's energy register (OCPP Energy.Active.Import.Register) behaves: a
    per-model setting (`pile_models.energy_register`) the meter rule judges it by. Energy
    delivered needs no setting: one definition copes with all three and with glitches
    (migration 0025's `energy_walk`). Source: the domain brief's field realities, issue 11
    item 4.
    """

    LIFETIME = "lifetime"        # counts up for the pile's life; going down is a fault
    SESSION = "session"          # restarts at every session: going down is a new session
    SESSION_END = "session_end"  # moves only when a session ends: still while charging is normal


class Connectivity(str, Enum):
    """What the pile's retained `status` topic (and its last will) says."""

    ONLINE = "online"
    OFFLINE = "offline"


class PileEventType(str, Enum):
    """Discrete things a pile reports on its `events` topic (docs/device-protocol.md)."""

    BOOT = "boot"
    SESSION_STARTED = "session_started"
    SESSION_STOPPED = "session_stopped"
    SESSION_START_FAILED = "session_start_failed"
    CONNECTOR_PLUGGED = "connector_plugged"
    CONNECTOR_UNPLUGGED = "connector_unplugged"
    FIRMWARE_UPDATED = "firmware_updated"
    EMERGENCY_STOP = "emergency_stop"
    EMERGENCY_STOP_RELEASED = "emergency_stop_released"
    DOOR_OPENED = "door_opened"
    FAULT = "fault"
    FAULT_CLEARED = "fault_cleared"


class CommandType(str, Enum):
    """Downlink commands, named after their OCPP 1.6 counterparts."""

    RESET = "Reset"
    CHANGE_AVAILABILITY = "ChangeAvailability"
    UNLOCK_CONNECTOR = "UnlockConnector"
    TRIGGER_MESSAGE = "TriggerMessage"


class CommandAckStatus(str, Enum):
    """Answer a pile gives on `commands/ack` (OCPP 1.6 response statuses)."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    SCHEDULED = "Scheduled"
    UNLOCKED = "Unlocked"
    UNLOCK_FAILED = "UnlockFailed"
    NOT_SUPPORTED = "NotSupported"


class CustomerTier(str, Enum):
    """Customer importance tiers (R-INFO): drive service levels."""

    PLATINUM = "platinum"
    GOLD = "gold"
    STANDARD = "standard"


class SiteEnvironment(str, Enum):
    """Site conditions that shorten preventive-maintenance intervals (R-PM)."""

    HOT = "hot"
    DUSTY = "dusty"
    COASTAL = "coastal"
    COLD = "cold"
    HEAVY_USE = "heavy_use"


class MessageKind(str, Enum):
    """The uplink topics ingest consumes. `ocpp` is not a device topic: the OCPP gateway
    publishes there, for the charger, one envelope per accepted OCPP CALL
    (docs/ocpp.md, "From OCPP to pilecare")."""

    TELEMETRY = "telemetry"
    STATUS = "status"
    EVENTS = "events"
    COMMAND_ACK = "commands/ack"
    OCPP = "ocpp"


class Severity(str, Enum):
    """Alarm and fault severity, most severe first; rules set it, the maintenance policy turns it
    into priority and SLA clocks."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"


class Role(str, Enum):
    """What a person may do in pilecare (docs/roles.md); the API enforces it, and notices
    are addressed to a role."""

    ADMIN = "admin"              # accounts, webhooks, everything
    SUPERVISOR = "supervisor"    # rules, escalations, plans; everything a dispatcher may
    DISPATCHER = "dispatcher"    # assigns engineers, moves orders, maintenance windows
    ENGINEER = "engineer"        # only the orders they hold (the phone app)
    AGENT = "agent"              # service agent: fault intake, customers, quotes, follow-up
    VIEWER = "viewer"            # reads fleet health, alarms and orders; changes nothing
    CUSTOMER = "customer"        # a customer's portal login: only that customer's objects (issue 13)
    PARTS_KEEPER = "parts_keeper"  # stock: receipts, inspections, transfers, returns, stock-takes (R-PARTS)
    MANAGER = "manager"          # service manager: costs, budgets and their approvals, reports (R-COST, R-KPI)
