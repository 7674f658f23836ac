"""Helpers for maintenance tests: a fast policy, the worker in a thread, a stored rule set
(all shared with `pilecare docs screenshots`, in simulators.inprocess) and one maintenance pass."""
from __future__ import annotations

from maintenance.worker import Maintenance
from simulators.inprocess import fast_policy, running_worker, use_rules

__all__ = ["Pass", "fast_policy", "running_worker", "use_rules"]


class Pass:
    """Runs maintenance passes in the test process, with a real downlink to the broker."""

    def __init__(self, settings, policy=None):
        self.m = Maintenance(settings, policy or fast_policy(), name="test-maintenance", conditions_every_s=0,
                             dispatch_every_s=0)

    def __call__(self, times: int = 1) -> int:
        return sum(self.m.tick() for _ in range(times))

    def close(self):
        self.m.close()
