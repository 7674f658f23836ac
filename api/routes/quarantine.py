"""Mail held in quarantine (issue 13): auto-replies, bounces, mail loops and senders over
the hourly limit never open requests; agents see them here and release one held by mistake."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.auth import DESK, Actor, require
from api.deps import Conn, Offset, PlainConn, PolicyDep
from maintenance.servicedesk import mail_in, number
from maintenance.servicedesk.mail_parse import parse
from pilecare.errors import NotFound

router = APIRouter(prefix="/mail/quarantine", tags=["service desk"], dependencies=[Depends(require(*DESK))])
_COLUMNS = "id, at, mail_from, from_header, subject, message_id, reason, released_at, released_by"


class QuarantinedMail(BaseModel):
    id: int
    at: datetime
    mail_from: str | None = Field(description="The SMTP envelope sender ('' for a null return path).")
    from_header: str | None
    subject: str | None
    message_id: str | None
    reason: str = Field(description="bounce, null_sender, auto_submitted, precedence, auto_reply, loop, rate_limit, "
                                    "no_sender")
    released_at: datetime | None
    released_by: str | None


class QuarantinedMails(BaseModel):
    data: list[QuarantinedMail]
    count: int


class QuarantinedMailDetail(QuarantinedMail):
    text: str = Field(description="The mail's text as the desk would have read it.")


class Release(BaseModel):
    action: str = Field(description="opened (a new request) or joined (the request it answers).")
    request_id: int
    number: str


@router.get("", summary="Mail held back from the desk, newest first")
def list_quarantine(conn: Conn, reason: str | None = None,
                    released: bool | None = Query(default=None, description="false: still held"),
                    limit: Annotated[int, Query(ge=1, le=1000)] = 50, offset: Offset = 0) -> QuarantinedMails:
    where, params = [], {"limit": limit, "offset": offset}
    if reason is not None:
        where.append("reason = %(reason)s")
        params["reason"] = reason
    if released is not None:
        where.append(("" if released else "NOT ") + "(released_at IS NOT NULL)")
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM mail_quarantine{clause} ORDER BY at DESC, id DESC "
                        "LIMIT %(limit)s OFFSET %(offset)s", params).fetchall()
    count = conn.execute(f"SELECT count(*) AS n FROM mail_quarantine{clause}", params).fetchone()["n"]
    return QuarantinedMails(data=[QuarantinedMail(**r) for r in rows], count=count)


@router.get("/{quarantine_id}", summary="One held mail with its text")
def get_quarantined(conn: Conn, quarantine_id: int) -> QuarantinedMailDetail:
    row = conn.execute(f"SELECT {_COLUMNS}, raw FROM mail_quarantine WHERE id = %s", (quarantine_id,)).fetchone()
    if row is None:
        raise NotFound(f"quarantined mail {quarantine_id} does not exist")
    raw = bytes(row.pop("raw"))
    return QuarantinedMailDetail(**row, text=parse(raw, mail_from=row["mail_from"] or "").body)


@router.post("/{quarantine_id}/release", summary="Release a mail held by mistake: it opens or joins a request")
def release(conn: PlainConn, policy: PolicyDep, actor: Actor, quarantine_id: int) -> Release:
    taken = mail_in.release(conn, policy, quarantine_id, actor=actor)
    return Release(action=taken.action, request_id=taken.request_id, number=number(taken.request_id))
