"""The fault catalogue: what each fault does to a simulated pile, and what cures it."""
from __future__ import annotations

from enum import Enum


class FaultKind(str, Enum):
    """Failures seen in the field (../shared/domain.md, "Field reality")."""

    FAN_FAILURE = "fan_failure"                # fan stops, temperatures climb, HighTemperature → Faulted
    GROUND_FAULT = "ground_fault"              # GroundFailure, Faulted at once
    CONNECTOR_LOCK = "connector_lock"          # ConnectorLockFailure on one connector
    DERATING = "derating"                      # power module degrading: power well below offered while Charging
    METER_FAILURE = "meter_failure"            # energy register stops moving while Charging
    SILENT_LOSS = "silent_loss"                # stops reporting and disconnects cleanly: no last will
    NETWORK_FLAPPING = "network_flapping"      # connection drops abruptly again and again: last will each time
    EMERGENCY_STOP = "emergency_stop"          # e-stop pressed: Unavailable, OtherError/EStop
    FAILED_STARTS = "failed_starts"            # sessions fail to start while the pile says Available


# What a remote Reset (R-TRIAGE) cures: software and communication glitches, not hardware.
CURED_BY_RESET = frozenset({FaultKind.CONNECTOR_LOCK, FaultKind.NETWORK_FLAPPING, FaultKind.FAILED_STARTS,
                            FaultKind.METER_FAILURE})

# Faults on one connector rather than the whole pile.
CONNECTOR_FAULTS = frozenset({FaultKind.CONNECTOR_LOCK, FaultKind.GROUND_FAULT, FaultKind.METER_FAILURE,
                              FaultKind.FAILED_STARTS, FaultKind.DERATING})

# Temperatures (°C) at which a pile without cooling reports HighTemperature and stops.
OVERHEAT_C = 85.0
