"""Device credentials: a pile's MQTT and OCPP passwords, issued, rotated, revoked and listed.

Issuing when a live one exists is a rotation: the old password stops working (MQTT: the
broker's files are re-rendered within a second and the old session is disconnected,
gateway/broker_auth.py; OCPP: the next handshake is refused). The password is in the 201
answer only; the list shows who issued and revoked what, when, never a hash. Admin only
(docs/roles.md): a credential is a key to the fleet.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status

from api.auth import Actor, require
from api.deps import Conn
from api.models import DeviceCredentialIssued, DeviceCredentialPublic, DeviceCredentialsPublic
from gateway import credentials
from gateway.credentials import Protocol
from pilecare.errors import NotFound

router = APIRouter(prefix="/piles", tags=["device credentials"])


@router.post("/{pile_id}/credentials/{protocol}", dependencies=[Depends(require())],
             status_code=status.HTTP_201_CREATED,
             summary="Issue (or rotate) a pile's MQTT or OCPP password; shown once")
def issue_credential(conn: Conn, actor: Actor, pile_id: str, protocol: Protocol) -> DeviceCredentialIssued:
    return DeviceCredentialIssued.of(credentials.issue(conn, pile_id, protocol, issued_by=actor), actor)


@router.delete("/{pile_id}/credentials/{protocol}", dependencies=[Depends(require())],
               status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               summary="Revoke a pile's live MQTT or OCPP password (404 when it has none)")
def revoke_credential(conn: Conn, actor: Actor, pile_id: str, protocol: Protocol) -> Response:
    if not credentials.revoke(conn, pile_id, protocol, revoked_by=actor):
        raise NotFound(f"pile {pile_id!r} has no live {protocol.value} credential")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{pile_id}/credentials", dependencies=[Depends(require())],
            summary="A pile's device credentials, live and revoked: who issued and revoked them, when")
def list_credentials(conn: Conn, pile_id: str) -> DeviceCredentialsPublic:
    if conn.execute("SELECT 1 FROM piles WHERE id = %s", (pile_id,)).fetchone() is None:
        raise NotFound(f"pile {pile_id!r} does not exist")
    rows = conn.execute(
        "SELECT id, pile_id, protocol, pile_id AS username, revoked_at IS NULL AS live, issued_at, issued_by, "
        "revoked_at, revoked_by FROM device_credentials WHERE pile_id = %s ORDER BY issued_at DESC, id DESC",
        (pile_id,)).fetchall()
    return DeviceCredentialsPublic(data=[DeviceCredentialPublic(**r) for r in rows], count=len(rows))
