"""The quarantine list (issue 13): held mail is listed for agents, and one held by mistake is released once."""
from __future__ import annotations

from email.message import EmailMessage

import psycopg

from maintenance import policy as policies
from maintenance.servicedesk import mail_in


def _mail(sender: str, subject: str, **headers) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "service@pilecare.local", subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Hello desk")
    return message.as_bytes()


def test_an_agent_sees_held_mail_and_releases_one_held_by_mistake_once(api, db, fleet, database_url):
    policy = policies.load()
    with psycopg.connect(database_url, autocommit=True) as conn:
        held = mail_in.take(conn, policy, _mail("jana@metro.example", "Out of office", Auto_Submitted="auto-replied"),
                            mail_from="jana@metro.example")
    assert held.action == "quarantined" and held.reason == "auto_submitted"
    listed = api.get("/mail/quarantine", params={"released": "false"}).json()
    assert [(m["id"], m["reason"], m["subject"]) for m in listed["data"]] == [(held.quarantine_id, "auto_submitted",
                                                                               "Out of office")]
    assert api.get(f"/mail/quarantine/{held.quarantine_id}").json()["text"].strip() == "Hello desk"
    released = api.post(f"/mail/quarantine/{held.quarantine_id}/release")
    assert released.status_code == 200, released.text
    request = api.get(f"/requests/{released.json()['request_id']}").json()
    assert (request["channel"], request["caller"], request["subject"]) == ("email", "jana@metro.example",
                                                                           "Out of office")
    assert any("released from quarantine" in (e["note"] or "") for e in request["timeline"])
    again = api.post(f"/mail/quarantine/{held.quarantine_id}/release")
    assert again.status_code == 409
    assert api.get("/mail/quarantine", params={"released": "false"}).json()["count"] == 0
    assert api.post("/mail/quarantine/99999/release").status_code == 404


def test_viewers_and_engineers_do_not_see_held_mail(client_for, fleet):
    assert client_for("viewer").get("/mail/quarantine").status_code == 403
    assert client_for("engineer").get("/mail/quarantine").status_code == 403
