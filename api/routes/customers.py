"""Customers (R-INFO): the list and the customer card, the customer record and its contacts,
the audit of every change, and the customer's service history.

Contact details (names, phones, e-mail addresses) reach only the roles that need them:
agents, dispatchers, supervisors, admins, and a customer's own portal login for its own
customer. Viewers see customers without them; engineers get their job's contact on the
phone app, not here. A customer login sees its own customer and answers 404 for any other.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import DESK, OFFICE, SUPERVISE, Role, User, groups_of, require
from api.customer_scope import Owned, check, is_customer, narrow, portal
from api.deps import BIGINT_MAX, Conn, Offset, PolicyDep
from api.models import RequestBody
from api.service_history import ServiceHistory, history
from maintenance.servicedesk import customers
from pilecare.domain import CustomerTier
from pilecare.errors import Forbidden, NotFound

router = APIRouter(prefix="/customers", tags=["customers"])

Reader = Annotated[User, Depends(require(*OFFICE, Role.CUSTOMER))]
Desk = Annotated[User, Depends(require(*DESK))]
ContactId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
_CONTACTS_NOTE = ("Contact details (contact_*, contacts) are null for roles that may not see them (viewers): "
                  "docs/roles.md.")


class ContactCreate(RequestBody):
    name: str = Field(min_length=1, max_length=200)
    role: str | None = Field(default=None, max_length=100, description="e.g. site manager, fleet operator, accounts")
    phone: str | None = Field(default=None, max_length=40, description="Stored as E.164; a number without "
                                                                       "+country code is read in the desk's "
                                                                       "phone_region (policy).")
    email: str | None = Field(default=None, max_length=254, description="Stored lower-cased, the bare address.")


class ContactUpdate(RequestBody):
    """Only the fields given change; `role`, `phone` and `email` may be null to clear them."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    active: bool | None = None


class ContactPublic(BaseModel):
    id: int
    name: str
    role: str | None
    phone: str | None = Field(description="E.164")
    email: str | None
    active: bool


class CustomerCreate(RequestBody):
    id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    name: str = Field(min_length=1, max_length=200)
    tier: CustomerTier = Field(default=CustomerTier.STANDARD, description="Its service level (the desk's clocks, "
                                                                          "order priority); above standard only "
                                                                          "by a supervisor or admin.")
    contacts: list[ContactCreate] = Field(default_factory=list, max_length=50)


class CustomerUpdate(RequestBody):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    tier: CustomerTier | None = Field(default=None, description="Changed only by a supervisor or admin.")


class CustomerPublic(BaseModel):
    id: str
    name: str
    tier: CustomerTier
    created_at: datetime
    sites: int
    piles: int
    contact_name: str | None = Field(description="The first active contact (null without the right to see it).")
    contact_phone: str | None
    contact_email: str | None


class CustomersPublic(BaseModel):
    data: list[CustomerPublic]
    count: int


class CustomerSite(BaseModel):
    id: str
    name: str
    region: str
    piles: int


class CustomerCard(CustomerPublic):
    contacts: list[ContactPublic] | None = Field(description="Every contact, inactive ones too (null without the "
                                                             "right to see them).")
    site_list: list[CustomerSite]
    open_work_orders: int
    open_requests: int
    open_complaints: int


class CustomerChange(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str = Field(description="created, updated, contact_added, contact_updated, contact_removed")
    contact_id: int | None
    before: dict | None
    after: dict | None


_SELECT = """
SELECT c.id, c.name, c.tier, c.created_at, c.contact_name, c.contact_phone, c.contact_email,
       (SELECT count(*) FROM sites s WHERE s.customer_id = c.id) AS sites,
       (SELECT count(*) FROM piles p JOIN sites s ON s.id = p.site_id WHERE s.customer_id = c.id) AS piles
FROM customers c
"""


def _sees_contacts(user: User) -> bool:
    # A portal login reaches only its own customer, whose contacts are its own people.
    return "contacts" in groups_of(user.role) or is_customer(user)


def _public(row: dict, user: User) -> dict:
    if not _sees_contacts(user):
        row = row | {"contact_name": None, "contact_phone": None, "contact_email": None}
    return row


@router.get("", summary="Customers with their sites and piles counted; search by id or name (and, for roles that "
                        "see contacts, by a contact's name, phone or e-mail)", description=_CONTACTS_NOTE)
@portal
def list_customers(conn: Conn, user: Reader,
                   q: Annotated[str | None, Query(max_length=200, description="text anywhere in the id or name")] = None,
                   tier: CustomerTier | None = None, limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
                   offset: Offset = 0) -> CustomersPublic:
    where, params = [], {"limit": limit, "offset": offset}
    narrow(user, "c.id", where, params)
    if tier is not None:
        where.append("c.tier = %(tier)s")
        params["tier"] = tier.value
    if q:
        params["q"] = f"%{q.strip()}%"
        contact = ""
        if _sees_contacts(user):
            digits = "".join(ch for ch in q if ch.isdigit())
            params["digits"] = f"%{digits}%" if len(digits) >= 4 else None
            contact = (" OR EXISTS (SELECT 1 FROM customer_contacts k WHERE k.customer_id = c.id AND "
                       "(k.name ILIKE %(q)s OR k.email ILIKE %(q)s OR "
                       " regexp_replace(coalesce(k.phone, ''), '[^0-9]', '', 'g') LIKE %(digits)s))")
        where.append(f"(c.id ILIKE %(q)s OR c.name ILIKE %(q)s{contact})")
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    rows = conn.execute(f"{_SELECT}{clause} ORDER BY c.id LIMIT %(limit)s OFFSET %(offset)s", params).fetchall()
    count = conn.execute(f"SELECT count(*) AS n FROM customers c{clause}", params).fetchone()["n"]
    return CustomersPublic(data=[CustomerPublic(**_public(r, user)) for r in rows], count=count)


def _card(conn, user: User, customer_id: str) -> CustomerCard:
    check(conn, user, Owned.CUSTOMER, customer_id)
    row = conn.execute(f"{_SELECT} WHERE c.id = %s", (customer_id,)).fetchone()
    if row is None:
        raise NotFound(f"customer {customer_id!r} does not exist")
    contacts = None
    if _sees_contacts(user):
        contacts = conn.execute("SELECT id, name, role, phone, email, active FROM customer_contacts "
                                "WHERE customer_id = %s ORDER BY NOT active, id", (customer_id,)).fetchall()
    sites = conn.execute("SELECT s.id, s.name, s.region, count(p.id) AS piles FROM sites s "
                         "LEFT JOIN piles p ON p.site_id = s.id WHERE s.customer_id = %s GROUP BY s.id ORDER BY s.id",
                         (customer_id,)).fetchall()
    open_now = conn.execute(
        "SELECT (SELECT count(*) FROM work_orders o JOIN piles p ON p.id = o.pile_id "
        "        JOIN sites s ON s.id = coalesce(o.site_id, p.site_id) "
        "        WHERE s.customer_id = %(id)s AND o.state NOT IN ('closed', 'cancelled')) AS open_work_orders, "
        "       (SELECT count(*) FROM requests WHERE customer_id = %(id)s "
        "        AND state IN ('new', 'open', 'waiting_customer')) AS open_requests, "
        "       (SELECT count(*) FROM complaints WHERE customer_id = %(id)s AND state <> 'closed') AS open_complaints",
        {"id": customer_id}).fetchone()
    return CustomerCard(**_public(row, user), **open_now, contacts=contacts, site_list=sites)


@router.get("/{customer_id}", summary="The customer card: tier, contacts, sites with their piles, what is open",
            description=_CONTACTS_NOTE)
@portal
def get_customer(conn: Conn, user: Reader, customer_id: str) -> CustomerCard:
    return _card(conn, user, customer_id)


def _may_set_tier(user: User, tier: CustomerTier | None, current: str | None) -> None:
    # The tier is the customer's service level: a commercial decision, not the desk's.
    if tier is not None and tier.value != current and "supervise" not in groups_of(user.role):
        raise Forbidden("tier: a customer's tier (its service level) is set by a supervisor or admin")


@router.post("", status_code=status.HTTP_201_CREATED, summary="Record a customer, with its first contacts",
             description="Audited (GET /customers/{id}/changes). 409 when the id is taken, 422 naming a field "
                         "(e.g. contacts[0].phone for a number that cannot be one).")
def create_customer(conn: Conn, user: Desk, policy: PolicyDep, body: CustomerCreate) -> CustomerCard:
    _may_set_tier(user, body.tier, CustomerTier.STANDARD.value)
    customers.create(conn, policy, body.id, name=body.name, tier=body.tier.value, actor=user.id,
                     contacts=tuple(customers.ContactDraft(**c.model_dump()) for c in body.contacts))
    return _card(conn, user, body.id)


@router.patch("/{customer_id}", summary="Change a customer's name or (supervisor, admin) tier; audited")
def update_customer(conn: Conn, user: Desk, customer_id: str, body: CustomerUpdate) -> CustomerCard:
    row = conn.execute("SELECT tier FROM customers WHERE id = %s", (customer_id,)).fetchone()
    if row is None:
        raise NotFound(f"customer {customer_id!r} does not exist")
    _may_set_tier(user, body.tier, row["tier"])
    customers.update(conn, customer_id, actor=user.id, name=body.name, tier=body.tier and body.tier.value)
    return _card(conn, user, customer_id)


@router.post("/{customer_id}/contacts", status_code=status.HTTP_201_CREATED,
             summary="Add a contact (phone stored as E.164, e-mail lower-cased); audited")
def add_contact(conn: Conn, user: Desk, policy: PolicyDep, customer_id: str, body: ContactCreate) -> ContactPublic:
    """422 naming phone or email when they cannot be one; 409 when another customer's contact
    has the e-mail address (a mail names one customer)."""
    return ContactPublic(**customers.add_contact(conn, policy, customer_id, customers.ContactDraft(**body.model_dump()),
                                                 actor=user.id))


@router.patch("/{customer_id}/contacts/{contact_id}", summary="Change a contact; audited with before and after")
def update_contact(conn: Conn, user: Desk, policy: PolicyDep, customer_id: str, contact_id: ContactId,
                   body: ContactUpdate) -> ContactPublic:
    given = body.model_dump(exclude_unset=True)
    for field in ("name", "active"):
        if field in given and given[field] is None:
            given.pop(field)
    return ContactPublic(**customers.update_contact(conn, policy, customer_id, contact_id, actor=user.id, **given))


@router.delete("/{customer_id}/contacts/{contact_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Deactivate a contact: it no longer matches calls or mail; its history stays; audited")
def remove_contact(conn: Conn, user: Desk, customer_id: str, contact_id: ContactId) -> Response:
    customers.deactivate_contact(conn, customer_id, contact_id, actor=user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{customer_id}/changes", dependencies=[Depends(require(*SUPERVISE))],
            summary="Every change of the customer record and its contacts: who, when, before and after")
def changes(conn: Conn, customer_id: str, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
            offset: Offset = 0) -> list[CustomerChange]:
    if conn.execute("SELECT 1 FROM customers WHERE id = %s", (customer_id,)).fetchone() is None:
        raise NotFound(f"customer {customer_id!r} does not exist")
    return [CustomerChange(**r) for r in conn.execute(
        "SELECT id, at, actor, action, contact_id, before, after FROM customer_changes WHERE customer_id = %s "
        "ORDER BY at, id LIMIT %s OFFSET %s", (customer_id, limit, offset)).fetchall()]


@router.get("/{customer_id}/history",
            summary="The customer's service history in time order: requests, work orders (those its piles opened "
                    "themselves too), service reports, complaints, follow-ups")
@portal
def customer_history(conn: Conn, user: Reader, customer_id: str, since: AwareDatetime | None = None,
                     limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> ServiceHistory:
    check(conn, user, Owned.CUSTOMER, customer_id)
    if conn.execute("SELECT 1 FROM customers WHERE id = %s", (customer_id,)).fetchone() is None:
        raise NotFound(f"customer {customer_id!r} does not exist")
    return history(conn, customer_id=customer_id, since=since, limit=limit)
