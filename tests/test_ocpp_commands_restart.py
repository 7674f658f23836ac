"""kill -9 of a real `pilecare ocpp` process while commands are pending: after the restart
the command whose CALL was in flight is recorded failed (its answer can never come: OCPP-J
answers on the connection that carried the CALL) and is never sent again; the command not
yet sent is delivered exactly once."""
from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from ocpp.v201 import call as call201

from gateway.commands import Downlink
from gateway.credentials import Protocol, issue
from gateway.ocpp.relay import OUTCOME_UNKNOWN
from pilecare.domain import CommandType as T
from tests.devices import wait_for
from tests.ocpp_chargers import HOLD, ClientLoop, open_charger

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GatewayProcess:
    """`pilecare ocpp` as a subprocess on its own port, under a fixed gateway name."""

    def __init__(self, settings, tmp_path: Path, port: int, name: str):
        self.env = dict(os.environ, PYTHONPATH=str(ROOT), PILECARE_DATABASE_URL=settings.database_url,
                        PILECARE_MQTT_URL=settings.mqtt_url, PILECARE_TOPIC_PREFIX=settings.topic_prefix,
                        PILECARE_OCPP_PORT=str(port), PILECARE_OCPP_GATEWAY_NAME=name,
                        PILECARE_OCPP_CALL_TIMEOUT_S="30")
        self.tmp_path, self.name = tmp_path, name
        self.log = tmp_path / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "GatewayProcess":
        self.log = self.tmp_path / f"{self.name}-{uuid.uuid4().hex[:6]}.log"
        out = open(self.log, "w")
        self.process = subprocess.Popen([sys.executable, "-m", "pilecare.cli", "ocpp"], env=self.env, cwd=ROOT,
                                        stdout=out, stderr=subprocess.STDOUT)
        wait_for(lambda: "chargers connect at" in self.log.read_text() or self.process.poll() is not None,
                 timeout=30, message="the gateway to listen")
        assert self.process.poll() is None, self.log.read_text()
        return self

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def clients():
    loop = ClientLoop()
    yield loop
    loop.stop()


def test_kill_9_with_one_command_in_flight_and_one_waiting(settings, db, fleet, tmp_path, clients):
    pile = fleet[0]
    password = issue(db, pile, Protocol.OCPP, issued_by="test").password
    auth = {"Authorization": "Basic " + base64.b64encode(f"{pile}:{password}".encode()).decode()}
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ocpp"
    name = f"ocpp-test-{uuid.uuid4().hex[:6]}"
    downlink = Downlink(settings, f"test-restart-{uuid.uuid4().hex[:6]}")
    first_gateway = GatewayProcess(settings, tmp_path, port, name).start()
    second_gateway = GatewayProcess(settings, tmp_path, port, name)
    try:
        charger, _ = clients.run(open_charger(url, pile, "1.6", headers=auth))
        charger.answers["Reset"] = HOLD  # the charger is slow to answer the first command
        in_flight = downlink.send(db, pile, T.RESET, {"type": "Soft"}, requested_by="t")
        waiting = downlink.send(db, pile, T.CHANGE_AVAILABILITY, {"connector_id": 0, "type": "Inoperative"},
                                requested_by="t")
        wait_for(lambda: charger.calls() == [("Reset", {"type": "Soft"})])
        assert db.execute("SELECT state FROM commands WHERE id = %s", (waiting,)).fetchone()[0] == "pending"

        first_gateway.kill9()
        second_gateway.start()
        again, _ = clients.run(open_charger(url, pile, "1.6", headers=auth))

        wait_for(lambda: db.execute("SELECT state FROM commands WHERE id = %s", (waiting,)).fetchone()[0]
                 == "acknowledged", message="the waiting command delivered after the restart")
        assert db.execute("SELECT state, failure FROM commands WHERE id = %s", (in_flight,)).fetchone() == (
            "failed", OUTCOME_UNKNOWN)
        assert again.calls() == [("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"})]  # once, no Reset
        assert charger.calls() == [("Reset", {"type": "Soft"})]
    finally:
        downlink.close()
        first_gateway.stop()
        second_gateway.stop()


def test_kill_9_before_the_charger_came_back_delivers_the_queued_command_once(settings, db, fleet, tmp_path, clients):
    pile = fleet[0]
    password = issue(db, pile, Protocol.OCPP, issued_by="test").password
    auth = {"Authorization": "Basic " + base64.b64encode(f"{pile}:{password}".encode()).decode()}
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ocpp"
    name = f"ocpp-test-{uuid.uuid4().hex[:6]}"
    downlink = Downlink(settings, f"test-restart-{uuid.uuid4().hex[:6]}")
    first_gateway = GatewayProcess(settings, tmp_path, port, name).start()
    second_gateway = GatewayProcess(settings, tmp_path, port, name)
    try:
        queued = downlink.send(db, pile, T.RESET, {"type": "Hard"}, requested_by="t")  # charger not connected
        first_gateway.kill9()
        second_gateway.start()

        charger, _ = clients.run(open_charger(url, pile, "2.0.1", headers=auth))

        wait_for(lambda: db.execute("SELECT state FROM commands WHERE id = %s", (queued,)).fetchone()[0]
                 == "acknowledged")
        clients.run(charger.call(call201.Heartbeat()))  # a round trip after the Reset: nothing else came
        assert charger.calls() == [("Reset", {"type": "Immediate"})]
    finally:
        downlink.close()
        first_gateway.stop()
        second_gateway.stop()
