"""OCPP connections (issue 15, item 5): online at once, offline at once when lost, a newer
connection replaces the older in any gateway process without an offline, a restarted gateway
cleans up after its killed predecessor, listeners hear of every connection, a reconnect storm
is absorbed; and the `pilecare ocpp` process itself."""
from __future__ import annotations

import json
from pathlib import Path

from gateway.credentials import Protocol, issue
from gateway.ocpp.session import Session
from tests.ocpp_harness import RunningGateway
from tests.ocpp_fixtures import BOOT_16, envelope_of
from tests.ocpp_fixtures import (  # noqa: F401 (fixtures used by name)
    charge_points, gateway, ocpp_client_installed, ocpp_settings, piles, url, watch)


def test_a_newer_connection_replaces_the_older_which_never_reports_offline(url, piles, watch, charge_points, db):
    older, newer = charge_points(), charge_points()
    older.connect(url, "TP-0001", piles["TP-0001"], "ocpp1.6")
    first = db.execute("SELECT connection_id FROM ocpp_connections WHERE pile_id = 'TP-0001'").fetchone()[0]

    newer.connect(url, "TP-0001", piles["TP-0001"], "ocpp1.6")

    older.expect(event="close")
    assert newer.call("Heartbeat", {})["event"] == "result"
    watch.wait_for(envelope_of("TP-0001", "Heartbeat"))
    assert [s["state"] for s in watch.on("TP-0001", "status")] == ["online", "online"]
    now = db.execute("SELECT connection_id FROM ocpp_connections WHERE pile_id = 'TP-0001'").fetchone()[0]
    assert now != first


def test_a_connection_replaced_through_another_gateway_process_is_closed_there_without_offline(
        ocpp_settings, url, piles, watch, charge_points):
    other = RunningGateway(ocpp_settings.model_copy(update={"ocpp_gateway_name": "ocpp-test-b"})).start()
    try:
        older, newer = charge_points(), charge_points()
        older.connect(url, "TP-0001", piles["TP-0001"], "ocpp2.0.1")

        newer.connect(f"ws://127.0.0.1:{other.port}/ocpp", "TP-0001", piles["TP-0001"], "ocpp2.0.1")

        older.expect(event="close")
        assert newer.call("Heartbeat", {})["event"] == "result"
        watch.wait_for(envelope_of("TP-0001", "Heartbeat"))
        assert all(s["state"] == "online" for s in watch.on("TP-0001", "status"))
    finally:
        other.stop()


def test_a_replacement_missed_while_the_gateway_could_not_listen_is_caught_up_when_it_listens_again(
        url, piles, watch, charge_points, db):
    cp = charge_points()
    cp.connect(url, "TP-0001", piles["TP-0001"], "ocpp1.6")
    # Another gateway took the charger while this one's LISTEN connection was down: no notice.
    db.execute("ALTER TABLE ocpp_connections DISABLE TRIGGER ocpp_connection_replaced")
    try:
        db.execute("UPDATE ocpp_connections SET connection_id = gen_random_uuid(), gateway = 'ocpp-test-b' "
                   "WHERE pile_id = 'TP-0001'")
    finally:
        db.execute("ALTER TABLE ocpp_connections ENABLE TRIGGER ocpp_connection_replaced")

    db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
               "WHERE query = 'LISTEN ocpp_connection_replaced' AND datname = current_database()")

    assert cp.expect(event="close", timeout=20)["reason"] == "replaced by a newer connection"
    assert all(s["state"] == "online" for s in watch.on("TP-0001", "status"))


def test_a_restarted_gateway_reports_offline_only_the_chargers_that_did_not_come_back_within_the_grace(
        ocpp_settings, piles, watch, charge_points, db):
    # What the previous run of gateway "ocpp-a" left (stopped, or killed with -9): its rows.
    db.execute("INSERT INTO ocpp_connections (pile_id, connection_id, gateway, ocpp_version, connected_at) VALUES "
               "('TP-0001', gen_random_uuid(), 'ocpp-a', '1.6', now() - interval '1 minute'), "
               "('TP-0002', gen_random_uuid(), 'ocpp-a', '1.6', now() - interval '1 minute'), "
               "('TP-0003', gen_random_uuid(), 'ocpp-b', '1.6', now() - interval '1 minute')")
    restarted = ocpp_settings.model_copy(update={"ocpp_gateway_name": "ocpp-a", "ocpp_restart_grace_s": 3})
    running = RunningGateway(restarted).start()
    try:
        back = charge_points()  # TP-0002 reconnects within the grace
        back.connect(f"ws://127.0.0.1:{running.port}/ocpp", "TP-0002", piles["TP-0002"], "ocpp1.6")

        _, offline, _ = watch.wait_for(lambda t, p: t.endswith("/TP-0001/status") and p["state"] == "offline")

        assert offline["reason"] == "connection lost"
        assert db.execute("SELECT pile_id, gateway FROM ocpp_connections ORDER BY pile_id").fetchall() == [
            ("TP-0002", "ocpp-a"), ("TP-0003", "ocpp-b")]
        assert watch.retained("TP-0002", "status")["state"] == "online"
        assert watch.on("TP-0003", "status") == []  # another gateway's charger is not its business
    finally:
        running.stop()


def test_a_lost_connection_is_reported_offline_at_once(url, piles, watch, charge_points, db):
    cp = charge_points()
    cp.connect(url, "TP-0001", piles["TP-0001"], "ocpp1.6")
    watch.wait_for(lambda t, p: t.endswith("/TP-0001/status") and p["state"] == "online")

    cp.send(op="kill")

    _, offline, _ = watch.wait_for(lambda t, p: t.endswith("/TP-0001/status") and p["state"] == "offline",
                                   timeout=10)
    assert offline == {"v": 1, "state": "offline", "reason": "connection lost"}
    assert watch.retained("TP-0001", "status") == offline
    assert db.execute("SELECT count(*) FROM ocpp_connections").fetchone()[0] == 0


class Recorder:
    """A listener like the command relay: hears of connections and may call the charger."""

    def __init__(self):
        self.seen: list[tuple[str, str, str, str]] = []
        self.answers: list = []

    async def connected(self, session):
        assert isinstance(session, Session)
        self.seen.append(("connected", session.pile_id, session.version, session.connection_id))
        from ocpp.v16 import call
        self.answers.append(await session.call(call.Reset(type="Soft")))

    async def disconnected(self, session):
        self.seen.append(("disconnected", session.pile_id, session.version, session.connection_id))


def test_listeners_hear_of_connections_and_their_calls_reach_the_charger(ocpp_settings, piles, charge_points):
    recorder = Recorder()
    running = RunningGateway(ocpp_settings, listeners=[recorder]).start()
    try:
        cp = charge_points()
        cp.send(op="answer", method="Reset", result={"status": "Accepted"})
        cp.connect(f"ws://127.0.0.1:{running.port}/ocpp", "TP-0001", piles["TP-0001"], "ocpp1.6")

        assert cp.expect(event="call", method="Reset")["params"] == {"type": "Soft"}
        cp.send(op="close")
        cp.expect(event="close")
    finally:
        running.stop()
    assert [s[0] for s in recorder.seen] == ["connected", "disconnected"]
    assert recorder.seen[0][1:3] == ("TP-0001", "1.6") and recorder.seen[0][3] == recorder.seen[1][3]
    assert recorder.answers[0].status == "Accepted"


def test_pilecare_ocpp_serves_chargers_until_stopped_and_closes_them_for_a_restart_without_offline(
        settings, piles, watch, charge_points, db, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from pilecare.embedded import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PILECARE_")}
    env.update(PYTHONPATH=str(Path(__file__).resolve().parent.parent), PILECARE_DATABASE_URL=settings.database_url,
               PILECARE_MQTT_URL=settings.mqtt_url, PILECARE_TOPIC_PREFIX=settings.topic_prefix,
               PILECARE_OCPP_GATEWAY_NAME="ocpp-cli-test")
    process = subprocess.Popen([sys.executable, "-m", "pilecare.cli", "ocpp", "--port", str(port)], env=env,
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=open(tmp_path / "ocpp.log", "w"), text=True)
    try:
        banner = process.stdout.readline()
        assert f"ws://127.0.0.1:{port}/ocpp/{{charge_point_id}}" in banner, (tmp_path / "ocpp.log").read_text()
        cp = charge_points()
        assert cp.connect(f"ws://127.0.0.1:{port}/ocpp", "TP-0001", piles["TP-0001"], "ocpp2.0.1")["event"] == "open"
        assert cp.call("Heartbeat", {})["event"] == "result"

        process.send_signal(signal.SIGTERM)

        assert process.wait(20) == 0
        assert cp.expect(event="close")["code"] == 1012  # service restart: come back soon
        # Not reported offline: it will reconnect, and its row waits for it (or for the grace).
        assert watch.retained("TP-0001", "status")["state"] == "online"
        assert db.execute("SELECT gateway FROM ocpp_connections WHERE pile_id = 'TP-0001'").fetchone() == (
            "ocpp-cli-test",)
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()


def test_pilecare_ocpp_refuses_profile_2_without_a_certificate_in_one_line(settings, tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("PILECARE_")}
    env.update(PYTHONPATH=str(Path(__file__).resolve().parent.parent), PILECARE_DATABASE_URL=settings.database_url,
               PILECARE_MQTT_URL=settings.mqtt_url, PILECARE_OCPP_SECURITY_PROFILE="2")

    done = subprocess.run([sys.executable, "-m", "pilecare.cli", "ocpp"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)

    assert done.returncode != 0
    assert "security profile 2 needs PILECARE_OCPP_TLS_CERT" in done.stderr and "Traceback" not in done.stderr


def test_a_reconnect_storm_of_300_chargers_is_absorbed_and_every_one_is_answered(ocpp_settings, piles, db, watch):
    """All at once, as after a gateway restart (ocpp-go #314): every handshake is checked,
    every boot answered and handed to ingest, every charger reported online."""
    import asyncio
    import base64

    from tests.devices import wait_for

    from websockets.asyncio.client import connect

    count = 300
    pile_ids = [f"STORM-{i:03d}" for i in range(count)]
    with db.cursor() as cur:
        cur.executemany("INSERT INTO piles (id, serial, model_id, site_id, commissioned_on) "
                        "VALUES (%s, %s, 'T-AC22', 'SITE-1', '2025-01-01')", [(p, f"SN-{p}") for p in pile_ids])
    passwords = {p: issue(db, p, Protocol.OCPP, issued_by="test").password for p in pile_ids}
    running = RunningGateway(ocpp_settings).start()

    async def charger(pile_id: str) -> str:
        token = base64.b64encode(f"{pile_id}:{passwords[pile_id]}".encode()).decode()
        async with connect(f"ws://127.0.0.1:{running.port}/ocpp/{pile_id}", subprotocols=["ocpp1.6"],
                           additional_headers={"Authorization": f"Basic {token}"}, open_timeout=60) as ws:
            await ws.send(json.dumps([2, "boot", "BootNotification", BOOT_16]))
            answer = json.loads(await asyncio.wait_for(ws.recv(), 60))
            await ws.close()
            return answer[2]["status"]

    async def storm() -> list:
        return await asyncio.gather(*(charger(p) for p in pile_ids), return_exceptions=True)

    try:
        answers = asyncio.run(storm())
    finally:
        running.stop()

    assert answers == ["Accepted"] * count

    def reported(leaf: str, match) -> set[str]:
        return {t.split("/")[-2] for t, p, _ in list(watch.messages) if t.endswith(f"/{leaf}") and match(p)}

    wait_for(lambda: reported("ocpp", lambda p: p["action"] == "BootNotification") == set(pile_ids),
             message="every boot at the broker")
    wait_for(lambda: reported("status", lambda p: p["state"] == "online") == set(pile_ids),
             message="every charger reported online")


def test_a_half_dead_older_connection_does_not_hold_up_the_newer_one(url, piles):
    """The charger came back because its old socket died; closing that one waits out the close
    time-out (10 s), and the new connection must be answered meanwhile."""
    import asyncio
    import base64
    import time

    from websockets.asyncio.client import connect

    headers = {"Authorization": "Basic " + base64.b64encode(f"TP-0001:{piles['TP-0001']}".encode()).decode()}

    async def comeback() -> float:
        older = await connect(f"{url}/TP-0001", subprotocols=["ocpp1.6"], additional_headers=headers)
        older.transport.pause_reading()  # it will never answer the close frame
        async with connect(f"{url}/TP-0001", subprotocols=["ocpp1.6"], additional_headers=headers) as newer:
            started = time.monotonic()
            await newer.send(json.dumps([2, "boot", "BootNotification", BOOT_16]))
            answer = json.loads(await asyncio.wait_for(newer.recv(), 30))
            elapsed = time.monotonic() - started
        older.transport.abort()
        assert answer[2]["status"] == "Accepted"
        return elapsed

    assert asyncio.run(comeback()) < 3
