"""Who is calling: OAuth2 password flow issuing signed bearer tokens (JWT, HS256), and the
dependencies routes use to require a role.

The token names the user; the user's role and whether they are still active are read from
PostgreSQL on every request, so deactivating an account or changing a role takes effect at
once rather than when the token expires. The console keeps the same token in a cookie.
"""
from __future__ import annotations

import os
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from api import accounts
from api.accounts import Role, User
from pilecare.errors import Forbidden, NotFound, Unauthorized
from pilecare.settings import Settings

__all__ = ["Role", "User", "CurrentUser", "bearer_token", "current_user", "EngineerUser", "Actor", "require", "issue_token", "secret_key",
           "issue_device_cookie", "device_of"]

COOKIE = "pilecare_token"
_ALGORITHM = "HS256"
_bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


def secret_key(settings: Settings) -> str:
    """The configured key, else one generated once and kept in <data_dir>/secret."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.data_dir) / "secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return path.read_text().strip()
    # Written whole to a private file, then linked into place: of several processes starting
    # together exactly one link succeeds, and nobody ever reads a half-written key.
    draft = path.with_name(f".secret-{os.getpid()}-{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48))
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text().strip()


def issue_token(settings: Settings, key: str, user: User) -> tuple[str, int]:
    """A bearer token for the user and its lifetime in seconds."""
    now = datetime.now(timezone.utc)
    lifetime = timedelta(minutes=settings.token_minutes)
    claims = {"sub": user.id, "role": user.role.value, "iat": now, "exp": now + lifetime}
    if user.customer_id is not None:
        # For the portal's pages to read; the API itself reads the account's customer from
        # PostgreSQL on every request, like its role.
        claims["customer"] = user.customer_id
    return jwt.encode(claims, key, algorithm=_ALGORITHM), int(lifetime.total_seconds())


DEVICE_COOKIE = "pilecare_device"
# A client that has logged in keeps its device cookie this long (renewed at every login).
DEVICE_DAYS = 365
# Signed with the same key as bearer tokens, so it carries an audience of its own: PyJWT
# refuses a token with an audience where none is expected, so it never passes as a bearer
# token, and a bearer token (no audience) never passes as a device cookie.
_DEVICE_AUDIENCE = "pilecare:device"


def issue_device_cookie(key: str, user_id: str) -> tuple[str, int]:
    """A device cookie for a client that has just logged in as `user_id`, and its lifetime in
    seconds: a signed token naming the user and a random device id (OWASP "Slow down online
    guessing attacks with device cookies"; docs/roles.md)."""
    now = datetime.now(timezone.utc)
    lifetime = timedelta(days=DEVICE_DAYS)
    claims = {"sub": user_id, "device": secrets.token_urlsafe(16), "aud": _DEVICE_AUDIENCE, "iat": now,
              "exp": now + lifetime}
    return jwt.encode(claims, key, algorithm=_ALGORITHM), int(lifetime.total_seconds())


def device_of(request: Request, user_id: str) -> str | None:
    """The device id of the request's device cookie when it is valid and was issued to
    `user_id`; None otherwise (no cookie, forged, expired, or another user's)."""
    cookie = request.cookies.get(DEVICE_COOKIE)
    if not cookie:
        return None
    try:
        claims = jwt.decode(cookie, request.app.state.secret_key, algorithms=[_ALGORITHM], audience=_DEVICE_AUDIENCE,
                            options={"require": ["sub", "device", "exp", "aud"]})
    except jwt.InvalidTokenError:
        return None
    return claims["device"] if claims["sub"] == user_id else None


async def bearer_token(request: Request) -> str | None:
    """The request's bearer token from the Authorization header; None without one."""
    return await _bearer(request)


def current_user(request: Request, token: Annotated[str | None, Depends(_bearer)]) -> User:
    # Found already for this request by the idempotency layer (api/idempotency.py), which
    # holds a connection with the key's row locked: asking the pool again could wait on it.
    known = getattr(request.state, "user", None)
    if known is not None:
        return known
    token = token or request.cookies.get(COOKIE)
    if not token:
        raise Unauthorized()
    try:
        claims = jwt.decode(token, request.app.state.secret_key, algorithms=[_ALGORITHM],
                            options={"require": ["sub", "exp"]})
        # Long-lived responses (the event stream) end when the token does.
        request.state.token_expires = datetime.fromtimestamp(claims["exp"], timezone.utc)
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired; log in again") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("the token is not valid; log in again") from None
    try:
        # Its own short checkout: the route's connection may be a different kind (tuple rows).
        with request.app.state.pool.connection() as conn:
            return accounts.get(conn, claims["sub"], active_only=True)
    except NotFound:
        raise Unauthorized("the account is no longer active") from None


CurrentUser = Annotated[User, Depends(current_user)]


def require(*roles: Role):
    """A dependency admitting the given roles (and admin), answering 403 to the others."""
    allowed = frozenset(roles) | {Role.ADMIN}
    names = ", ".join(sorted(r.value for r in allowed))

    def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise Forbidden(f"this needs one of the roles: {names}; you are {user.role.value}")
        if user.role is Role.ENGINEER and user.engineer_id is None:
            # An engineer's view is filtered by the link; without one there is nothing to show.
            raise Forbidden("your engineer account is not linked to an engineer record; ask an admin")
        return user

    return check


def _engineer(user: CurrentUser) -> User:
    # Not even admin passes: field steps act as "the engineer holding the order".
    if user.role is not Role.ENGINEER or user.engineer_id is None:
        raise Forbidden("this is the engineers' app: your account is not linked to an engineer")
    return user


# An engineer acting on their own orders.
EngineerUser = Annotated[User, Depends(_engineer)]


def _actor(user: CurrentUser) -> str:
    return user.id


# The authenticated user's id, for timelines and audit columns.
Actor = Annotated[str, Depends(_actor)]

# Role sets: the one definition the routers and (through GET /users/me) the console share.
# `require` always admits admins as well (docs/roles.md). A customer passes only routes marked
# for the portal (api/customer_scope.py), whatever set they list.
ANYONE = tuple(Role)
OFFICE = (Role.SUPERVISOR, Role.DISPATCHER, Role.AGENT, Role.VIEWER,  # everyone but engineers reads these
          Role.PARTS_KEEPER, Role.MANAGER)
CONTACTS = (Role.SUPERVISOR, Role.DISPATCHER, Role.AGENT)             # may see customers' contact details
DISPATCH = (Role.SUPERVISOR, Role.DISPATCHER)
DESK = (Role.SUPERVISOR, Role.DISPATCHER, Role.AGENT)                 # take calls, comment, acknowledge
SUPERVISE = (Role.SUPERVISOR,)                                        # escalations, safety verification
STORES = (Role.PARTS_KEEPER, Role.SUPERVISOR)                         # stock movements, receipts, stock-takes
MANAGE = (Role.MANAGER,)                                              # budgets, approvals beyond budget, reports
GROUPS = {"office": OFFICE, "contacts": CONTACTS, "dispatch": DISPATCH, "desk": DESK, "supervise": SUPERVISE,
          "stores": STORES, "manage": MANAGE}


def groups_of(role: Role) -> list[str]:
    """The role sets a role belongs to, by name (an admin belongs to all)."""
    return [name for name, members in GROUPS.items() if role is Role.ADMIN or role in members]
