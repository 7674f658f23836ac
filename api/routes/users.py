"""Logging in (OAuth2 password flow) and, for admins, managing accounts."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from api import accounts
from api.auth import (COOKIE, DEVICE_COOKIE, Actor, CurrentUser, Role, device_of, groups_of, issue_device_cookie,
                      issue_token, require)
from api.deps import Conn
from api.models import RequestBody
from pilecare.errors import NotFound, Unauthorized

router = APIRouter(tags=["accounts"])
Admin = [Depends(require(Role.ADMIN))]


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")


class Me(BaseModel):
    id: str
    role: Role
    full_name: str
    engineer_id: str | None
    customer_id: str | None = Field(default=None, description="Customer accounts (the portal): the customer they "
                                                               "belong to and see only.")
    groups: list[str] = Field(default_factory=list, description="The role sets this account belongs to (office, "
                                                                 "contacts, dispatch, desk, supervise): what the "
                                                                 "console shows it; docs/roles.md")


class UserPublic(Me):
    email: str | None
    active: bool
    created_at: datetime
    created_by: str


class UserCreate(RequestBody):
    id: str = Field(pattern=r"^[a-z0-9._-]{2,64}$", description="The login name.")
    full_name: str = Field(min_length=1, max_length=200)
    role: Role
    password: str = Field(min_length=accounts.MIN_PASSWORD, max_length=200)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$", max_length=200)
    engineer_id: str | None = Field(default=None, description="Engineers: the engineer record this login is.")
    customer_id: str | None = Field(default=None, min_length=1, max_length=64,
                                    description="Required for role customer (a portal login): the customer it "
                                                "belongs to; refused for any other role.")


class UserUpdate(RequestBody):
    full_name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    password: str | None = Field(default=None, min_length=accounts.MIN_PASSWORD, max_length=200)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$", max_length=200)
    active: bool | None = None
    engineer_id: str | None = None
    customer_id: str | None = Field(default=None, min_length=1, max_length=64,
                                    description="Role customer: the customer the account belongs to.")


class Unlocked(BaseModel):
    failures_cleared: int = Field(description="Recent failed logins forgotten, from every source.")


class UserEvent(BaseModel):
    at: datetime
    actor: str
    change: dict


_SELECT = ("SELECT u.id, u.role, u.full_name, e.id AS engineer_id, u.customer_id, u.email, u.active, u.created_at, "
           "u.created_by FROM users u LEFT JOIN engineers e ON e.user_id = u.id")


@router.post("/auth/token", summary="Log in: user name and password for a bearer token")
def login(request: Request, response: Response, conn: Conn,
          form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    """A bearer token (also set as the console's cookie) and a device cookie for this client.

    Errors: 401 "wrong user name or password" (unknown name, wrong password and inactive
    account alike); 429 with Retry-After when the attempt's scope has too many recent
    failures: this device, else this address, else every new client of the name
    (docs/roles.md, after OWASP's device-cookie scheme).
    """
    settings = request.app.state.settings
    limits = accounts.LoginLimits(per_source=settings.login_max_failures,
                                  per_name=settings.login_max_failures_per_name,
                                  window_minutes=settings.login_window_minutes)
    client = accounts.LoginClient(address=request.client.host if request.client else None,
                                  device=device_of(request, form.username))
    with conn.transaction():
        # One attempt per user name at a time, across processes: parallel guesses cannot
        # all pass the count before any failure is recorded.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('login:' || %s))", (form.username,))
        accounts.check_throttle(conn, form.username, client, limits)
        user = accounts.authenticate(conn, form.username, form.password)
        if user is None:
            accounts.record_failure(conn, form.username, client, limits)
        else:
            accounts.clear_failures(conn, user.id, client)
    if user is None:
        # One answer for an unknown name, a wrong password and a disabled account.
        raise Unauthorized("wrong user name or password")
    key = request.app.state.secret_key
    token, lifetime = issue_token(settings, key, user)
    # The console uses the cookie (and its event stream, which cannot send headers).
    response.set_cookie(COOKIE, token, max_age=lifetime, httponly=True, samesite="strict")
    # Sent back only to this endpoint: it lets this client through while others are locked out.
    device, device_lifetime = issue_device_cookie(key, user.id)
    response.set_cookie(DEVICE_COOKIE, device, max_age=device_lifetime, path="/auth/token", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return Token(access_token=token, expires_in=lifetime)


@router.post("/auth/logout", status_code=204, summary="Forget the console's cookie")
def logout(response: Response) -> None:
    response.delete_cookie(COOKIE)


@router.get("/auth/me", summary="Who the token belongs to")
def me(user: CurrentUser) -> Me:
    return Me(id=user.id, role=user.role, full_name=user.full_name, engineer_id=user.engineer_id,
              customer_id=user.customer_id, groups=groups_of(user.role))


@router.get("/users", dependencies=Admin, summary="Accounts")
def list_users(conn: Conn) -> list[UserPublic]:
    return [UserPublic(**r) for r in conn.execute(_SELECT + " ORDER BY u.id").fetchall()]


@router.post("/users", status_code=201, dependencies=Admin, summary="Create an account",
             description="A customer account (role `customer`, the portal) names its `customer_id` and sees only "
                         "that customer's objects; any other role with a `customer_id` is a 422 naming it.")
def create_user(conn: Conn, actor: Actor, body: UserCreate) -> UserPublic:
    accounts.create(conn, body.id, role=body.role, full_name=body.full_name, password=body.password, actor=actor,
                    email=body.email, engineer_id=body.engineer_id, customer_id=body.customer_id)
    return _public(conn, body.id)


@router.get("/users/{user_id}", dependencies=Admin, summary="One account")
def get_user(conn: Conn, user_id: str) -> UserPublic:
    return _public(conn, user_id)


@router.patch("/users/{user_id}", dependencies=Admin,
              summary="Change role, name, password (which lifts login locks); deactivate")
def update_user(conn: Conn, actor: Actor, user_id: str, body: UserUpdate) -> UserPublic:
    accounts.update(conn, user_id, actor=actor, **body.model_dump(exclude_unset=True))
    return _public(conn, user_id)


@router.post("/users/{user_id}/unlock", dependencies=Admin, summary="Lift every failed-login lock on the account")
def unlock_user(conn: Conn, actor: Actor, user_id: str) -> Unlocked:
    """Forgets the account's recent failed logins from every source (recorded in its events).
    Resetting the password (PATCH with `password`) lifts them too. 404 for an unknown account."""
    return Unlocked(failures_cleared=accounts.unlock(conn, user_id, actor=actor))


@router.get("/users/{user_id}/events", dependencies=Admin, summary="Every change of the account: who, when, what")
def user_events(conn: Conn, user_id: str) -> list[UserEvent]:
    _public(conn, user_id)
    return [UserEvent(**r) for r in conn.execute(
        "SELECT at, actor, change FROM user_events WHERE user_id = %s ORDER BY id", (user_id,)).fetchall()]


def _public(conn, user_id: str) -> UserPublic:
    row = conn.execute(_SELECT + " WHERE u.id = %s", (user_id,)).fetchone()
    if row is None:
        raise NotFound(f"user {user_id!r} does not exist")
    return UserPublic(**row)
