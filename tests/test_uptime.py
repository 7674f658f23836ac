"""Port uptime the way NEVI counts it (23 CFR 680.116(b), issue 11 item 9), beside today's
connector availability, on hand-made histories in the real PostgreSQL.

The example (docs/kpi.md, "NEVI port uptime"): in September 2026 (30 days, 43,200 min) a
DC pile whose one port has a CCS and a CHAdeMO connector was Faulted on both for 4 h, had
its CHAdeMO Faulted alone for 18 h, and for 60 h charged offering at most 49 kW. Connector
availability: 1 − (2 × 4 + 18) / (2 × 720) = 0.98194 ("met"). NEVI: the port was down
4 h + 60 h = 3,840 min, (43,200 − 3,840) / 43,200 = 0.91111.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from maintenance.kpi import service as kpi
from maintenance.kpi import uptime

SEPT = datetime(2026, 9, 1, tzinfo=timezone.utc)
OCT = datetime(2026, 10, 1, tzinfo=timezone.utc)
MONTH = date(2026, 9, 1)
PILE = "NV-0001"


def at(day: int, hour: float = 0) -> datetime:
    return SEPT + timedelta(days=day - 1, hours=hour)


def add_pile(db, pile: str, model: str, *, kind: str = "DC", connectors: int = 2, ports: list[int] | None = None,
             rated_kw: float = 180, first_report: datetime = datetime(2025, 1, 10, tzinfo=timezone.utc)) -> str:
    db.execute("INSERT INTO pile_models (id, manufacturer, name, kind, rated_power_kw, connectors, reporting_interval_s, "
               "connector_ports) VALUES (%s, 'Pilecare', %s, %s, %s, %s, 60, %s) ON CONFLICT DO NOTHING",
               (model, model, kind, rated_kw, connectors, ports))
    db.execute("INSERT INTO piles (id, serial, model_id, site_id) VALUES (%s, %s, %s, 'SITE-1')",
               (pile, f"SN-{pile}", model))
    for c in range(1, connectors + 1):
        db.execute("INSERT INTO connector_state (pile_id, connector_id, time, seq, status, error_code, status_since) "
                   "VALUES (%s, %s, now(), 1, 'Available', 'NoError', now())", (pile, c))
        change(db, pile, c, first_report, None, "Available")
    return pile


def change(db, pile: str, connector: int, when: datetime, old: str | None, new: str) -> None:
    db.execute("INSERT INTO connector_status_changes (pile_id, connector_id, time, old_status, new_status, "
               "old_error_code, new_error_code) VALUES (%s, %s, %s, %s, %s, 'NoError', 'NoError')",
               (pile, connector, when, old, new))


def faulted(db, pile: str, connector: int, start: datetime, end: datetime, status: str = "Faulted") -> None:
    change(db, pile, connector, start, "Available", status)
    change(db, pile, connector, end, status, "Available")


def charging(db, pile: str, connector: int, start: datetime, hours: float, *, power_kw: float | None,
             offered_kw: float | None, soc_pct: float | None = 40, status: str = "Charging", seq: int = 0) -> None:
    """Telemetry every 60 s (the model's interval) for `hours`: a session, by default."""
    db.execute(
        "INSERT INTO telemetry (time, pile_id, connector_id, seq, device_ts, received_at, status, power_kw, "
        "power_offered_kw, soc_pct) "
        "SELECT t, %s, %s, %s + n, t, t, %s, %s, %s, %s "
        "FROM generate_series(0, %s - 1) n, LATERAL (SELECT %s + n * interval '60 seconds' AS t) x",
        (pile, connector, seq, status, power_kw, offered_kw, soc_pct, round(hours * 60), start))


@pytest.fixture
def example(db, fleet):
    """The issue's example port: CCS (1) and CHAdeMO (2) sharing port 1 of a DC pile."""
    add_pile(db, PILE, "T-DC180-CCS-CHADEMO", ports=[1, 1])
    faulted(db, PILE, 1, at(10, 8), at(10, 12))       # the whole port: 4 h
    faulted(db, PILE, 2, at(10, 8), at(10, 12))
    faulted(db, PILE, 2, at(20), at(20, 18))          # CHAdeMO alone for 18 h: CCS still charges
    charging(db, PILE, 1, at(3), 60, power_kw=49, offered_kw=49)  # 60 h at most 49 kW
    return PILE


def nevi(db, pile: str = PILE, month: date = MONTH, **kw) -> uptime.PortUptime:
    [port] = [p for p in uptime.port_uptime(db, month, pile_id=pile, **kw) if p.port == 1]
    return port


def test_it_counts_the_issues_example_as_regulators_do_0_911_where_availability_says_0_982(db, example):
    availability = kpi.availability(db, SEPT, OCT, pile_id=PILE).value
    assert availability == pytest.approx(1 - 26 / 1440, abs=1e-5)
    assert round(availability, 3) == 0.982 and availability >= kpi.AVAILABILITY_TARGET
    september = nevi(db).months[-1]
    assert (september.known_min, september.outage_min, september.derated_min) == (43_200, 3_840, 3_600)
    assert september.uptime == pytest.approx((43_200 - 3_840) / 43_200, abs=1e-5)
    assert round(september.uptime, 3) == 0.911


def test_it_computes_the_trailing_12_months_over_525600_minutes(db, example):
    port = nevi(db)
    assert [m.month for m in port.months] == [date(2025, 10, 1), date(2025, 11, 1), date(2025, 12, 1)] + [
        date(2026, m, 1) for m in range(1, 10)]
    assert port.known_min == uptime.YEAR_MINUTES
    assert port.uptime == pytest.approx((525_600 - 3_840) / 525_600, abs=1e-5)   # 0.99269
    assert port.met is True
    assert port.connectors == [1, 2] and port.minimum_power_kw == 150


def test_a_port_is_up_while_either_of_its_connectors_works(db, fleet):
    add_pile(db, PILE, "T-DC180-CCS-CHADEMO", ports=[1, 1])
    faulted(db, PILE, 1, at(2), at(2, 10))     # CCS down 10 h
    faulted(db, PILE, 2, at(2, 6), at(2, 16))  # CHAdeMO down 10 h, overlapping 4 h
    assert nevi(db).months[-1].outage_min == 4 * 60


def test_connectors_without_a_port_map_are_ports_of_their_own(db, fleet):
    add_pile(db, PILE, "T-DC180-TWIN")
    faulted(db, PILE, 2, at(2), at(2, 10), status="Unavailable")
    ports = {p.port: p for p in uptime.port_uptime(db, MONTH, pile_id=PILE)}
    assert (ports[1].connectors, ports[2].connectors) == ([1], [2])
    assert (ports[1].months[-1].outage_min, ports[2].months[-1].outage_min) == (0, 600)


@pytest.mark.parametrize("status, power_kw, offered_kw, soc_pct, down_min", [
    ("Charging", 49, 49, 40, 600),        # the pile offered 49 kW: derated
    ("Charging", 140, 149.5, 40, 600),    # just below 150 kW: still below the rule's minimum
    ("Charging", 49, 49, None, 600),      # no state of charge reported: the offer stands
    ("SuspendedEVSE", 0, 0, 40, 600),     # the pile withholds power from a waiting vehicle
    ("Charging", 150, 150, 40, 0),        # exactly the minimum: up
    ("Charging", 49, 150, 40, 0),         # the pile offered 150 kW, the vehicle took 49: the vehicle's limit
    ("SuspendedEV", 0, 150, 40, 0),       # the vehicle paused
    ("Charging", 49, None, 40, 0),        # no Power.Offered: nothing proves the pile could not
    ("Charging", 100, 0, 40, 0),          # an offer of 0 while 100 kW flow: a placeholder
    ("Charging", 155, 49, 40, 0),         # it delivers more than it offers: the offer is wrong, not the pile
    ("Charging", 30, 30, 85, 0),          # above the taper: the offer may be the vehicle's request
])
def test_a_dc_port_is_down_while_the_pile_holds_it_below_the_rules_minimum_power(db, fleet, status, power_kw,
                                                                                 offered_kw, soc_pct, down_min):
    add_pile(db, PILE, "T-DC180-CCS-CHADEMO", ports=[1, 1])
    charging(db, PILE, 1, at(5), 10, power_kw=power_kw, offered_kw=offered_kw, soc_pct=soc_pct, status=status)
    assert nevi(db).months[-1].derated_min == down_min


def test_samples_reported_twice_or_on_both_connectors_count_once(db, fleet):
    add_pile(db, PILE, "T-DC180-CCS-CHADEMO", ports=[1, 1])
    charging(db, PILE, 1, at(5), 10, power_kw=49, offered_kw=49)
    charging(db, PILE, 1, at(5, 0.25), 10, power_kw=49, offered_kw=49, seq=10_000)   # extra messages between
    charging(db, PILE, 2, at(5), 10, power_kw=49, offered_kw=49)
    assert nevi(db).months[-1].derated_min == 615


def test_the_pile_itself_faulted_takes_every_port_down_while_its_connectors_say_available(db, fleet):
    add_pile(db, PILE, "T-DC180-TWIN")
    charging(db, PILE, 0, at(8), 5, power_kw=None, offered_kw=None, soc_pct=None, status="Faulted")
    assert kpi.availability(db, SEPT, OCT, pile_id=PILE).value == 1.0   # availability reads connectors only
    ports = uptime.port_uptime(db, MONTH, pile_id=PILE)
    assert [(p.port, p.months[-1].status_min, p.months[-1].outage_min) for p in ports] == [(1, 300, 300),
                                                                                            (2, 300, 300)]


def test_a_dc_pile_rated_below_the_minimum_has_no_power_test_since_it_works_as_designed(db, fleet):
    add_pile(db, PILE, "T-DC120-ONE", connectors=1, rated_kw=120)
    charging(db, PILE, 1, at(5), 10, power_kw=118, offered_kw=120)
    port = nevi(db)
    assert (port.rated_power_kw, port.minimum_power_kw, port.months[-1].derated_min) == (120, None, 0)


def test_an_ac_port_has_no_power_minimum(db, fleet):
    add_pile(db, PILE, "T-AC22-ONE", kind="AC", connectors=1)
    charging(db, PILE, 1, at(5), 10, power_kw=3.6, offered_kw=3.7)
    port = nevi(db)
    assert (port.minimum_power_kw, port.months[-1].outage_min, port.uptime) == (None, 0, 1.0)


def test_an_offline_pile_takes_its_ports_down(db, fleet):
    add_pile(db, PILE, "T-DC180-CCS-CHADEMO", ports=[1, 1])
    db.execute("INSERT INTO connectivity_events (pile_id, received_at, online) VALUES (%s, %s, false), (%s, %s, true)",
               (PILE, at(7), PILE, at(7, 5)))
    month = nevi(db).months[-1]
    assert (month.offline_min, month.outage_min) == (300, 300)


def test_a_port_counts_from_its_first_report(db, fleet):
    add_pile(db, PILE, "T-DC180-CCS-CHADEMO", ports=[1, 1], first_report=at(16))
    faulted(db, PILE, 1, at(20), at(21))
    faulted(db, PILE, 2, at(20), at(21))
    port = nevi(db)
    assert port.months[-1].known_min == 15 * 24 * 60
    assert port.months[-1].uptime == pytest.approx(14 / 15, abs=1e-5)
    assert port.months[0].uptime is None and port.known_min == 15 * 24 * 60


def exclude(db, start, end, cause, port=1, pile=PILE, withdrawn=False):
    db.execute("INSERT INTO outage_exclusions (pile_id, port, starts_at, ends_at, cause, note, recorded_by, "
               "withdrawn_at, withdrawn_by) VALUES (%s, %s, %s, %s, %s, 'test', 'test', %s, %s)",
               (pile, port, start, end, cause, datetime.now(timezone.utc) if withdrawn else None,
                "test" if withdrawn else None))


@pytest.mark.parametrize("cause", [c.value for c in uptime.ExcludedCause if c is not uptime.ExcludedCause.SCHEDULED_MAINTENANCE])
def test_an_excluded_cause_recorded_on_an_outage_takes_its_time_out(db, example, cause):
    exclude(db, at(10, 7), at(10, 13), cause)   # covers the 4 h joint fault; the 2 h around it were no outage
    september = nevi(db).months[-1]
    assert (september.outage_min, september.excluded_min, september.down_min) == (3_840, 240, 3_600)
    assert september.uptime == pytest.approx((43_200 - 3_600) / 43_200, abs=1e-5)


def test_exclusions_that_overlap_take_the_outage_out_once(db, example):
    exclude(db, at(10, 8), at(10, 11), "grid_outage")
    exclude(db, at(10, 9), at(10, 12), "vandalism")
    exclude(db, at(10, 8), at(10, 12), "grid_outage", port=None)
    assert nevi(db).months[-1].excluded_min == 240


def test_an_exclusion_for_the_whole_pile_covers_every_port_and_a_withdrawn_one_none(db, example):
    exclude(db, at(3), at(4), "grid_outage", port=None)
    exclude(db, at(10), at(11), "vandalism", withdrawn=True)
    assert nevi(db).months[-1].excluded_min == 24 * 60


def test_planned_maintenance_is_excluded_only_up_to_72_hours_in_the_12_months(db, fleet):
    add_pile(db, PILE, "T-DC180-CCS-CHADEMO", ports=[1, 1])
    for c in (1, 2):
        faulted(db, PILE, c, datetime(2026, 3, 2, tzinfo=timezone.utc), datetime(2026, 3, 4, tzinfo=timezone.utc),
                status="Unavailable")   # 48 h in March
        faulted(db, PILE, c, at(2), at(4), status="Unavailable")   # 48 h in September
    db.execute("INSERT INTO maintenance_windows (pile_id, starts_at, ends_at, reason, created_by) VALUES "
               "(%s, '2026-03-01', '2026-03-05', 'PM', 'test')", (PILE,))
    exclude(db, at(1), at(5), "scheduled_maintenance")
    port = nevi(db)
    march, september = port.months[5], port.months[-1]
    assert (march.planned_excluded_min, march.down_min) == (48 * 60, 0)
    assert (september.planned_min, september.planned_excluded_min, september.down_min) == (48 * 60, 24 * 60, 24 * 60)
    assert port.down_min == 24 * 60


def test_outages_list_each_span_with_its_causes_and_exclusions(db, example):
    exclude(db, at(10, 8), at(10, 12), "grid_outage")
    found = uptime.outages(db, PILE, SEPT, OCT)
    assert [(o.start, o.end, o.by_status, o.derated, o.excluded_min) for o in found] == [
        (at(3), at(5, 12), False, True, 0), (at(10, 8), at(10, 12), True, False, 240)]
    assert found[1].exclusions == [1]


# The API: GET /uptime/ports, GET /uptime/piles/{id}/outages, /uptime/exclusions.

def test_the_api_gives_each_ports_nevi_uptime_beside_todays_availability(api, example):
    body = api.get("/uptime/ports", params={"month": "2026-09", "pile_id": PILE}).json()
    assert (body["month"], body["from"], body["to"]) == ("2026-09-01", "2025-10-01T00:00:00Z", "2026-10-01T00:00:00Z")
    assert round(body["availability"], 3) == 0.982
    [port] = body["data"]
    assert (port["port"], port["connectors"], port["minimum_power_kw"]) == (1, [1, 2], 150)
    assert round(port["months"][-1]["uptime"], 3) == 0.911
    assert (body["count"], body["met"], body["target"], body["planned_allowance_h"]) == (1, 1, 0.97, 72)


def test_the_api_lists_ports_worst_first(api, example, db):
    add_pile(db, "NV-0002", "T-DC180-CCS-CHADEMO", ports=[1, 1])
    body = api.get("/uptime/ports", params={"month": "2026-09", "site_id": "SITE-1"}).json()
    assert [p["pile_id"] for p in body["data"]][:2] == [PILE, "NV-0002"]
    assert api.get("/uptime/ports", params={"month": "2026-09", "site_id": "SITE-1", "limit": 1}).json()["count"] > 1


@pytest.mark.parametrize("params, field", [
    ({"month": "2026-13"}, "month"), ({"month": "0000-01"}, "month"), ({"month": "26-09"}, "month"), ({"month": "2999-01"}, "month"),
    ({"limit": 0}, "limit"),
])
def test_the_api_refuses_a_bad_month_naming_it(api, fleet, params, field):
    response = api.get("/uptime/ports", params=params)
    assert response.status_code == 422 and response.json()["detail"].startswith(f"{field}:"), response.text


def test_the_api_answers_404_for_an_unknown_pile_or_site(api, fleet):
    assert api.get("/uptime/ports", params={"pile_id": "NOPE"}).status_code == 404
    assert api.get("/uptime/ports", params={"site_id": "NOPE"}).status_code == 404
    assert api.get("/uptime/piles/NOPE/outages").status_code == 404


EXCLUSION = {"pile_id": PILE, "port": 1, "starts_at": "2026-09-10T08:00:00Z", "ends_at": "2026-09-10T12:00:00Z",
             "cause": "grid_outage", "note": "utility interruption notice 4711"}


def test_a_dispatcher_records_an_exclusion_on_an_outage_with_who_and_when(client_for, api, example):
    outages = api.get(f"/uptime/piles/{PILE}/outages", params={"month": "2026-09"}).json()
    assert [(o["start"], o["end"], o["by_status"], o["derated"]) for o in outages] == [
        ("2026-09-03T00:00:00Z", "2026-09-05T12:00:00Z", False, True),
        ("2026-09-10T08:00:00Z", "2026-09-10T12:00:00Z", True, False)]
    dispatcher = client_for("dispatcher", user_id="dora")
    created = dispatcher.post("/uptime/exclusions", json=EXCLUSION)
    assert created.status_code == 201, created.text
    record = created.json()
    assert (record["recorded_by"], record["cause"], record["withdrawn_at"]) == ("dora", "grid_outage", None)
    outages = api.get(f"/uptime/piles/{PILE}/outages", params={"month": "2026-09"}).json()
    assert (outages[1]["excluded_min"], outages[1]["exclusions"]) == (240, [record["id"]])
    month = api.get("/uptime/ports", params={"month": "2026-09", "pile_id": PILE}).json()["data"][0]["months"][-1]
    assert month["uptime"] == pytest.approx((43_200 - 3_600) / 43_200, abs=1e-5)


def test_a_withdrawn_exclusion_counts_again_and_is_kept_with_who_and_why(client_for, api, example):
    supervisor = client_for("supervisor", user_id="sam")
    exclusion = supervisor.post("/uptime/exclusions", json=EXCLUSION).json()
    withdrawn = supervisor.post(f"/uptime/exclusions/{exclusion['id']}/withdraw", json={"reason": "it was our fuse"})
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_by"] == "sam"
    again = supervisor.post(f"/uptime/exclusions/{exclusion['id']}/withdraw", json={"reason": "twice"})
    assert again.status_code == 409
    assert supervisor.post("/uptime/exclusions/999/withdraw", json={"reason": "x"}).status_code == 404
    assert api.get("/uptime/exclusions", params={"pile_id": PILE}).json() == []
    kept = api.get("/uptime/exclusions", params={"pile_id": PILE, "include_withdrawn": True}).json()
    assert [e["withdrawn_reason"] for e in kept] == ["it was our fuse"]
    month = api.get("/uptime/ports", params={"month": "2026-09", "pile_id": PILE}).json()["data"][0]["months"][-1]
    assert month["excluded_min"] == 0


@pytest.mark.parametrize("change, field", [
    ({"pile_id": "NOPE"}, "pile_id"),
    ({"port": 2}, "port"),                       # the two connectors share port 1
    ({"port": 0}, "port"),
    ({"cause": "bad_weather"}, "cause"),
    ({"ends_at": "2026-09-10T08:00:00Z"}, "ends_at"),
    ({"starts_at": "2026-09-10T08:00:00"}, "starts_at"),   # no time zone
    ({"starts_at": "2999-01-01T00:00:00Z", "ends_at": "2999-01-02T00:00:00Z"}, "starts_at"),
    ({"note": ""}, "note"),
])
def test_a_bad_exclusion_is_refused_naming_the_field(api, example, change, field):
    response = api.post("/uptime/exclusions", json=EXCLUSION | change)
    assert response.status_code == 422 and response.json()["detail"].startswith(f"{field}:"), response.text


def test_only_dispatchers_and_supervisors_record_exclusions(client_for, example):
    for role in ("viewer", "agent", "engineer"):
        assert client_for(role).post("/uptime/exclusions", json=EXCLUSION).status_code == 403
    assert client_for("viewer").get("/uptime/ports").status_code == 200
    assert client_for("engineer").get("/uptime/ports").status_code == 403
