"""Commands reach OCPP chargers through the relay, one CALL at a time, and every outcome is recorded.

The charger is the `ocpp` package's own ChargePoint (tests/ocpp_chargers.py) on a real
WebSocket; the central side is a bare OCPP-J server offering the gateway's Session interface.
The kill -9 cases with a real `pilecare ocpp` process are in test_ocpp_commands_restart.py.
"""
from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest
from ocpp.exceptions import NotImplementedError as CallNotImplemented

from gateway.commands import Downlink, expire_commands
from gateway.credentials import Protocol, issue
from gateway.ocpp import relay as relay_module
from gateway.ocpp.relay import OUTCOME_UNKNOWN, CommandRelay
from maintenance.orders import note, open_corrective
from maintenance.orders.command_outcomes import note_command_outcomes
from pilecare.domain import CommandType as T
from tests.devices import wait_for
from tests.ocpp_chargers import HOLD, BareCentral, open_charger


@pytest.fixture
def ocpp_piles(db, fleet):
    """Two piles registered as OCPP chargers (each with a live OCPP credential)."""
    for pile in fleet[:2]:
        issue(db, pile, Protocol.OCPP, issued_by="test")
    return fleet[:2]


@pytest.fixture
def central(settings):
    central = BareCentral(settings.database_url, CommandRelay(settings.database_url, sweep_s=60),
                          call_timeout_s=1.5).start()
    yield central
    central.stop()


@pytest.fixture
def downlink(settings):
    link = Downlink(settings, f"test-ocpp-commands-{uuid.uuid4().hex[:6]}")
    yield link
    link.close()


def connect(central, pile, version="1.6"):
    charger, _ = central.run(open_charger(central.url, pile, version))
    return charger


def command(db, command_id):
    return db.execute("SELECT state, ack_status, ack_info, failure, via, connection_id FROM commands WHERE id = %s",
                      (command_id,)).fetchone()


def ended(db, command_id):
    return lambda: command(db, command_id)[0] in ("acknowledged", "failed", "timed_out")


@pytest.mark.parametrize("version, wire_type", [("1.6", "Hard"), ("2.0.1", "Immediate")])
def test_a_reset_reaches_the_charger_and_its_answer_is_recorded(db, ocpp_piles, central, downlink, version, wire_type):
    pile = ocpp_piles[0]
    charger = connect(central, pile, version)

    command_id = downlink.send(db, pile, T.RESET, {"type": "Hard"}, requested_by="triage")

    wait_for(ended(db, command_id))
    assert charger.calls() == [("Reset", {"type": wire_type})]
    state, ack_status, ack_info, failure, via, connection_id = command(db, command_id)
    assert (state, ack_status, failure, via) == ("acknowledged", "Accepted", None, "ocpp")
    assert connection_id is not None


def test_an_ocpp_piles_command_is_not_published_on_mqtt(db, settings, ocpp_piles, downlink, fleet):
    ocpp_command = downlink.send(db, ocpp_piles[0], T.RESET, {"type": "Soft"}, requested_by="t")
    mqtt_command = downlink.send(db, fleet[5], T.RESET, {"type": "Soft"}, requested_by="t")

    assert command(db, ocpp_command)[0::4] == ("pending", "ocpp")  # waits in PostgreSQL for the relay
    assert command(db, mqtt_command)[0::4] == ("sent", "mqtt")     # published, as before


def test_commands_queued_while_the_charger_was_away_are_delivered_in_order_when_it_connects(
        db, ocpp_piles, central, downlink):
    pile = ocpp_piles[0]
    first = downlink.send(db, pile, T.TRIGGER_MESSAGE, {"requested_message": "status"}, requested_by="t")
    second = downlink.send(db, pile, T.RESET, {"type": "Soft"}, requested_by="t")

    charger = connect(central, pile)

    wait_for(ended(db, second))
    assert [action for action, _ in charger.calls()] == ["TriggerMessage", "Reset"]
    assert command(db, first)[:2] == ("acknowledged", "Accepted")


def test_only_one_call_is_in_flight_per_charger(db, ocpp_piles, central, downlink):
    pile = ocpp_piles[0]
    charger = connect(central, pile)
    charger.answers["Reset"] = HOLD
    first = downlink.send(db, pile, T.RESET, {"type": "Soft"}, requested_by="t")
    second = downlink.send(db, pile, T.CHANGE_AVAILABILITY, {"connector_id": 0, "type": "Inoperative"},
                           requested_by="t")
    wait_for(lambda: len(charger.calls()) == 1)

    # The charger keeps reading while it holds its answer, so a second CALL would show here.
    time.sleep(0.8)
    assert [action for action, _ in charger.calls()] == ["Reset"]
    assert (command(db, first)[0], command(db, second)[0]) == ("delivering", "pending")

    central.loop.call_soon_threadsafe(charger.release, "Reset")

    wait_for(ended(db, second))
    assert [f[0] for f in charger.frames] == [2, 2]  # CALL, CALL: nothing else reached the charger
    assert [action for action, _ in charger.calls()] == ["Reset", "ChangeAvailability"]
    assert command(db, first)[:2] == ("acknowledged", "Accepted")


def test_a_callerror_answer_is_recorded_failed_with_its_code(db, ocpp_piles, central, downlink):
    pile = ocpp_piles[0]
    charger = connect(central, pile)
    charger.answers["Reset"] = CallNotImplemented("no remote reset on this model")

    command_id = downlink.send(db, pile, T.RESET, {"type": "Soft"}, requested_by="t")

    wait_for(ended(db, command_id))
    assert command(db, command_id)[0::3] == (
        "failed", "the charger answered CALLERROR NotImplemented: no remote reset on this model")


def test_a_charger_that_does_not_answer_times_out_and_the_next_command_still_goes(db, ocpp_piles, central, downlink):
    pile = ocpp_piles[0]
    charger = connect(central, pile)
    charger.answers["Reset"] = HOLD  # never released
    silent = downlink.send(db, pile, T.RESET, {"type": "Soft"}, requested_by="t")
    after = downlink.send(db, pile, T.TRIGGER_MESSAGE, {"requested_message": "boot"}, requested_by="t")

    wait_for(ended(db, after))
    assert command(db, silent)[0::3] == ("timed_out", "the charger did not answer the CALL in time")
    assert command(db, after)[:2] == ("acknowledged", "Accepted")


def test_a_rejected_answer_is_an_acknowledged_command_with_status_rejected(db, ocpp_piles, central, downlink):
    pile = ocpp_piles[0]
    charger = connect(central, pile, "2.0.1")
    charger.answers["ChangeAvailability"] = "Rejected"

    command_id = downlink.send(db, pile, T.CHANGE_AVAILABILITY, {"connector_id": 1, "type": "Inoperative"},
                               requested_by="t")

    wait_for(ended(db, command_id))
    assert charger.calls() == [("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}})]
    assert command(db, command_id)[:2] == ("acknowledged", "Rejected")


def test_params_that_cannot_be_mapped_fail_with_the_reason_and_nothing_is_sent(db, ocpp_piles, central, downlink):
    pile = ocpp_piles[0]
    charger = connect(central, pile, "2.0.1")
    bad = downlink.send(db, pile, T.UNLOCK_CONNECTOR, {"connector_id": 99}, requested_by="t")
    good = downlink.send(db, pile, T.UNLOCK_CONNECTOR, {"connector_id": 2}, requested_by="t")

    wait_for(ended(db, good))
    assert command(db, bad)[0::3] == ("failed", "not sent: params.connector_id must be an integer 1–16, not 99")
    assert charger.calls() == [("UnlockConnector", {"evseId": 2, "connectorId": 1})]
    assert command(db, good)[:2] == ("acknowledged", "Unlocked")


@pytest.mark.parametrize("version, action, answer, expected", [
    ("1.6", "GetDiagnostics", ("Accepted", "file diag.zip"), {"location": "ftp://logs.example.net/in"}),
    ("2.0.1", "GetLog", ("Accepted", None),
     {"log": {"remoteLocation": "ftp://logs.example.net/in"}, "logType": "DiagnosticsLog"}),
])
def test_get_diagnostics_reaches_the_charger_as_its_versions_message(db, ocpp_piles, central, downlink, version,
                                                                      action, answer, expected):
    pile = ocpp_piles[0]
    charger = connect(central, pile, version)

    command_id = downlink.send(db, pile, T.GET_DIAGNOSTICS, {"location": "ftp://logs.example.net/in"},
                               requested_by="t")

    wait_for(ended(db, command_id))
    [(sent_action, payload)] = charger.calls()
    payload.pop("requestId", None)
    assert (sent_action, payload) == (action, expected)
    assert command(db, command_id)[:3] == ("acknowledged", *answer)


def test_a_command_in_flight_on_a_connection_that_is_gone_is_recorded_failed_and_never_sent_again(
        db, ocpp_piles, central):
    pile = ocpp_piles[0]
    lost = uuid.uuid4()
    # What a gateway killed mid-CALL leaves behind: the command claimed on its connection.
    db.execute("INSERT INTO commands (id, pile_id, type, params, state, requested_by, via, connection_id, "
               "delivering_at) VALUES (%s, %s, 'Reset', '{\"type\": \"Soft\"}', 'delivering', 't', 'ocpp', %s, now())",
               (lost, pile, uuid.uuid4()))

    charger = connect(central, pile)

    wait_for(ended(db, lost))
    assert command(db, lost)[0::3] == ("failed", OUTCOME_UNKNOWN)
    time.sleep(0.3)  # give a wrong relay the chance to send it anyway
    assert charger.calls() == []


def test_a_process_whose_connection_is_no_longer_current_claims_nothing(db, ocpp_piles):
    pile = ocpp_piles[0]
    current, stale = uuid.uuid4(), uuid.uuid4()
    db.execute("INSERT INTO ocpp_connections (pile_id, connection_id, gateway, ocpp_version) VALUES (%s, %s, 'g2', '1.6')",
               (pile, current))
    db.execute("INSERT INTO commands (id, pile_id, type, state, requested_by, via) "
               "VALUES (gen_random_uuid(), %s, 'Reset', 'pending', 't', 'ocpp')", (pile,))

    assert db.execute(relay_module.CLAIM, {"pile": pile, "connection": stale}).fetchall() == []
    assert len(db.execute(relay_module.CLAIM, {"pile": pile, "connection": current}).fetchall()) == 1


def test_racing_claims_deliver_every_command_once(db, settings, ocpp_piles):
    pile = ocpp_piles[0]
    connection = uuid.uuid4()
    db.execute("INSERT INTO ocpp_connections (pile_id, connection_id, gateway, ocpp_version) VALUES (%s, %s, 'g', '1.6')",
               (pile, connection))
    for _ in range(20):
        db.execute("INSERT INTO commands (id, pile_id, type, state, requested_by, via) "
                   "VALUES (gen_random_uuid(), %s, 'Reset', 'pending', 't', 'ocpp')", (pile,))
    claimed: list = []
    start = threading.Barrier(4)

    def worker():
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            start.wait()
            for _ in range(40):
                for (command_id, *_) in conn.execute(relay_module.CLAIM, {"pile": pile, "connection": connection}):
                    claimed.append(command_id)
                    # end it, as the relay does, so the next one may be claimed
                    conn.execute("UPDATE commands SET state = 'acknowledged' WHERE id = %s", (command_id,))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert len(claimed) == len(set(claimed)) == 20


def test_undelivered_commands_expire_after_the_queue_ttl_and_mqtt_expiry_leaves_them_alone(db, settings, ocpp_piles):
    pile = ocpp_piles[0]
    db.execute("INSERT INTO commands (id, pile_id, type, state, requested_by, via, requested_at) "
               "VALUES (gen_random_uuid(), %s, 'Reset', 'pending', 't', 'ocpp', now() - interval '2 hours')", (pile,))
    assert expire_commands(db, older_than_s=300) == 0

    relay = CommandRelay(settings.database_url, queue_ttl_s=3600)
    central = BareCentral(settings.database_url, relay).start()
    try:
        counts = central.run(relay.sweep_once())
    finally:
        central.stop()

    assert counts == {"expired": 1, "orphans": 0}
    assert db.execute("SELECT state, failure FROM commands").fetchone() == (
        "timed_out", "never delivered: the charger was not connected within 3600 s")


def test_outcomes_reach_the_orders_timeline_once_with_who_and_when(db, ocpp_piles, central, downlink):
    pile = ocpp_piles[0]
    order_id, _ = open_corrective(db, pile, "electrical", title="Faulted", priority=2, actor="rules")
    charger = connect(central, pile)
    charger.answers["Reset"] = CallNotImplemented("busy")
    accepted = downlink.send(db, pile, T.TRIGGER_MESSAGE, {"requested_message": "status"}, requested_by="rules",
                             work_order_id=order_id)
    failed = downlink.send(db, pile, T.RESET, {"type": "Soft"}, requested_by="rules", work_order_id=order_id)
    note(db, order_id, "unrelated comment", actor="someone")
    wait_for(ended(db, failed))

    assert note_command_outcomes(db) == 2
    assert note_command_outcomes(db) == 0  # once

    notes = [r[0] for r in db.execute(
        "SELECT note FROM work_order_events WHERE work_order_id = %s AND actor = 'commands' ORDER BY id", (order_id,))]
    assert notes[0].startswith(f"command {accepted} (TriggerMessage status, requested by rules, via OCPP): "
                               f"pile {pile} answered Accepted at 20")
    assert notes[1].startswith(f"command {failed} (Reset Soft, requested by rules, via OCPP): failed at 20")
    assert notes[1].endswith("UTC: the charger answered CALLERROR NotImplemented: busy")


def test_a_command_whose_notification_was_lost_is_delivered_by_the_sweep(db, settings, ocpp_piles, central):
    pile = ocpp_piles[0]
    charger = connect(central, pile)
    wait_for(lambda: db.execute("SELECT count(*) FROM ocpp_connections").fetchone()[0] == 1)
    command_id = uuid.uuid4()
    with db.transaction():
        db.execute("SET LOCAL session_replication_role = replica")  # no trigger: the NOTIFY never happens
        db.execute("INSERT INTO commands (id, pile_id, type, params, state, requested_by, via) "
                   "VALUES (%s, %s, 'Reset', '{\"type\": \"Soft\"}', 'pending', 't', 'ocpp')", (command_id, pile))
    time.sleep(0.5)
    assert charger.calls() == []  # nothing woke the relay

    central.run(central.listener.sweep_once())

    wait_for(ended(db, command_id))
    assert charger.calls() == [("Reset", {"type": "Soft"})]


def test_a_charger_answer_holding_a_nul_byte_is_recorded_and_the_next_command_still_goes(
        db, ocpp_piles, central, downlink):
    pile = ocpp_piles[0]
    charger = connect(central, pile)
    charger.answers["Reset"] = CallNotImplemented("no remote\x00reset")
    first = downlink.send(db, pile, T.RESET, {"type": "Soft"}, requested_by="t")
    second = downlink.send(db, pile, T.CHANGE_AVAILABILITY, {"connector_id": 0, "type": "Inoperative"},
                           requested_by="t")

    wait_for(ended(db, second))
    assert command(db, first)[:4] == ("failed", None, None,
                                      "the charger answered CALLERROR NotImplemented: no remote\ufffdreset")
    assert command(db, second)[:2] == ("acknowledged", "Accepted")
