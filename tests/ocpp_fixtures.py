"""Fixtures of the OCPP gateway tests (imported by tests/test_ocpp_*.py): a commissioned
and a pending pile with OCPP passwords, the gateway on a free port, the broker watcher and
ocpp-rpc charge points that are closed after each test."""
from __future__ import annotations

from datetime import date

import pytest

from gateway.credentials import Protocol, issue
from tests.ocpp_harness import BrokerWatch, ChargePoint, RunningGateway, client_missing

BOOT_16 = {"chargePointVendor": "Alfen", "chargePointModel": "Eve Single", "chargePointSerialNumber": "ACE-77",
           "firmwareVersion": "6.1.0"}
BOOT_201 = {"reason": "PowerUp", "chargingStation": {"vendorName": "ABB", "model": "Terra AC",
                                                      "serialNumber": "TAC-9", "firmwareVersion": "1.8.2"}}


@pytest.fixture(scope="session", autouse=True)
def ocpp_client_installed():
    problem = client_missing()
    if problem:
        pytest.exit(problem, returncode=3)  # stop with one clear message, never skip silently


@pytest.fixture
def piles(db, fleet):
    """TP-0001 commissioned, TP-0002 registered but not yet approved; OCPP passwords for both."""
    db.execute("UPDATE piles SET commissioned_on = %s WHERE id = 'TP-0001'", (date(2025, 2, 1),))
    db.execute("UPDATE piles SET commissioned_on = NULL WHERE id = 'TP-0002'")
    return {pile: issue(db, pile, Protocol.OCPP, issued_by="test").password for pile in ("TP-0001", "TP-0002")}


@pytest.fixture
def ocpp_settings(settings):
    return settings.model_copy(update={"ocpp_port": 0, "ocpp_host": "127.0.0.1", "ocpp_heartbeat_s": 120,
                                       "ocpp_boot_retry_s": 45, "ocpp_gateway_name": "ocpp-test-a"})


@pytest.fixture
def gateway(ocpp_settings, piles):
    running = RunningGateway(ocpp_settings).start()
    yield running
    running.stop()


@pytest.fixture
def url(gateway):
    return f"ws://127.0.0.1:{gateway.port}/ocpp"


@pytest.fixture
def watch(settings):
    w = BrokerWatch(settings)
    yield w
    w.stop()


@pytest.fixture
def charge_points():
    made: list[ChargePoint] = []

    def make() -> ChargePoint:
        made.append(ChargePoint())
        return made[-1]

    yield make
    for cp in made:
        cp.close()


def envelope_of(pile_id: str, action: str):
    return lambda topic, payload: topic.endswith(f"/piles/{pile_id}/ocpp") and payload.get("action") == action
