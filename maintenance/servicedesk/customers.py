"""Customer records and their contacts (R-INFO): create and change a customer (name, tier),
add, change and deactivate its contacts. Phone numbers are kept as E.164 and e-mail
addresses lower-cased (contacts.py), so a call or a mail finds its contact.

Every change is audited in customer_changes with who, when, and the record before and
after (R-INFO: customer data is protected against tampering); a change that changes
nothing is not recorded. A contact is never deleted, only deactivated: requests and audit
rows keep pointing at it.

The first active contact is mirrored into customers.contact_name/phone/email, the single
contact older readers (the engineer's job card, search) know.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from maintenance.policy import Policy
from maintenance.servicedesk.contacts import normalise_email, normalise_phone
from pilecare.domain import CustomerTier
from pilecare.errors import Conflict, InvalidInput, NotFound

_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_CUSTOMER = "id, name, tier"
_CONTACT = "id, customer_id, name, role, phone, email, active"


@dataclass(frozen=True)
class ContactDraft:
    """A contact as given (phone and e-mail as typed: normalised here)."""

    name: str
    role: str | None = None
    phone: str | None = None
    email: str | None = None


def _audit(conn: psycopg.Connection, customer_id: str, actor: str, action: str, before: dict | None,
           after: dict | None, contact_id: int | None = None) -> None:
    conn.execute("INSERT INTO customer_changes (actor, customer_id, contact_id, action, before, after) "
                 "VALUES (%s, %s, %s, %s, %s, %s)",
                 (actor, customer_id, contact_id, action, before and Jsonb(before), after and Jsonb(after)))


def _name(value: str, field: str) -> str:
    value = (value or "").strip()
    if not 1 <= len(value) <= 200:
        raise InvalidInput(f"{field}: 1 to 200 characters")
    return value


def _tier(value: str) -> str:
    try:
        return CustomerTier(value).value
    except ValueError:
        raise InvalidInput(f"tier: {value!r} is not one of {', '.join(t.value for t in CustomerTier)}") from None


def create(conn: psycopg.Connection, policy: Policy, customer_id: str, *, name: str, actor: str,
           tier: str = CustomerTier.STANDARD.value, contacts: tuple[ContactDraft, ...] = ()) -> dict:
    """Record a new customer and its first contacts; returns the customer {id, name, tier}.

    Audited as `created`, then `contact_added` per contact. Raises Conflict when the id is
    taken, InvalidInput naming the field (name, tier, contacts[i].phone, …)."""
    if not _ID.match(customer_id or ""):
        raise InvalidInput(f"id: {customer_id!r} is not a customer id (1 to 64 letters, digits, '.', '_', '-')")
    name, tier = _name(name, "name"), _tier(tier)
    with conn.transaction():
        row = conn.cursor(row_factory=dict_row).execute(
            f"INSERT INTO customers (id, name, tier) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING "
            f"RETURNING {_CUSTOMER}", (customer_id, name, tier)).fetchone()
        if row is None:
            raise Conflict(f"id: customer {customer_id!r} exists already")
        _audit(conn, customer_id, actor, "created", None, row)
        for i, draft in enumerate(contacts):
            _insert_contact(conn, policy, customer_id, draft, actor, field=f"contacts[{i}].")
        _mirror(conn, customer_id)
    return row


def update(conn: psycopg.Connection, customer_id: str, *, actor: str, name: str | None = None,
           tier: str | None = None) -> dict:
    """Change a customer's name and/or tier (None: as it is); returns {id, name, tier}.

    A new tier sets the clocks of requests from now on (requests keep the tier they came
    with). Audited as `updated` with the record before and after. Raises NotFound, InvalidInput."""
    changes = {}
    if name is not None:
        changes["name"] = _name(name, "name")
    if tier is not None:
        changes["tier"] = _tier(tier)
    cur = conn.cursor(row_factory=dict_row)
    with conn.transaction():
        before = cur.execute(f"SELECT {_CUSTOMER} FROM customers WHERE id = %s FOR UPDATE", (customer_id,)).fetchone()
        if before is None:
            raise NotFound(f"customer {customer_id!r} does not exist")
        after = before | changes
        if after != before:
            cur.execute(f"UPDATE customers SET {', '.join(f'{k} = %({k})s' for k in changes)} WHERE id = %(id)s",
                        changes | {"id": customer_id})
            _audit(conn, customer_id, actor, "updated", before, after)
    return after


def _normalised(policy: Policy, field: str, phone: str | None, email: str | None) -> tuple[str | None, str | None]:
    return (normalise_phone(phone, policy.desk.phone_region, field=f"{field}phone") if phone else None,
            normalise_email(email, field=f"{field}email") if email else None)


def _check_email(conn: psycopg.Connection, customer_id: str, email: str | None, field: str) -> None:
    # A mail is joined to the customer of the contact with its address: one address shared by
    # two customers would put one customer's request (and its portal view) with the other.
    if email is None:
        return
    # Two desks adding the same address to two customers at once: one waits for the other.
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('contact-email:' || %s))", (email,))
    if conn.execute("SELECT 1 FROM customer_contacts WHERE lower(email) = %s AND active AND customer_id <> %s",
                    (email, customer_id)).fetchone() is not None:
        raise Conflict(f"{field}email: {email} is the address of a contact of another customer; one address "
                       "names one customer")


def _adopt_legacy(conn: psycopg.Connection, customer_id: str) -> None:
    # A customer registered straight into customers (a fleet import) has its one contact only
    # there; it becomes the first contact row before the rows change, as migration 0034 did
    # for the customers it found, so the mirror below never wipes it.
    row = conn.cursor(row_factory=dict_row).execute(
        f"INSERT INTO customer_contacts (customer_id, name, phone, email) "
        f"SELECT id, contact_name, contact_phone, lower(contact_email) FROM customers "
        f"WHERE id = %(id)s AND contact_name IS NOT NULL "
        f"AND NOT EXISTS (SELECT 1 FROM customer_contacts WHERE customer_id = %(id)s) RETURNING {_CONTACT}",
        {"id": customer_id}).fetchone()
    if row is not None:
        _audit(conn, customer_id, "pilecare", "contact_added", None, _snapshot(row), contact_id=row["id"])


def _insert_contact(conn: psycopg.Connection, policy: Policy, customer_id: str, draft: ContactDraft, actor: str,
                    field: str = "") -> dict:
    phone, email = _normalised(policy, field, draft.phone, draft.email)
    _check_email(conn, customer_id, email, field)
    row = conn.cursor(row_factory=dict_row).execute(
        f"INSERT INTO customer_contacts (customer_id, name, role, phone, email) VALUES (%s, %s, %s, %s, %s) "
        f"RETURNING {_CONTACT}",
        (customer_id, _name(draft.name, f"{field}name"), (draft.role or "").strip() or None, phone, email)).fetchone()
    _audit(conn, customer_id, actor, "contact_added", None, _snapshot(row), contact_id=row["id"])
    return row


def add_contact(conn: psycopg.Connection, policy: Policy, customer_id: str, draft: ContactDraft, *,
                actor: str) -> dict:
    """Add a contact; returns it {id, customer_id, name, role, phone (E.164), email, active}.

    The phone is read in policy.desk.phone_region when it has no +country code. Audited as
    `contact_added`. Raises NotFound for an unknown customer, InvalidInput naming the field,
    Conflict for an e-mail address another customer's contact has."""
    with conn.transaction():
        if conn.execute("SELECT 1 FROM customers WHERE id = %s FOR UPDATE", (customer_id,)).fetchone() is None:
            raise NotFound(f"customer {customer_id!r} does not exist")
        _adopt_legacy(conn, customer_id)
        row = _insert_contact(conn, policy, customer_id, draft, actor)
        _mirror(conn, customer_id)
    return row


_UNSET = object()


def update_contact(conn: psycopg.Connection, policy: Policy, customer_id: str, contact_id: int, *, actor: str,
                   name: str | None = None, role: object = _UNSET, phone: object = _UNSET, email: object = _UNSET,
                   active: bool | None = None) -> dict:
    """Change a contact; `role`, `phone` and `email` may be set to None to clear them, left
    out to keep them. Returns the contact. Audited as `contact_updated` (`contact_removed`
    when it deactivates it). Raises NotFound (also for a contact of another customer),
    InvalidInput naming the field, Conflict as add_contact."""
    changes: dict = {}
    if name is not None:
        changes["name"] = _name(name, "name")
    if role is not _UNSET:
        changes["role"] = (role or "").strip() or None
    if phone is not _UNSET:
        changes["phone"] = _normalised(policy, "", phone, None)[0]
    if email is not _UNSET:
        changes["email"] = _normalised(policy, "", None, email)[1]
    if active is not None:
        changes["active"] = active
    cur = conn.cursor(row_factory=dict_row)
    with conn.transaction():
        conn.execute("SELECT 1 FROM customers WHERE id = %s FOR UPDATE", (customer_id,))
        before = cur.execute(f"SELECT {_CONTACT} FROM customer_contacts WHERE id = %s AND customer_id = %s FOR UPDATE",
                             (contact_id, customer_id)).fetchone()
        if before is None:
            raise NotFound(f"contact {contact_id} of customer {customer_id!r} does not exist")
        after = before | changes
        if after["active"]:
            _check_email(conn, customer_id, after["email"], "")
        if after != before:
            cur.execute(f"UPDATE customer_contacts SET {', '.join(f'{k} = %({k})s' for k in changes)}, "
                        "updated_at = now() WHERE id = %(id)s", changes | {"id": contact_id})
            action = "contact_removed" if before["active"] and not after["active"] else "contact_updated"
            _audit(conn, customer_id, actor, action, _snapshot(before), _snapshot(after), contact_id=contact_id)
            _mirror(conn, customer_id)
    return after


def deactivate_contact(conn: psycopg.Connection, customer_id: str, contact_id: int, *, actor: str) -> dict:
    """Deactivate a contact (it no longer matches calls or mail; its history stays).
    Audited as `contact_removed`; deactivating an inactive contact changes nothing. Raises NotFound."""
    cur = conn.cursor(row_factory=dict_row)
    with conn.transaction():
        conn.execute("SELECT 1 FROM customers WHERE id = %s FOR UPDATE", (customer_id,))
        before = cur.execute(f"SELECT {_CONTACT} FROM customer_contacts WHERE id = %s AND customer_id = %s FOR UPDATE",
                             (contact_id, customer_id)).fetchone()
        if before is None:
            raise NotFound(f"contact {contact_id} of customer {customer_id!r} does not exist")
        after = before | {"active": False}
        if before["active"]:
            cur.execute("UPDATE customer_contacts SET active = false, updated_at = now() WHERE id = %s", (contact_id,))
            _audit(conn, customer_id, actor, "contact_removed", _snapshot(before), _snapshot(after),
                   contact_id=contact_id)
            _mirror(conn, customer_id)
    return after


def _snapshot(contact: dict) -> dict:
    return {k: contact[k] for k in ("id", "name", "role", "phone", "email", "active")}


def _mirror(conn: psycopg.Connection, customer_id: str) -> None:
    # The single contact on customers is what the engineer's job card and search read; no
    # active contact leaves it empty.
    conn.execute("UPDATE customers SET (contact_name, contact_phone, contact_email) = "
                 "(SELECT name, phone, email FROM customer_contacts WHERE customer_id = %(id)s AND active "
                 " ORDER BY id LIMIT 1) WHERE id = %(id)s", {"id": customer_id})
