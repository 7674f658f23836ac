"""Helpers for maintenance tests: a fast policy and one maintenance pass."""
from __future__ import annotations

import threading
from contextlib import contextmanager

from maintenance import policy as policies
from maintenance.worker import Maintenance, run


def fast_policy(**changes) -> policies.Policy:
    """The default policy with clocks short enough for a test (seconds, not hours)."""
    base = policies.load()
    triage = base.triage.model_copy(update=changes.pop("triage", {}) | {})
    defaults = {"clear_after_s": 0, "verify_s": 1, "triage": triage}
    return base.model_copy(update=defaults | changes)


@contextmanager
def running_worker(settings, policy):
    """`pilecare maintenance` (rules, policy, dispatch, delivery) in a thread of the test."""
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(settings, stop, 0.2), kwargs={"schedule": False, "policy": policy},
                              daemon=True)
    thread.start()
    try:
        yield policy
    finally:
        stop.set()
        thread.join(20)


def use_rules(db, text: str) -> None:
    """Replace the stored rule set (as an operator would, rule by rule)."""
    from maintenance.alarms import rules as rulesets
    from maintenance.alarms import rulestore

    ruleset = rulesets.parse(text)
    rulestore.load(db)  # seed first, so the default does not come back later
    for (rule_id,) in db.execute("SELECT id FROM rules").fetchall():
        rulestore.delete(db, rule_id, actor="test")
    for rule in ruleset.rules:
        rulestore.save(db, rule.model_dump(mode="json", exclude_none=True), actor="test", create=True)


class Pass:
    """Runs maintenance passes in the test process, with a real downlink to the broker."""

    def __init__(self, settings, policy=None):
        self.m = Maintenance(settings, policy or fast_policy(), name="test-maintenance", conditions_every_s=0,
                             dispatch_every_s=0)

    def __call__(self, times: int = 1) -> int:
        return sum(self.m.tick() for _ in range(times))

    def close(self):
        self.m.close()
