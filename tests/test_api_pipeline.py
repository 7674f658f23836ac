"""The pipeline's HTTP API against real PostgreSQL, with rows written by ingest's Store."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ingest.decode import Decoder, Inbound
from ingest.store import Store
from pilecare import storage
from tests.devices import telemetry

HOUR = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)


@pytest.fixture(autouse=True)
def _now():
    # "Now" of each test, not of the module's import: a long suite runs this file many minutes
    # after collecting it, maybe on the next day.
    global HOUR
    HOUR = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)


@pytest.fixture
def write(settings, database_url):
    """Store device messages exactly as the ingest worker would."""
    import psycopg

    conn = psycopg.connect(database_url)
    store, decoder = Store(conn, worker="api-test"), Decoder(settings)
    prefix = settings.topic_prefix

    def _write(pile_id, leaf, payload, received_at=None):
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        inbound = Inbound(f"{prefix}/piles/{pile_id}/{leaf}", raw, 1, 1, received_at or time.time(), 1)
        return store.write([(inbound, decoder.decode(inbound))])

    yield _write
    conn.close()


def at(minutes: float, base: datetime | None = None) -> str:
    return ((base or HOUR) + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def test_listing_piles_pages_with_limit_and_offset(api, fleet):
    first = api.get("/piles", params={"limit": 5}).json()
    second = api.get("/piles", params={"limit": 5, "offset": 5}).json()
    assert first["count"] == second["count"] == 20
    assert [p["id"] for p in first["data"]] == fleet[:5]
    assert [p["id"] for p in second["data"]] == fleet[5:10]


def test_a_limit_above_100000_is_refused_with_the_parameter_named(api, fleet):
    response = api.get("/piles", params={"limit": 100_001})
    assert response.status_code == 422 and "limit" in response.json()["detail"]


def test_an_unknown_pile_is_a_clear_404(api, fleet):
    response = api.get("/piles/NOPE")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "pile 'NOPE' does not exist"}


def test_a_pile_shows_its_connectors_latest_state_and_sequence_gaps(api, fleet, write):
    for seq in (1, 2, 5):
        write(fleet[0], "telemetry", telemetry(seq, ts=at(seq), power_kw=float(seq)))
    pile = api.get(f"/piles/{fleet[0]}").json()
    assert pile["messages"] == 3 and pile["sequence_gaps"] == 2
    connector = {c["connector_id"]: c for c in pile["connectors"]}[1]
    assert connector["seq"] == 5 and connector["power_kw"] == 5.0 and connector["status"] == "Charging"


def test_raw_telemetry_comes_back_in_time_order(api, fleet, write):
    for seq in (3, 1, 2):
        write(fleet[0], "telemetry", telemetry(seq, ts=at(seq)))
    body = api.get(f"/piles/{fleet[0]}/telemetry", params={"from": at(0), "to": at(60), "connector_id": 1}).json()
    assert body["source"] == "raw"
    assert [r["seq"] for r in body["data"]] == [1, 2, 3]


def test_bucketed_telemetry_averages_per_bucket(api, fleet, write):
    for seq, minute, power in ((1, 1, 10.0), (2, 2, 20.0), (3, 6, 30.0)):
        write(fleet[0], "telemetry", telemetry(seq, ts=at(minute), power_kw=power, energy_kwh=100.0 + seq))
    body = api.get(f"/piles/{fleet[0]}/telemetry",
                   params={"from": at(0), "to": at(10), "bucket": "5m", "connector_id": 1}).json()
    # Each bucket counts the register's steps up to its readings: 101 → 102, then 102 → 103.
    assert [(b["samples"], b["power_avg_kw"], b["power_max_kw"], b["energy_delivered_kwh"]) for b in body["data"]] == [
        (2, 15.0, 20.0, 1.0), (1, 30.0, 30.0, 1.0)]


def test_hourly_buckets_read_the_rollup_and_match_raw_aggregates(api, fleet, write, db):
    base = HOUR - timedelta(hours=HOUR.hour % 2)  # a 2-hour bucket boundary
    for seq, minute, power in ((1, 5, 10.0), (2, 35, 30.0), (3, 65, 50.0)):
        write(fleet[0], "telemetry", telemetry(seq, ts=at(minute, base), power_kw=power))
    storage.refresh_rollups(db, base, base + timedelta(hours=2))
    params = {"from": at(0, base), "to": at(120, base), "connector_id": 1}
    hourly = api.get(f"/piles/{fleet[0]}/telemetry", params={**params, "bucket": "1h"}).json()
    minutes = api.get(f"/piles/{fleet[0]}/telemetry", params={**params, "bucket": "60m"}).json()
    assert hourly["source"] == "hourly rollup"
    assert [(b["samples"], b["power_avg_kw"]) for b in hourly["data"]] == [(2, 20.0), (1, 50.0)]
    two_hours = api.get(f"/piles/{fleet[0]}/telemetry", params={**params, "bucket": "2h"}).json()
    assert [(b["samples"], b["power_avg_kw"]) for b in two_hours["data"]] == [(3, 30.0)]
    assert minutes["data"][0]["bucket"] == hourly["data"][0]["bucket"]


@pytest.mark.parametrize("params, reason", [
    ({"bucket": "30s"}, "bucket"),
    ({"bucket": "5 fortnights"}, "bucket"),
    ({"from": "2026-11-22T12:00:00Z", "to": "2026-11-22T11:00:00Z"}, "from must be before to"),
    ({"from": "2026-11-22T12:00:00", "to": "2026-11-22T13:00:00Z"}, "timezone"),
    ({"from": "2024-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "366 days"),
    ({"from": "2026-11-01T00:00:00Z", "to": "2026-11-22T00:00:00Z", "bucket": "1m"}, "more than 10000 buckets"),
    ({"from": "yesterday"}, "from"),
])
def test_bad_telemetry_parameters_are_refused_with_a_reason(api, fleet, params, reason):
    response = api.get(f"/piles/{fleet[0]}/telemetry", params=params)
    assert response.status_code == 422 and reason in response.json()["detail"]


def test_fleet_health_counts_a_silent_pile_as_offline(api, fleet, write, db):
    write(fleet[0], "status", {"v": 1, "state": "online", "ts": at(0)})
    write(fleet[0], "telemetry", telemetry(1))
    write(fleet[1], "status", {"v": 1, "state": "online", "ts": at(0)})
    write(fleet[1], "telemetry", telemetry(1, status="Faulted", error_code="GroundFailure"))
    # fleet[2] said it was online, then went silent for longer than 3 reporting intervals
    write(fleet[2], "status", {"v": 1, "state": "online", "ts": at(0)}, received_at=time.time() - 3600)
    health = api.get("/fleet/health").json()
    assert (health["piles"], health["online"], health["offline"], health["faulted"], health["charging"]) == (20, 2, 18, 1, 1)
    assert health["connectors_by_status"] == {"Available": 2, "Charging": 1, "Faulted": 1}
    site = {s["site_id"]: s for s in health["sites"]}
    assert site["SITE-1"]["worst"] == "faulted" or site["SITE-2"]["worst"] == "faulted"


def test_ingest_stats_sum_the_counters_and_sequence_gaps(api, fleet, write):
    for seq in (1, 2, 4):
        write(fleet[0], "telemetry", telemetry(seq, ts=at(seq)))
    write(fleet[0], "telemetry", telemetry(4, ts=at(4)))  # a duplicate
    write(fleet[0], "telemetry", b"{nonsense")
    stats = api.get("/ingest/stats").json()
    assert (stats["received"], stats["stored"], stats["duplicates"], stats["dead_lettered"]) == (5, 3, 1, 1)
    assert stats["sequence_gaps"] == 1 and stats["piles_with_gaps"] == 1
    assert stats["workers"][0]["worker"] == "api-test"


def test_dead_letters_show_reason_and_payload(api, fleet, write):
    write(fleet[0], "telemetry", b"\xff\xfe not json")
    write(fleet[1], "telemetry", {"v": 1})
    body = api.get("/ingest/dead-letters").json()
    assert body["count"] == 2
    newest, oldest = body["data"]
    assert newest["payload"] == '{"v": 1}' and newest["payload_encoding"] == "utf-8" and "seq: Field required" in newest["reason"]
    assert oldest["payload_encoding"] == "base64" and "malformed JSON" in oldest["reason"]
    assert api.get("/ingest/dead-letters", params={"pile_id": fleet[1]}).json()["count"] == 1


def test_creating_a_pile_records_who_and_it_appears_in_the_list(api, fleet):
    response = api.post("/piles", json={"id": "NEW-01", "serial": "SN-NEW-01", "model_id": "T-AC22", "site_id": "SITE-1",
                                         "warranty_end": "2030-01-01"})
    assert response.status_code == 201
    assert response.json()["created_by"] == "admin" and response.json()["in_warranty"] is True
    assert api.get("/piles", params={"q": "NEW-01"}).json()["count"] == 1


def test_creating_a_pile_with_an_unknown_model_names_the_model(api, fleet):
    response = api.post("/piles", json={"id": "NEW-02", "serial": "SN-2", "model_id": "NOPE", "site_id": "SITE-1"})
    assert response.status_code == 422 and "model_id: no pile model 'NOPE'" == response.json()["detail"]


def test_a_pile_id_that_cannot_be_a_topic_segment_is_refused(api, fleet):
    response = api.post("/piles", json={"id": "a/b", "serial": "SN-3", "model_id": "T-AC22", "site_id": "SITE-1"})
    assert response.status_code == 422 and "id" in response.json()["detail"]


def test_a_duplicate_pile_is_a_conflict(api, fleet):
    response = api.post("/piles", json={"id": fleet[0], "serial": "SN-other", "model_id": "T-AC22", "site_id": "SITE-1"})
    assert response.status_code == 409 and response.json()["error"] == "conflict"


def test_health_reports_database_and_broker(api):
    assert api.get("/health").json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_health_reports_a_broker_that_is_down(settings):
    from tests.services import free_port

    down = settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{free_port()}"})
    with TestClient(create_app(down)) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == "ok" and response.json()["broker"] != "ok"


def test_the_openapi_document_lists_the_pipeline_endpoints(api):
    paths = api.get("/openapi.json").json()["paths"]
    for path in ("/health", "/piles", "/piles/{pile_id}", "/piles/{pile_id}/telemetry", "/fleet/health",
                 "/ingest/stats", "/ingest/dead-letters"):
        assert path in paths
