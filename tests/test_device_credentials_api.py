"""Issue 15, item 6: a pile's MQTT and OCPP credentials through the API — issued when it is
registered, rotated, revoked and listed (metadata only, never a hash)."""
from __future__ import annotations

from gateway import credentials
from gateway.credentials import Protocol


def test_issuing_answers_the_password_once_and_it_opens_that_protocol_only(api, db, fleet):
    response = api.post(f"/piles/{fleet[0]}/credentials/mqtt")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["pile_id"], body["protocol"], body["username"], body["issued_by"]) == (fleet[0], "mqtt", fleet[0], "admin")
    assert credentials.verify(db, fleet[0], Protocol.MQTT, body["password"])
    assert not credentials.verify(db, fleet[0], Protocol.OCPP, body["password"])


def test_rotating_revokes_the_old_password_and_the_list_shows_who_and_when_without_hashes(api, client_for, db, fleet):
    old = api.post(f"/piles/{fleet[0]}/credentials/ocpp").json()["password"]
    new = api.post(f"/piles/{fleet[0]}/credentials/ocpp").json()["password"]
    assert not credentials.verify(db, fleet[0], Protocol.OCPP, old)
    assert credentials.verify(db, fleet[0], Protocol.OCPP, new)
    listed = api.get(f"/piles/{fleet[0]}/credentials")
    assert listed.status_code == 200
    rows = listed.json()["data"]
    assert [(r["protocol"], r["live"], r["revoked_by"]) for r in rows] == [("ocpp", True, None), ("ocpp", False, "admin")]
    assert "$7$" not in listed.text and old not in listed.text and new not in listed.text


def test_revoking_answers_204_then_404_when_nothing_is_live(api, db, fleet):
    password = api.post(f"/piles/{fleet[0]}/credentials/mqtt").json()["password"]
    assert api.delete(f"/piles/{fleet[0]}/credentials/mqtt").status_code == 204
    assert not credentials.verify(db, fleet[0], Protocol.MQTT, password)
    again = api.delete(f"/piles/{fleet[0]}/credentials/mqtt")
    assert again.status_code == 404 and "no live mqtt credential" in again.json()["detail"]


def test_unknown_piles_and_protocols_are_clear_4xx(api, fleet):
    assert api.post("/piles/NOPE/credentials/mqtt").status_code == 404
    assert api.get("/piles/NOPE/credentials").status_code == 404
    assert api.delete("/piles/NOPE/credentials/mqtt").status_code == 404
    wrong = api.post(f"/piles/{fleet[0]}/credentials/modbus")
    assert wrong.status_code == 422 and "protocol" in wrong.text


def test_registering_a_pile_answers_its_mqtt_and_ocpp_passwords_once(api, db, fleet):
    response = api.post("/piles", json={"id": "NEW-01", "serial": "SN-NEW-01", "model_id": "T-AC22",
                                        "site_id": "SITE-1"})
    assert response.status_code == 201, response.text
    issued = {c["protocol"]: c for c in response.json()["credentials"]}
    assert set(issued) == {"mqtt", "ocpp"}
    for protocol in Protocol:
        assert issued[protocol.value]["username"] == "NEW-01"
        assert credentials.verify(db, "NEW-01", protocol, issued[protocol.value]["password"])
    assert "password" not in api.get("/piles/NEW-01").text
