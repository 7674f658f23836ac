"""Work orders: the lifecycle and its vocabulary, the policy step, remote triage, verification, SLA clocks, safety, fault reports and the desk's moves."""
from maintenance.orders.lifecycle import (OPEN, PLANNED_KINDS, REOPENED_FROM, TRANSITIONS, WorkOrderKind,
                                          WorkOrderState, carry_alarms, create_installation, note, open_corrective,
                                          transition)
from maintenance.orders.safety import take_out_of_service

__all__ = ["OPEN", "PLANNED_KINDS", "REOPENED_FROM", "TRANSITIONS", "WorkOrderKind", "WorkOrderState", "carry_alarms",
           "create_installation", "note", "open_corrective", "take_out_of_service", "transition"]
