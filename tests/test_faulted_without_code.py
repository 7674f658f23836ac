"""Issue 11, reviewer's item 1: a pile or connector that says Faulted raises an alarm, and so
a work order, also without an error code (NoError, a status without a code, a code no
enabled rule knows). It clears at a working report like any status alarm; a code reported
later is the same fault (one order); Unavailable is an operator's state and raises nothing.
Real broker, ingest, PostgreSQL and API."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from maintenance.alarms import rulestore
from tests.devices import Device, wait_for
from tests.maint import Pass, fast_policy


class Pile:
    """One pile's telemetry stream: each report one second after the last, the newest now."""

    def __init__(self, settings, db, pile_id):
        self.settings, self.db, self.pile_id, self.seq = settings, db, pile_id, 0

    def report(self, *states, pile=None):
        """One message per (status, error code) of connector 1 (connector 2 Available);
        `pile` is the pile's own top-level fields (connector 0), sent with each message."""
        device = Device(self.settings)
        start = datetime.now(timezone.utc) - timedelta(seconds=len(states))
        for i, (status, error) in enumerate(states):
            self.seq += 1
            body = {"v": 1, "ts": (start + timedelta(seconds=i)).isoformat(), "seq": self.seq,
                    "connectors": [{"id": 1, "status": status, "error_code": error},
                                   {"id": 2, "status": "Available", "error_code": "NoError"}]} | (pile or {})
            device.publish(device.topics.telemetry(self.pile_id), body)
        device.wait_acked()
        device.close()
        wait_for(lambda: self.db.execute("SELECT count(*) FROM telemetry WHERE connector_id = 1 AND pile_id = %s",
                                         (self.pile_id,)).fetchone()[0] == self.seq)


@pytest.fixture
def tick(settings):
    p = Pass(settings, fast_policy(clear_after_s=0))  # a hold-off that passes at once
    yield p
    p.close()


def alarms(db):
    return db.execute("SELECT connector_id, rule_id, state FROM alarms ORDER BY id").fetchall()


def orders(db):
    return db.execute("SELECT fault_category, title, state, resolution FROM work_orders ORDER BY id").fetchall()


AVAILABLE = ("Available", "NoError")


@pytest.mark.parametrize("connector, state, pile", [
    (1, ("Faulted", "NoError"), None),                                        # a connector without a code
    (0, AVAILABLE, {"status": "Faulted", "error_code": "NoError"}),           # the pile itself
    (0, AVAILABLE, {"status": "Faulted"}),                                    # no code at all: read as NoError
], ids=["connector", "pile", "pile-without-error-code"])
def test_faulted_without_an_error_code_raises_an_alarm_and_opens_a_work_order(
        settings, db, fleet, ingest, tick, api, connector, state, pile):
    Pile(settings, db, fleet[0]).report(state, pile=pile)
    tick(2)

    assert alarms(db) == [(connector, "status.faulted", "active")]
    where = f"connector {connector}" if connector else "pile"
    assert [o[:2] for o in orders(db)] == [("other", f"Faulted without an error code on {where}")]
    assert api.get(f"/piles/{fleet[0]}").json()["faulted"] is True
    assert api.get("/fleet/health").json()["faulted"] == 1


def test_faulted_with_a_code_whose_rule_is_disabled_raises_the_faulted_alarm(settings, db, fleet, ingest, tick):
    rule = rulestore.load(db)[0].by_id("error.UnderVoltage").model_dump(mode="json", exclude_none=True)
    rulestore.save(db, rule | {"enabled": False}, actor="test", rule_id="error.UnderVoltage")
    Pile(settings, db, fleet[0]).report(("Faulted", "UnderVoltage"))
    tick(2)

    assert alarms(db) == [(1, "status.faulted", "active")]
    assert [o[1] for o in orders(db)] == ["Faulted (UnderVoltage) on connector 1"]


@pytest.mark.parametrize("connector, down, pile_down", [
    (1, ("Faulted", "NoError"), None),
    (0, AVAILABLE, {"status": "Faulted", "error_code": "NoError"}),
], ids=["connector", "pile"])
def test_the_faulted_alarm_clears_and_its_order_resolves_at_an_available_report(
        settings, db, fleet, ingest, tick, connector, down, pile_down):
    pile = Pile(settings, db, fleet[0])
    pile.report(down, down, pile=pile_down)
    tick(2)
    assert alarms(db) == [(connector, "status.faulted", "active")]

    pile.report(AVAILABLE, pile={"status": "Available"} if pile_down else None)
    tick(2)

    assert alarms(db) == [(connector, "status.faulted", "cleared")]
    assert [o[2:] for o in orders(db)] == [("resolved", "cleared_at_pile")]


def test_the_pile_still_unavailable_after_faulted_keeps_its_alarm_as_the_pile_wide_alarms_do(
        settings, db, fleet, ingest, tick):
    pile = Pile(settings, db, fleet[0])
    pile.report(AVAILABLE, pile={"status": "Faulted"})
    pile.report(AVAILABLE, pile={"status": "Unavailable"})
    tick(2)
    assert alarms(db) == [(0, "status.faulted", "active")]


def test_a_faulted_alarm_that_returns_within_the_hold_off_is_the_same_alarm(settings, db, fleet, ingest):
    p = Pass(settings, fast_policy(clear_after_s=600))
    try:
        Pile(settings, db, fleet[0]).report(("Faulted", "NoError"), AVAILABLE, ("Faulted", "NoError"))
        p(2)
    finally:
        p.close()
    assert db.execute("SELECT rule_id, state, clear_requested_at, occurrences, flaps FROM alarms").fetchall() == [
        ("status.faulted", "active", None, 2, 1)]
    assert len(orders(db)) == 1


@pytest.mark.parametrize("pile", [None, {"status": "Unavailable", "error_code": "NoError"}], ids=["connector", "pile"])
def test_unavailable_is_an_operators_state_and_raises_nothing(settings, db, fleet, ingest, tick, api, pile):
    Pile(settings, db, fleet[0]).report(("Unavailable", "NoError"), pile=pile)
    tick(2)

    assert alarms(db) == []
    assert orders(db) == []
    assert api.get(f"/piles/{fleet[0]}").json()["faulted"] is False


def test_a_code_reported_after_faulted_without_one_joins_the_same_order(settings, db, fleet, ingest, tick):
    pile = Pile(settings, db, fleet[0])
    pile.report(("Faulted", "NoError"))
    tick(2)
    assert [o[0] for o in orders(db)] == ["other"]

    pile.report(("Faulted", "GroundFailure"))
    tick(2)

    assert alarms(db) == [(1, "status.faulted", "active"), (1, "error.GroundFailure", "active")]
    assert db.execute("SELECT count(*), bool_and(safety) FROM work_orders").fetchone() == (1, True), \
        "one fault, one order; the ground fault makes it a safety order"
    assert db.execute("SELECT count(DISTINCT work_order_id) FROM alarms").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM notifications WHERE kind = 'safety'").fetchone() == (1,), \
        "the supervisor hears of the safety fault that joined"

    pile.report(AVAILABLE)
    tick(2)
    assert [a[2] for a in alarms(db)] == ["cleared", "cleared"]
    assert [o[2:] for o in orders(db)] == [("resolved", "cleared_at_pile")]


def test_a_connector_whose_code_goes_back_to_no_error_while_faulted_keeps_only_the_codes_alarm(
        settings, db, fleet, ingest, tick):
    Pile(settings, db, fleet[0]).report(("Faulted", "PowerSwitchFailure"), ("Faulted", "NoError"))
    tick(2)
    assert alarms(db) == [(1, "error.PowerSwitchFailure", "active")]
    assert len(orders(db)) == 1


def test_the_pile_faulted_without_a_code_and_a_connector_with_one_in_one_message_are_one_order(
        settings, db, fleet, ingest, tick):
    Pile(settings, db, fleet[0]).report(("Faulted", "PowerSwitchFailure"), pile={"status": "Faulted"})
    tick(2)

    assert sorted(alarms(db)) == [(0, "status.faulted", "active"), (1, "error.PowerSwitchFailure", "active")]
    assert db.execute("SELECT count(*) FROM work_orders").fetchone() == (1,)


def test_a_rule_set_seeded_before_the_faulted_rule_gets_it_from_migration_0026(db):
    from importlib import resources

    rulestore.load(db)  # seeded, as on an installation that ran before this rule existed
    db.execute("DELETE FROM rules WHERE id = 'status.faulted'")
    before = rulestore.version(db)
    migration = resources.files("pilecare.migrations").joinpath("0026_faulted_rule.sql").read_text()

    db.execute(migration)
    db.execute(migration)  # a rule already there is left alone

    ruleset, version = rulestore.load(db)
    assert ruleset.for_faulted() == rulestore.rulesets.default().for_faulted()
    assert version == before + 1, "a new version: running maintenance processes reload"
