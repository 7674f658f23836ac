"""What a customer's portal login may see: its own customer's objects and nothing else
(issue 13, R-INFO: customer data is confidential).

The one place the API scopes customers, in three parts:

- `gate`, on every logged-in router (api/app.py): a customer account reaches only routes
  marked `@portal`; every other route answers it 403. New routes are staff-only for
  customers until someone marks them, so nothing opens by accident.
- `check(conn, user, Owned.PILE, pile_id)`: in a portal route reading one object, NotFound
  unless it is the customer's own, worded exactly as for an object that does not exist
  (404, not 403: another customer's pile must not even be seen to exist).
- `narrow(user, "s.customer_id", where, params)`: in a portal route listing objects, the
  condition that keeps a customer's list to its own rows.

For staff all three do nothing; engineers are narrowed to the orders they hold elsewhere
(api/work_order_view.py). The service desk's request routes use the same: `Owned.REQUEST`,
`narrow(user, "r.customer_id", …)` and `@portal`.
"""
from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import TypeVar

import psycopg
from fastapi import Request
from psycopg.rows import tuple_row

from api.accounts import Role, User
from api.auth import CurrentUser
from pilecare.errors import Forbidden, NotFound

_MARK = "__pilecare_portal__"
Endpoint = TypeVar("Endpoint", bound=Callable)


def portal(endpoint: Endpoint) -> Endpoint:
    """Mark a route as part of the customer portal: customer accounts may call it, and the
    route narrows what they get with `check` / `narrow`. Use under the router's decorator."""
    setattr(endpoint, _MARK, True)
    return endpoint


def is_customer(user: User) -> bool:
    return user.role is Role.CUSTOMER


def own_customer(user: User) -> str | None:
    """The customer a portal login sees; None for staff (who see every customer)."""
    return user.customer_id if is_customer(user) else None


def gate(request: Request, user: CurrentUser) -> User:
    """The app-wide dependency: a customer account passes only routes marked `@portal`
    (Forbidden otherwise); staff pass to the route's own role check."""
    if is_customer(user) and not getattr(request.scope.get("endpoint"), _MARK, False):
        raise Forbidden("this is for pilecare's staff: a customer account reaches only the portal "
                        "(its own sites, piles, work orders, service reports, requests and history)")
    return user


class Owned(str, Enum):
    """The objects a customer owns, each with the query naming its customer."""

    CUSTOMER = "customer"
    SITE = "site"
    PILE = "pile"
    WORK_ORDER = "work_order"
    REQUEST = "request"
    COMPLAINT = "complaint"
    FOLLOW_UP = "follow_up"


_OWNER = {
    Owned.CUSTOMER: "SELECT id FROM customers WHERE id = %s",
    Owned.SITE: "SELECT customer_id FROM sites WHERE id = %s",
    Owned.PILE: "SELECT s.customer_id FROM piles p JOIN sites s ON s.id = p.site_id WHERE p.id = %s",
    # An order's customer is its site's (a site-wide round), else its pile's: as the order views read it.
    Owned.WORK_ORDER: "SELECT s.customer_id FROM work_orders o JOIN piles p ON p.id = o.pile_id "
                      "JOIN sites s ON s.id = coalesce(o.site_id, p.site_id) WHERE o.id = %s",
    Owned.REQUEST: "SELECT customer_id FROM requests WHERE id = %s",
    Owned.COMPLAINT: "SELECT customer_id FROM complaints WHERE id = %s",
    Owned.FOLLOW_UP: "SELECT customer_id FROM follow_ups WHERE id = %s",
}
# Word for word what the routes answer for an object that does not exist.
_MISSING = {
    Owned.CUSTOMER: "customer {!r} does not exist",
    Owned.SITE: "site {!r} does not exist",
    Owned.PILE: "pile {!r} does not exist",
    Owned.WORK_ORDER: "work order {} does not exist",
    Owned.REQUEST: "request {} does not exist",
    Owned.COMPLAINT: "complaint {} does not exist",
    Owned.FOLLOW_UP: "follow-up {} does not exist",
}


def missing(kind: Owned, key: str | int) -> NotFound:
    """The NotFound a route answers for an object that does not exist."""
    return NotFound(_MISSING[kind].format(key))


def check(conn: psycopg.Connection, user: User, kind: Owned, key: str | int) -> None:
    """Raises NotFound (as for a missing object) when a customer account asks for an object
    that is not its own customer's; nothing for staff, whose routes answer for missing
    objects themselves."""
    if not is_customer(user):
        return
    row = conn.cursor(row_factory=tuple_row).execute(_OWNER[kind], (key,)).fetchone()
    if row is None or row[0] != user.customer_id:
        raise missing(kind, key)


def narrow(user: User, column: str, where: list[str], params: dict) -> None:
    """Add `column = <the account's customer>` to a list query's conditions (named
    parameters) for a customer account; nothing for staff."""
    if is_customer(user):
        where.append(f"{column} = %(own_customer)s")
        params["own_customer"] = user.customer_id
