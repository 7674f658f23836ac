"""One search box for the console: piles, sites and customers by id, serial, name or
address, customers also by their contact's name or phone; work orders by number or title;
engineers by id, name or phone. Never returns contact details: every office role may search.
Only the roles that see contact details (docs/roles.md) find customers by them: for a viewer,
a hit on a contact's name or phone would tell the details, a few letters or digits at a time."""
from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.auth import CONTACTS, OFFICE, Role, User, require
from api.deps import Conn

router = APIRouter(prefix="/search", tags=["search"], dependencies=[Depends(require(*OFFICE))])


class PileHit(BaseModel):
    id: str
    serial: str
    site_id: str
    site_name: str
    customer_name: str


class SiteHit(BaseModel):
    id: str
    name: str
    address: str | None
    region: str
    customer_name: str


class CustomerHit(BaseModel):
    id: str
    name: str
    tier: str


class WorkOrderHit(BaseModel):
    id: int
    title: str
    state: str
    pile_id: str


class EngineerHit(BaseModel):
    id: str
    name: str
    regions: list[str]


class SearchResults(BaseModel):
    piles: list[PileHit]
    sites: list[SiteHit]
    customers: list[CustomerHit]
    work_orders: list[WorkOrderHit] = []
    engineers: list[EngineerHit] = []


def _like(q: str) -> tuple[str, str]:
    """Patterns for "contains" and "starts with", with LIKE's wildcards taken literally."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%", f"{escaped}%"


# Prefix matches first (typing the start of an id or name), then the rest, each by id.
_PILES = """
SELECT p.id, p.serial, p.site_id, s.name AS site_name, c.name AS customer_name
FROM piles p JOIN sites s ON s.id = p.site_id JOIN customers c ON c.id = s.customer_id
WHERE p.id ILIKE %(any)s OR p.serial ILIKE %(any)s
ORDER BY NOT (p.id ILIKE %(start)s OR p.serial ILIKE %(start)s), p.id LIMIT %(limit)s
"""
_SITES = """
SELECT s.id, s.name, s.address, s.region, c.name AS customer_name
FROM sites s JOIN customers c ON c.id = s.customer_id
WHERE s.id ILIKE %(any)s OR s.name ILIKE %(any)s OR s.address ILIKE %(any)s
ORDER BY NOT (s.id ILIKE %(start)s OR s.name ILIKE %(start)s), s.id LIMIT %(limit)s
"""
# A caller gives a name or a number: customers are found by their contact's name or phone too
# (issue 12, item 7), the hit naming the customer only. A phone matches on its digits, so
# "030 1234567" finds "+49 30 1234567": the query's digits without leading zeros (a national
# trunk prefix or "00"), at least 5 of them, anywhere in the stored number's digits.
_CUSTOMERS = """
SELECT id, name, tier FROM customers
WHERE id ILIKE %(any)s OR name ILIKE %(any)s OR (%(contacts)s AND contact_name ILIKE %(any)s)
   OR (%(contacts)s AND %(phone)s::text IS NOT NULL
       AND regexp_replace(coalesce(contact_phone, ''), '[^0-9]', '', 'g') LIKE %(phone)s)
ORDER BY NOT (id ILIKE %(start)s OR name ILIKE %(start)s), id LIMIT %(limit)s
"""


# "216" or "#216" is an order number; other text matches titles, newest first.
_WORK_ORDERS = """
SELECT id, title, state, pile_id FROM work_orders
WHERE id = %(number)s OR title ILIKE %(any)s
ORDER BY id = %(number)s DESC, id DESC LIMIT %(limit)s
"""
_ENGINEERS = """
SELECT id, name, regions FROM engineers WHERE id ILIKE %(any)s OR name ILIKE %(any)s
   OR (%(phone)s::text IS NOT NULL AND regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g') LIKE %(phone)s)
ORDER BY NOT (id ILIKE %(start)s OR name ILIKE %(start)s), id LIMIT %(limit)s
"""


@router.get("", summary="Piles, sites and customers matching the text (case-insensitive, anywhere in "
                        "id, serial, name or address; prefix matches first)")
def search(
    conn: Conn,
    user: Annotated[User, Depends(require(*OFFICE))],
    q: Annotated[str, Query(min_length=1, max_length=100, description="the text to find")],
    limit: Annotated[int, Query(ge=1, le=100, description="at most this many of each kind")] = 10,
) -> SearchResults:
    contains, starts = _like(q.strip() or q)
    digits = q.strip().lstrip("#")
    number = int(digits) if digits.isdigit() and len(digits) < 18 else None
    dialled = re.sub(r"[^0-9]", "", q).lstrip("0")
    phone = f"%{dialled}%" if len(dialled) >= 5 and re.fullmatch(r"[+0-9 ()./-]+", q.strip()) else None
    params = {"any": contains, "start": starts, "limit": limit, "number": number, "phone": phone,
              "contacts": user.role in CONTACTS or user.role is Role.ADMIN}
    return SearchResults(
        piles=conn.execute(_PILES, params).fetchall(),
        sites=conn.execute(_SITES, params).fetchall(),
        customers=conn.execute(_CUSTOMERS, params).fetchall(),
        work_orders=conn.execute(_WORK_ORDERS, params).fetchall(),
        engineers=conn.execute(_ENGINEERS, params).fetchall(),
    )
