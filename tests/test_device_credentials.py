"""Per-device credentials (issue 15): one live password per pile and protocol, kept only as
a Mosquitto-compatible hash; rotation and revocation leave exactly one or no live credential."""
from __future__ import annotations

import shutil
import subprocess
import threading

import psycopg
import pytest

from gateway.credentials import Protocol, hash_password, issue, password_matches, revoke, verify
from pilecare.errors import NotFound
from tests.factories import make_fleet


def live_rows(conn, pile_id: str, protocol: Protocol) -> int:
    return conn.execute(
        "SELECT count(*) FROM device_credentials WHERE pile_id = %s AND protocol = %s AND revoked_at IS NULL",
        (pile_id, protocol.value),
    ).fetchone()[0]


def test_an_issued_password_opens_only_its_own_pile_and_protocol(db):
    pile, other = make_fleet(db, 2)
    credential = issue(db, pile, Protocol.OCPP, issued_by="admin")
    assert credential.username == pile and 16 <= len(credential.password) <= 40  # OCPP's AuthorizationKey length
    assert verify(db, pile, Protocol.OCPP, credential.password)
    assert not verify(db, pile, Protocol.OCPP, credential.password + "x")
    assert not verify(db, pile, Protocol.MQTT, credential.password)
    assert not verify(db, other, Protocol.OCPP, credential.password)
    assert not verify(db, "NO-SUCH-PILE", Protocol.OCPP, credential.password)


def test_the_password_itself_is_never_stored(db):
    (pile,) = make_fleet(db, 1)
    credential = issue(db, pile, Protocol.MQTT, issued_by="admin")
    stored = db.execute("SELECT password_hash, issued_by FROM device_credentials WHERE pile_id = %s", (pile,)).fetchone()
    assert credential.password not in stored[0] and stored[0].startswith("$7$101$")
    assert stored[1] == "admin"


def test_rotation_refuses_the_old_password_and_keeps_one_live_credential(db):
    (pile,) = make_fleet(db, 1)
    first = issue(db, pile, Protocol.MQTT, issued_by="admin")
    second = issue(db, pile, Protocol.MQTT, issued_by="supervisor")
    assert not verify(db, pile, Protocol.MQTT, first.password)
    assert verify(db, pile, Protocol.MQTT, second.password)
    assert live_rows(db, pile, Protocol.MQTT) == 1
    revoked_by = db.execute(
        "SELECT revoked_by FROM device_credentials WHERE pile_id = %s AND revoked_at IS NOT NULL", (pile,)).fetchone()
    assert revoked_by == ("supervisor",)


def test_a_revoked_credential_opens_nothing_and_revoking_twice_says_so(db):
    (pile,) = make_fleet(db, 1)
    credential = issue(db, pile, Protocol.OCPP, issued_by="admin")
    assert revoke(db, pile, Protocol.OCPP, revoked_by="admin") is True
    assert not verify(db, pile, Protocol.OCPP, credential.password)
    assert revoke(db, pile, Protocol.OCPP, revoked_by="admin") is False


def test_an_unregistered_pile_gets_no_credential(db):
    with pytest.raises(NotFound, match="NO-SUCH"):
        issue(db, "NO-SUCH", Protocol.MQTT, issued_by="admin")


def test_concurrent_rotations_leave_exactly_one_live_credential(db, database_url):
    (pile,) = make_fleet(db, 1)
    issued, barrier = [], threading.Barrier(6)

    def rotate():
        with psycopg.connect(database_url, autocommit=True) as conn:
            barrier.wait()
            issued.append(issue(conn, pile, Protocol.OCPP, issued_by="admin"))

    threads = [threading.Thread(target=rotate) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(issued) == 6 and live_rows(db, pile, Protocol.OCPP) == 1
    assert sum(verify(db, pile, Protocol.OCPP, c.password) for c in issued) == 1


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="mosquitto_passwd is part of Debian's mosquitto")
def test_hashes_are_in_the_format_mosquitto_passwd_writes(tmp_path):
    # Both ways: a hash mosquitto_passwd wrote verifies here, so one written here is the same format.
    path = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(path), "pile-1", "s3cret-Pass"], check=True,
                   capture_output=True)
    written = path.read_text().strip().split(":", 1)[1]
    assert written.startswith("$7$")
    assert password_matches("s3cret-Pass", written)
    assert not password_matches("s3cret-pass", written)
    assert hash_password("x").count("$") == 4


def test_a_malformed_hash_matches_nothing():
    for junk in ("", "$7$", "$6$abc$def", "$7$notanumber$AAAA$AAAA", "$7$101$!!$??"):
        assert not password_matches("anything", junk)
