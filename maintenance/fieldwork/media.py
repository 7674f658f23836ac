"""Photos and the customer's signature taken on the job (R-REPORT): checked by decoding them
(the phone's content type and file name are never trusted), kept in PostgreSQL with the
order, and shown with the service report.
"""
from __future__ import annotations

import base64
import binascii
import io
from enum import Enum

import psycopg
from PIL import Image, UnidentifiedImageError

from maintenance.fieldwork.holding import held_order, require_state
from maintenance.orders import WorkOrderState as S
from maintenance.orders import note
from pilecare.errors import Conflict, InvalidInput, PayloadTooLarge


class PhotoStage(str, Enum):
    """When on the job a photo was taken (R-REPORT: the state found and the work done)."""

    BEFORE = "before"
    AFTER = "after"


MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PHOTOS = 20
MAX_SIGNATURE_BYTES = 256 * 1024
# A phone camera takes up to ~50 megapixels; past that a small file is a decompression bomb
# (a few KiB of PNG that decodes to gigabytes), refused before it is decoded.
MAX_PIXELS = 50_000_000
SIGNATURE_PREFIX = "data:image/png;base64,"

# What Pillow finds when it decodes the file → the content type the server stores and serves.
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

# Photos are taken and signatures drawn while the engineer holds the order: from accepting
# it (a "before" photo on arrival) until it is verified. Resolved is included so a phone that
# was offline can still send what it took before completing; a verified, closed or
# cancelled order takes nothing more.
MEDIA_STATES = (S.ACCEPTED, S.EN_ROUTE, S.ON_SITE, S.RESOLVED)

PHOTO_FIELDS = ["id", "order_id", "stage", "content_type", "bytes", "width", "height", "caption", "taken_by",
                "created_at", "superseded_at"]


def decode(data: bytes, field: str, *, allowed: tuple[str, ...] = tuple(CONTENT_TYPES)) -> tuple[str, int, int]:
    """(content type, width, height) of an image, found by decoding it whole with Pillow.

    Raises InvalidInput naming `field` when it is not a JPEG, PNG or WebP (or not one of
    `allowed`), is truncated or corrupt, or has more than MAX_PIXELS pixels."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            if kind not in allowed:
                raise InvalidInput(f"{field}: a {kind or 'file of unknown type'} image; send "
                                   + " or ".join(a if a != "WEBP" else "WebP" for a in allowed))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise InvalidInput(f"{field}: {width} × {height} pixels is more than a photo needs "
                                   f"(at most {MAX_PIXELS // 1_000_000} megapixels)")
            image.load()  # the whole picture, so a truncated or corrupt file is refused now
    except InvalidInput:
        raise
    except UnidentifiedImageError:
        # Pillow's own message names its in-memory file object ("<_io.BytesIO object at 0x…>").
        raise InvalidInput(f"{field}: not a readable image (no JPEG, PNG or WebP could be decoded)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise InvalidInput(f"{field}: not a readable image ({error})") from None
    return CONTENT_TYPES[kind], width, height


def add_photo(conn: psycopg.Connection, order_id: int, engineer_id: str | None, *, data: bytes, stage: PhotoStage,
              caption: str | None, actor: str) -> dict:
    """Keep a photo of the job; returns its metadata (PHOTO_FIELDS).

    Only on an order the engineer holds (NotFound otherwise) while it is under way
    (MEDIA_STATES; Conflict otherwise). Refused: more than MAX_PHOTO_BYTES (PayloadTooLarge,
    413), not a JPEG, PNG or WebP when decoded (InvalidInput), the order holding MAX_PHOTOS
    already (Conflict). The timeline says "photo added (before)" with who and when."""
    state, _, _, _, _ = held_order(conn, order_id, engineer_id)
    require_state(order_id, state, *MEDIA_STATES)
    if len(data) > MAX_PHOTO_BYTES:
        raise PayloadTooLarge(f"file: over {MAX_PHOTO_BYTES // (1024 * 1024)} MiB; a photo may be at most "
                              f"{MAX_PHOTO_BYTES // (1024 * 1024)} MiB (send it smaller, e.g. 2048 px wide)")
    if not data:
        raise InvalidInput("file: empty; send the photo")
    content_type, width, height = decode(data, "file")
    with conn.transaction():
        # The order's row lock makes the count and the insert one step for concurrent uploads.
        conn.execute("SELECT 1 FROM work_orders WHERE id = %s FOR UPDATE", (order_id,))
        count = conn.execute("SELECT count(*) FROM work_order_photos WHERE order_id = %s AND superseded_at IS NULL",
                             (order_id,)).fetchone()[0]
        if count >= MAX_PHOTOS:
            raise Conflict(f"work order {order_id} has {count} photos of this visit already; a visit keeps at most "
                           f"{MAX_PHOTOS}")
        row = conn.execute(
            "INSERT INTO work_order_photos (order_id, stage, content_type, image, bytes, width, height, caption, "
            f"taken_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {', '.join(PHOTO_FIELDS)}",
            (order_id, stage.value, content_type, data, len(data), width, height, caption or None, actor)).fetchone()
        note(conn, order_id, f"photo added ({stage.value})" + (f": {caption}" if caption else ""), actor=actor)
    return dict(zip(PHOTO_FIELDS, row))


def photos(conn: psycopg.Connection, order_id: int) -> list[dict]:
    """The order's photos' metadata (PHOTO_FIELDS), oldest first, every visit's: an earlier
    visit's have `superseded_at` set (the visit's mark, as on its report)."""
    return [dict(zip(PHOTO_FIELDS, r)) for r in conn.execute(
        f"SELECT {', '.join(PHOTO_FIELDS)} FROM work_order_photos WHERE order_id = %s ORDER BY id",
        (order_id,)).fetchall()]


def photo(conn: psycopg.Connection, order_id: int, photo_id: int) -> tuple[str, bytes] | None:
    """(content type, image bytes) of one of the order's photos; None if it has no such photo."""
    row = conn.execute("SELECT content_type, image FROM work_order_photos WHERE order_id = %s AND id = %s",
                       (order_id, photo_id)).fetchone()
    return (row[0], bytes(row[1])) if row else None


def sign(conn: psycopg.Connection, order_id: int, engineer_id: str | None, *, image: str, signer_name: str,
         actor: str) -> dict:
    """Keep the customer's drawn signature: {order_id, signer_name, signed_at, bytes}.

    `image` is a data URL, "data:image/png;base64,…", of a PNG of at most
    MAX_SIGNATURE_BYTES decoded (PayloadTooLarge, 413, beyond; InvalidInput naming `image`
    when it is not a base64 PNG that decodes). One per order: a new one replaces the
    earlier, and the timeline says so. Same holding and states as `add_photo`."""
    state, _, _, _, _ = held_order(conn, order_id, engineer_id)
    require_state(order_id, state, *MEDIA_STATES)
    if not image.startswith(SIGNATURE_PREFIX):
        raise InvalidInput(f"image: a data URL starting {SIGNATURE_PREFIX!r} (a PNG, base64)")
    encoded = image[len(SIGNATURE_PREFIX):]
    if len(encoded) > (MAX_SIGNATURE_BYTES + 2) // 3 * 4 + 4:
        raise PayloadTooLarge(f"image: more than {MAX_SIGNATURE_BYTES // 1024} KiB decoded; a signature is small")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("image: not valid base64 after the data URL's comma") from None
    if len(data) > MAX_SIGNATURE_BYTES:
        raise PayloadTooLarge(f"image: {len(data)} bytes decoded; a signature may be at most "
                              f"{MAX_SIGNATURE_BYTES // 1024} KiB")
    if not data:
        raise InvalidInput("image: empty; send the drawn signature")
    decode(data, "image", allowed=("PNG",))
    with conn.transaction():
        earlier = conn.execute("SELECT signer_name FROM work_order_signatures WHERE order_id = %s "
                               "AND superseded_at IS NULL FOR UPDATE",
                               (order_id,)).fetchone()
        row = conn.execute(
            "INSERT INTO work_order_signatures (order_id, signer_name, image, bytes, signed_by) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (order_id) WHERE superseded_at IS NULL DO UPDATE SET signer_name = excluded.signer_name, "
            "image = excluded.image, bytes = excluded.bytes, signed_by = excluded.signed_by, signed_at = now() "
            "RETURNING order_id, signer_name, signed_at, bytes",
            (order_id, signer_name, data, len(data), actor)).fetchone()
        note(conn, order_id, f"customer signature by {signer_name}"
                             + (f" (replaces the one by {earlier[0]})" if earlier else ""), actor=actor)
    return dict(zip(["order_id", "signer_name", "signed_at", "bytes"], row))


def signature(conn: psycopg.Connection, order_id: int) -> dict | None:
    """{signer_name, signed_at} of the signature of the order's current visit; None when it
    has none (an earlier visit's signature never signs off a reopened order's new report)."""
    row = conn.execute("SELECT signer_name, signed_at FROM work_order_signatures WHERE order_id = %s "
                       "AND superseded_at IS NULL", (order_id,)).fetchone()
    return {"signer_name": row[0], "signed_at": row[1]} if row else None


def earlier_signatures(conn: psycopg.Connection, order_id: int) -> dict:
    """{superseded_at: {signer_name, signed_at}} of the order's earlier visits' signatures."""
    return {r[0]: {"signer_name": r[1], "signed_at": r[2]} for r in conn.execute(
        "SELECT superseded_at, signer_name, signed_at FROM work_order_signatures WHERE order_id = %s "
        "AND superseded_at IS NOT NULL", (order_id,))}


def signature_image(conn: psycopg.Connection, order_id: int) -> bytes | None:
    """The order's signature as PNG bytes; None when it has none."""
    row = conn.execute("SELECT image FROM work_order_signatures WHERE order_id = %s AND superseded_at IS NULL",
                       (order_id,)).fetchone()
    return bytes(row[0]) if row else None
