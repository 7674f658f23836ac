"""Follow-ups (R-FOLLOWUP): the agents' call-back queue, one follow-up, recording the
customer's answer; and the survey page a customer opens from the link in their mail, with
no login (the link's token is its only key, and it works once).

Agents, dispatchers, supervisors and admins record answers; viewers read the queue without
the customer's contact details. A customer's portal login lists its own finished jobs still
waiting for its rating (GET /follow-ups/mine), each with its survey link. The survey answers
404 for an unknown link and 409 for one answered already (or withdrawn), as a small HTML
page.
"""
from __future__ import annotations

import html
from datetime import datetime, timezone
from typing import Annotated

import psycopg
from fastapi import APIRouter, Depends, Form, Path, Query
from fastapi.responses import HTMLResponse
from psycopg.rows import dict_row
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import DESK, OFFICE, Actor, CurrentUser, Role, groups_of, require
from api.customer_scope import narrow, portal
from api.deps import Offset, PlainConn
from api.models import RequestBody
from api.pages import HEADERS
from maintenance.servicedesk import follow_ups
from maintenance.servicedesk.follow_ups import survey_path
from pilecare.errors import InvalidInput, NotFound, PilecareError

router = APIRouter(prefix="/follow-ups", tags=["follow-ups"])
# The customer's survey page: no login (registered without the logged-in dependency). A page
# for a browser, not an API operation: like the console's pages it is not in the OpenAPI
# document, and it answers its errors as pages too.
survey = APIRouter(prefix="/survey", include_in_schema=False)


class FollowUpPublic(BaseModel):
    id: int
    about: str = Field(description="work_order, request or complaint: what is followed up.")
    work_order_id: int | None
    request_id: int | None
    complaint_id: int | None
    pile_id: str | None
    customer_id: str
    customer_name: str
    subject: str = Field(description="The order's title, or the request's subject.")
    contact_name: str | None = Field(description="Whom to call (roles that see contact details only).")
    contact_phone: str | None
    due_at: datetime
    created_at: datetime
    agent: str | None
    done_at: datetime | None
    channel: str | None = Field(description="call or survey: how the answer came.")
    solved: bool | None
    satisfaction: int | None
    comments: str | None
    recorded_by: str | None
    withdrawn_at: datetime | None = Field(description="Set when its complaint was closed before the answer.")


class FollowUpsPublic(BaseModel):
    data: list[FollowUpPublic]
    count: int


class FollowUpAnswer(RequestBody):
    solved: bool = Field(description="Is the problem solved? For a complaint: is the customer satisfied?")
    satisfaction: int | None = Field(default=None, ge=1, le=5, description="1 (very unhappy) to 5 (very happy); "
                                                                           "null when the customer would not say.")
    comments: str | None = Field(default=None, max_length=4000)


class FollowUpRecorded(FollowUpPublic):
    reopened: str | None = Field(description="What 'not solved' reopened: work_order, request, complaint, or null.")
    carried_by_work_order_id: int | None = Field(
        description="The order that carries the job on: the reopened one, or the pile's open order for the fault "
                    "it was linked to instead.")


class FollowUpToRate(BaseModel):
    id: int
    about: str = Field(description="work_order, request or complaint: what is rated.")
    work_order_id: int | None
    request_id: int | None = Field(description="The request followed up, or the complaint's request.")
    complaint_id: int | None
    subject: str = Field(description="The order's title, or the request's subject.")
    due_at: datetime = Field(description="When the desk calls if the customer has not answered by then.")
    survey_path: str = Field(description="The survey page (no login; it works once): /survey/{token}.")


class FollowUpsToRate(BaseModel):
    data: list[FollowUpToRate]
    count: int


_SELECT = (
    "SELECT f.id, CASE WHEN f.work_order_id IS NOT NULL THEN 'work_order' WHEN f.request_id IS NOT NULL "
    "THEN 'request' ELSE 'complaint' END AS about, f.work_order_id, f.request_id, f.complaint_id, o.pile_id, "
    "f.customer_id, cu.name AS customer_name, coalesce(o.title, r.subject, kr.subject) AS subject, "
    "coalesce(ct.name, cu.contact_name) AS contact_name, coalesce(ct.phone, cu.contact_phone) AS contact_phone, "
    "f.due_at, f.created_at, f.agent, f.done_at, f.channel, "
    "f.solved, f.satisfaction, f.comments, f.recorded_by, f.withdrawn_at "
    "FROM follow_ups f JOIN customers cu ON cu.id = f.customer_id "
    "LEFT JOIN work_orders o ON o.id = f.work_order_id LEFT JOIN requests r ON r.id = f.request_id "
    "LEFT JOIN complaints k ON k.id = f.complaint_id LEFT JOIN requests kr ON kr.id = k.request_id "
    # Whom to call: the request's contact, else the customer's first active one (else the
    # customer record's own contact).
    "LEFT JOIN LATERAL (SELECT cc.name, cc.phone FROM customer_contacts cc WHERE cc.customer_id = f.customer_id "
    "  AND cc.active ORDER BY cc.id = coalesce(r.contact_id, kr.contact_id) DESC NULLS LAST, cc.id LIMIT 1) ct ON true"
)


def _public(row: dict, user) -> dict:
    if "contacts" not in groups_of(user.role):
        row = row | {"contact_name": None, "contact_phone": None}
    return row


def _one(conn: psycopg.Connection, follow_up_id: int, user) -> dict:
    row = conn.cursor(row_factory=dict_row).execute(f"{_SELECT} WHERE f.id = %s", (follow_up_id,)).fetchone()
    if row is None:
        raise NotFound(f"follow-up {follow_up_id} does not exist")
    return _public(row, user)


@router.get("", dependencies=[Depends(require(*OFFICE))],
            summary="The call-back queue: follow-ups not yet answered that are due by `due` (default: now), "
                    "the longest due first")
def queue(
    conn: PlainConn,
    user: CurrentUser,
    due: Annotated[AwareDatetime | None, Query(description="ISO 8601 with timezone; default: now")] = None,
    customer_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> FollowUpsPublic:
    params = {"due": due or datetime.now(timezone.utc), "customer": customer_id, "limit": limit, "offset": offset}
    where = (" WHERE f.done_at IS NULL AND f.withdrawn_at IS NULL AND f.due_at <= %(due)s "
             "AND (%(customer)s::text IS NULL OR f.customer_id = %(customer)s)")
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(f"{_SELECT}{where} ORDER BY f.due_at, f.id LIMIT %(limit)s OFFSET %(offset)s", params).fetchall()
    count = cur.execute(f"SELECT count(*) AS n FROM follow_ups f{where}", params).fetchone()["n"]
    return FollowUpsPublic(data=[FollowUpPublic(**_public(r, user)) for r in rows], count=count)


# Rated once the job is finished: an order resolved, verified or closed (one reopened since
# is not finished yet), a request resolved or closed, a complaint whose plan is carried out.
_TO_RATE = (
    "SELECT f.id, CASE WHEN f.work_order_id IS NOT NULL THEN 'work_order' WHEN f.request_id IS NOT NULL "
    "THEN 'request' ELSE 'complaint' END AS about, f.work_order_id, "
    "coalesce(f.request_id, k.request_id) AS request_id, f.complaint_id, coalesce(o.title, r.subject, kr.subject) AS subject, f.due_at, f.survey_token "
    "FROM follow_ups f LEFT JOIN work_orders o ON o.id = f.work_order_id "
    "LEFT JOIN requests r ON r.id = f.request_id LEFT JOIN complaints k ON k.id = f.complaint_id "
    "LEFT JOIN requests kr ON kr.id = k.request_id "
    "WHERE f.done_at IS NULL AND f.withdrawn_at IS NULL AND f.survey_token IS NOT NULL "
    "AND (o.state IN ('resolved', 'verified', 'closed') OR r.state IN ('resolved', 'closed') "
    "     OR k.state = 'following_up')"
)


def _to_rate(row: dict) -> FollowUpToRate:
    token = row.pop("survey_token")
    return FollowUpToRate(**row, survey_path=survey_path(token))


# Declared before /{follow_up_id}: "mine" is not an id.
@router.get("/mine", dependencies=[Depends(require(Role.CUSTOMER))],
            summary="The portal: my finished jobs still waiting for my rating, newest first, each with its survey "
                    "link")
@portal
def mine(conn: PlainConn, user: CurrentUser, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> FollowUpsToRate:
    """A customer's own follow-ups not yet answered (by the survey or an agent's call) whose
    job is finished (R-FOLLOWUP: the customer rates a finished job). The survey path is the
    link's secret, so only a customer's login (and an admin) reads this list; staff work
    the call-back queue (GET /follow-ups) instead."""
    where, params = [], {"limit": limit}
    narrow(user, "f.customer_id", where, params)
    clause = "".join(f" AND {w}" for w in where)
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(f"{_TO_RATE}{clause} ORDER BY f.created_at DESC, f.id DESC LIMIT %(limit)s", params).fetchall()
    count = cur.execute(f"SELECT count(*) AS n FROM ({_TO_RATE}{clause}) x", params).fetchone()["n"]
    return FollowUpsToRate(count=count, data=[_to_rate(r) for r in rows])


@router.get("/{follow_up_id}", dependencies=[Depends(require(*OFFICE))], summary="One follow-up")
def get_follow_up(conn: PlainConn, user: CurrentUser, follow_up_id: int) -> FollowUpPublic:
    return FollowUpPublic(**_one(conn, follow_up_id, user))


@router.post("/{follow_up_id}", dependencies=[Depends(require(*DESK))],
             summary="Record the customer's answer to a call (once): solved, satisfaction 1–5, comments; 'not solved' "
                     "reopens the work order, request or complaint")
def record(conn: PlainConn, user: CurrentUser, actor: Actor, follow_up_id: int,
           body: FollowUpAnswer) -> FollowUpRecorded:
    outcome = follow_ups.record(conn, follow_up_id, solved=body.solved, satisfaction=body.satisfaction,
                                comments=body.comments, actor=actor)
    return FollowUpRecorded(**_one(conn, follow_up_id, user), reopened=outcome.reopened,
                            carried_by_work_order_id=outcome.work_order_id)


# --- the survey page (no login) ---

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title}</title>
<link rel="icon" href="/console/favicon.svg" type="image/svg+xml"></head>
<body><main>
<h1>{title}</h1>
{body}
</main></body></html>
"""
_HEADERS = HEADERS | {"Cache-Control": "no-store"}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body), status_code=status, headers=_HEADERS)


def _error(error: PilecareError) -> HTMLResponse:
    titles = {404: "This survey link is not known", 409: "Thank you", 422: "Please check your answer"}
    return _page(titles.get(error.status, "Sorry"), f"<p>{html.escape(error.detail)}</p>", error.status)


def _form(token: str, about: dict) -> str:
    question = ("Are you satisfied with how we handled your complaint?" if about["about"] == "complaint"
                else "Is the problem solved?")
    scores = "".join(f'<label><input type="radio" name="satisfaction" value="{n}"> {n}</label> ' for n in range(1, 6))
    return (f"<p>{html.escape(about['customer'])}: we would like to know how we did with "
            f"{html.escape(about['subject'])}.</p>"
            f'<form method="post" action="/survey/{html.escape(token)}">'
            f"<fieldset><legend>{question}</legend>"
            '<label><input type="radio" name="solved" value="yes" required> Yes</label> '
            '<label><input type="radio" name="solved" value="no"> No</label></fieldset>'
            "<fieldset><legend>How satisfied are you? (1 = very unhappy, 5 = very happy)</legend>"
            f"{scores}</fieldset>"
            '<p><label>Anything else you would like to tell us?<br>'
            '<textarea name="comments" rows="4" cols="60" maxlength="4000"></textarea></label></p>'
            '<p><button type="submit">Send</button></p></form>')


@survey.get("/{token}", response_class=HTMLResponse, summary="The survey page a customer opens from their mail "
                                                             "(no login); 404 unknown link, 409 answered already")
def survey_page(conn: PlainConn, token: Annotated[str, Path(max_length=100)]) -> HTMLResponse:
    try:
        about = follow_ups.by_token(conn, token)
    except PilecareError as error:
        return _error(error)
    return _page("How did we do?", _form(token, about))


def _solved(value: str) -> bool:
    answer = value.strip().lower()
    if answer not in ("yes", "no"):
        raise InvalidInput(f"solved: answer yes or no, got {value!r}")
    return answer == "yes"


def _satisfaction(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"satisfaction: a whole number from 1 to 5, got {value!r}") from None


@survey.post("/{token}", response_class=HTMLResponse, summary="The customer's answer from the survey page (a form; "
                                                              "once; no login)")
def answer_survey(conn: PlainConn, token: Annotated[str, Path(max_length=100)],
                  solved: Annotated[str, Form(max_length=10)],
                  satisfaction: Annotated[str | None, Form(max_length=10)] = None,
                  comments: Annotated[str | None, Form(max_length=4000)] = None) -> HTMLResponse:
    try:
        follow_ups.answer_survey(conn, token, solved=_solved(solved), satisfaction=_satisfaction(satisfaction),
                                 comments=comments)
    except PilecareError as error:
        return _error(error)
    return _page("Thank you", "<p>Your answer is recorded. Thank you for telling us.</p>")
