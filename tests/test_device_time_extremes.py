"""Issue 11, reviewer's item 2: a pile whose clock says 9999-12-31T23:59:59Z or
0001-01-01T00:00:00Z is stored at receive time and flagged skewed, its device time kept
(docs/device-protocol.md, section 9); every read of it answers 2xx, with the device time
shown as sent, whatever zone the database server runs in. Real broker, ingest, PostgreSQL
and API."""
from __future__ import annotations

from datetime import datetime

import pytest

from tests.devices import Device, telemetry, wait_for

FAR = ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"]

# Every read that returns or computes with a pile's device time or clock skew.
READS = ["/piles/{pile}", "/piles", "/piles/{pile}/telemetry", "/piles/{pile}/telemetry?bucket=5m",
         "/piles/{pile}/telemetry?bucket=1h", "/piles/{pile}/telemetry?connector_id=0",
         "/piles/{pile}/availability", "/fleet/health", "/fleet/overview", "/ingest/stats", "/uptime/ports"]


@pytest.fixture(params=["Asia/Shanghai", "America/Los_Angeles"])
def server_zone(request, monkeypatch):
    """The database's zone for new sessions (libpq's PGTZ), as a server outside UTC has it:
    9999-12-31T23:59:59Z is year 10000 in Shanghai, 0001-01-01T00:00:00Z year 0 in Los Angeles."""
    monkeypatch.setenv("PGTZ", request.param)
    return request.param


@pytest.fixture
def api_in_zone(server_zone, api):
    return api


def send(settings, db, pile: str, stamps: list[str]) -> None:
    device = Device(settings)
    for seq, ts in enumerate(stamps, start=1):
        device.publish(device.topics.telemetry(pile), telemetry(seq, ts=ts))
    device.wait_acked()
    device.close()
    wait_for(lambda: db.execute("SELECT count(*) FROM telemetry WHERE connector_id = 1 AND pile_id = %s",
                                (pile,)).fetchone()[0] == len(stamps))


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("ts", FAR)
def test_every_read_of_a_pile_with_a_far_device_time_answers(settings, db, fleet, ingest, api_in_zone, ts):
    send(settings, db, fleet[0], [ts])

    for path in READS:
        response = api_in_zone.get(path.format(pile=fleet[0]))
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"

    detail = api_in_zone.get(f"/piles/{fleet[0]}").json()
    assert detail["clock_skewed"] is True
    assert abs(detail["clock_skew_s"]) > 2e11 if ts.startswith("9999") else detail["clock_skew_s"] < -6e10


@pytest.mark.parametrize("ts", FAR)
def test_a_reading_with_a_far_device_time_shows_it_as_sent_at_its_receive_time(
        settings, db, fleet, ingest, api_in_zone, ts):
    send(settings, db, fleet[0], [ts])

    points = api_in_zone.get(f"/piles/{fleet[0]}/telemetry").json()["data"]

    assert [p["connector_id"] for p in points] == [0, 1, 2]
    for point in points:
        assert instant(point["device_ts"]) == instant(ts)
        assert point["device_ts"].endswith("Z")
        assert point["time"] == point["received_at"]


def test_a_device_time_whose_offset_leaves_the_calendar_reads_as_its_nearest_end(settings, db, fleet, ingest, api):
    # RFC 3339 allows these; in UTC they are year 0 and year 10000, which PostgreSQL keeps
    # and Python cannot hold.
    send(settings, db, fleet[0], ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])

    response = api.get(f"/piles/{fleet[0]}/telemetry?connector_id=1")

    assert response.status_code == 200, response.text
    assert [p["device_ts"] for p in response.json()["data"]] == ["0001-01-01T00:00:00Z",
                                                                 "9999-12-31T23:59:59.999999Z"]
    for path in READS:
        assert api.get(path.format(pile=fleet[0])).status_code == 200, path
