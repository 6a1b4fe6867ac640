"""The customer's sign-off on the technician's phone: a name and a signature drawn on the screen.

Why a module of its own: the signature is untrusted bytes from a phone. It arrives as a PNG data URL (the
canvas's ``toDataURL("image/png")``), is checked here (format, size, dimensions) and stored apart from the
timeline, which only points at it. SVG is refused on purpose: an SVG is a document that can carry script, and a
signature is shown to staff and customers; a PNG is only pixels.

One sign-off per visit: a replay of the same tap is answered by the action id (api/routes/technician.py); a
second, different signature for an already signed visit is refused (:class:`AlreadySigned`), never overwritten.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from core import audit
from core.events import record_timeline
from core.sql import Queries
from i18n import Message

Q = Queries(__file__, "signoff.sql")
PREFIX = "data:image/png;base64,"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_BYTES = 64 * 1024  # a 600x240 two-colour signature compresses to a few KB; 64 KB leaves room, bounds abuse
MAX_WIDTH, MAX_HEIGHT = 1600, 800
MAX_NAME = 120
# The data URL as sent: base64 makes 4 characters of 3 bytes.
MAX_DATA_URL_CHARS = len(PREFIX) + (MAX_BYTES + 2) // 3 * 4
SIGNABLE = ("on_site", "completed")  # the customer signs at the end of the visit, before or after "Job done"


class SignoffError(ValueError):
    """Bad sign-off input; ``field`` names what was wrong (the API answers 422 with it)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class AlreadySigned(Exception):
    """The visit already has a sign-off (a second one is refused, not overwritten)."""


@dataclass(frozen=True)
class Signature:
    png: bytes
    width: int
    height: int


def parse_signature(data_url: str) -> Signature:
    """The PNG inside a ``data:image/png;base64,...`` URL, checked; raises SignoffError."""
    if not isinstance(data_url, str) or not data_url.startswith(PREFIX):
        raise SignoffError("signature", "must be a PNG data URL (data:image/png;base64,...)")
    if len(data_url) > MAX_DATA_URL_CHARS:
        raise SignoffError("signature", f"larger than {MAX_BYTES // 1024} KB")
    try:
        png = base64.b64decode(data_url[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise SignoffError("signature", "not valid base64") from None
    if len(png) > MAX_BYTES:
        raise SignoffError("signature", f"larger than {MAX_BYTES // 1024} KB")
    # Signature, then the IHDR chunk first (length 13): width and height as big-endian unsigned ints.
    if len(png) < 67 or png[:8] != PNG_MAGIC or png[12:16] != b"IHDR":
        raise SignoffError("signature", "not a PNG image")
    width, height = struct.unpack(">II", png[16:24])
    if not (0 < width <= MAX_WIDTH and 0 < height <= MAX_HEIGHT):
        raise SignoffError("signature", f"image must be at most {MAX_WIDTH}x{MAX_HEIGHT} pixels")
    if png[-12:-8] != b"\x00\x00\x00\x00" or png[-8:-4] != b"IEND":
        raise SignoffError("signature", "PNG image is truncated")
    return Signature(png, width, height)


def clean_name(name: str | None) -> str:
    text = " ".join((name or "").split())
    if not text:
        raise SignoffError("signer_name", "the customer's name is required")
    if len(text) > MAX_NAME:
        raise SignoffError("signer_name", f"at most {MAX_NAME} characters")
    return text


def record_signoff(conn: psycopg.Connection, work_order_id: int, technician_id: int, *, signer_name: str | None,
                   signature: str, at: datetime, actor: audit.Actor) -> bool:
    """Store the sign-off of a visit on site or just completed; timeline and audit in the caller's transaction.

    Returns False when the visit is not in a signable state (not started, cancelled, someone else's). Raises
    SignoffError on bad input and AlreadySigned when the visit is signed already."""
    name = clean_name(signer_name)
    sig = parse_signature(signature)
    with conn.cursor(row_factory=dict_row) as cur:
        wo = cur.execute(Q.signable_work_order, {"work_order_id": work_order_id, "tid": technician_id}).fetchone()
        if wo is None or wo["status"] not in SIGNABLE:
            return False
        row = cur.execute(Q.insert_signoff, {"work_order_id": work_order_id, "name": name, "image": sig.png,
                                             "width": sig.width, "height": sig.height, "at": at,
                                             "tid": technician_id}).fetchone()
    if row is None:
        raise AlreadySigned(f"work order {work_order_id} is already signed off")
    record_timeline(conn, customer_id=wo["customer_id"], device_id=wo["device_id"], at=at,
                    kind="customer_signed_off", message=Message("summary.signedOff", {"name": name}),
                    incident_id=wo["incident_id"], work_order_id=work_order_id,
                    data={"signer_name": name, "signature_url": signature_url(work_order_id),
                          "bytes": len(sig.png)})
    audit.record(conn, actor, "work_order.signed_off", "work_order", str(work_order_id),
                 {"signer_name": name, "bytes": len(sig.png), "width": sig.width, "height": sig.height}, at=at)
    return True


def signature_url(work_order_id: int) -> str:
    return f"/api/work-orders/{work_order_id}/signoff.png"


def signoffs_of(conn: psycopg.Connection, work_order_ids: list[int]) -> dict[int, dict[str, object]]:
    """Work order -> {signer_name, signed_at, signature_url} for the job lists (no image bytes)."""
    if not work_order_ids:
        return {}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(Q.signoffs_of, {"ids": work_order_ids}).fetchall()
    return {int(r["work_order_id"]): {"signer_name": r["signer_name"], "signed_at": r["signed_at"],
                                      "signature_url": signature_url(int(r["work_order_id"]))} for r in rows}


def signature_image(conn: psycopg.Connection, work_order_id: int) -> tuple[bytes, int, str | None] | None:
    """(PNG bytes, customer id, technician id) of a signed visit, for the scoped image route."""
    row = conn.execute(Q.signature_image, {"work_order_id": work_order_id}).fetchone()
    if row is None:
        return None
    return bytes(row[0]), int(row[1]), (str(row[2]) if row[2] is not None else None)
