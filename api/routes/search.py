"""One search box for the console: piles, sites and customers by id, serial, name or
address. Never returns customers' contact details: every office role may search."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.auth import OFFICE, require
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


class SearchResults(BaseModel):
    piles: list[PileHit]
    sites: list[SiteHit]
    customers: list[CustomerHit]


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
_CUSTOMERS = """
SELECT id, name, tier FROM customers WHERE id ILIKE %(any)s OR name ILIKE %(any)s
ORDER BY NOT (id ILIKE %(start)s OR name ILIKE %(start)s), id LIMIT %(limit)s
"""


@router.get("", summary="Piles, sites and customers matching the text (case-insensitive, anywhere in "
                        "id, serial, name or address; prefix matches first)")
def search(
    conn: Conn,
    q: Annotated[str, Query(min_length=1, max_length=100, description="the text to find")],
    limit: Annotated[int, Query(ge=1, le=100, description="at most this many of each kind")] = 10,
) -> SearchResults:
    contains, starts = _like(q.strip() or q)
    params = {"any": contains, "start": starts, "limit": limit}
    return SearchResults(
        piles=conn.execute(_PILES, params).fetchall(),
        sites=conn.execute(_SITES, params).fetchall(),
        customers=conn.execute(_CUSTOMERS, params).fetchall(),
    )
