"""Finding who is calling or writing: phone numbers normalised with `phonenumbers` (E.164),
e-mail addresses compared lower-cased, matched to a customer's contact (R-INFO, R-INTAKE)."""
from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr

import phonenumbers
import psycopg
from psycopg.rows import tuple_row

from pilecare.errors import InvalidInput


@dataclass(frozen=True)
class Match:
    customer_id: str
    contact_id: int | None


def normalise_phone(raw: str, region: str = "DE", *, field: str = "phone") -> str:
    """`raw` as E.164 ("+493012345678"); a national number is read in `region` (ISO 3166
    alpha-2). Raises InvalidInput naming `field` for text that is not a possible number."""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as error:
        raise InvalidInput(f"{field}: {raw!r} is not a phone number ({error})") from None
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidInput(f"{field}: {raw!r} is not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str, *, field: str = "email") -> str:
    """The bare address of `raw` ("Jana <Jana@Metro.example>" → "jana@metro.example").
    Raises InvalidInput naming `field` when there is no address."""
    address = parseaddr(raw or "")[1].strip().lower()
    if "@" not in address or address.startswith("@") or address.endswith("@"):
        raise InvalidInput(f"{field}: {raw!r} is not an e-mail address")
    return address


def by_phone(conn: psycopg.Connection, e164: str) -> Match | None:
    """The active contact with this number (the most recently updated, if several)."""
    row = conn.cursor(row_factory=tuple_row).execute(
        "SELECT customer_id, id FROM customer_contacts WHERE phone = %s AND active ORDER BY updated_at DESC LIMIT 1",
        (e164,)).fetchone()
    return Match(*row) if row else None


def by_email(conn: psycopg.Connection, address: str) -> Match | None:
    """The active contact with this address; else a customer whose domain is the
    address's (a colleague not yet recorded as a contact: customer known, contact not)."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute("SELECT customer_id, id FROM customer_contacts WHERE lower(email) = %s AND active "
                      "ORDER BY updated_at DESC LIMIT 1", (address.lower(),)).fetchone()
    if row:
        return Match(*row)
    domain = address.rpartition("@")[2].lower()
    # The domain literally: "_" and "%" in it are not LIKE's wildcards (else x@metr_.example were metro's).
    literal = domain.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = cur.execute("SELECT DISTINCT customer_id FROM customer_contacts WHERE active AND lower(email) LIKE %s "
                       "LIMIT 2", (f"%@{literal}",)).fetchall()
    # Only an unambiguous domain names the customer (a shared mail provider names nobody).
    return Match(rows[0][0], None) if len(rows) == 1 else None
