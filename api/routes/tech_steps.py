"""The technician's newer lifecycle steps (issue #15 item 3, #16 item 6), kept apart from technician.py.

* the structured completion (fault mode found, fix code from a list) checked before the visit closes;
* the customer's sign-off (name + drawn signature) and the scoped signature image;
* unused parts back to a depot;
* the read side the phone needs: fix codes and fault modes per equipment type, and what each job adds (visit
  number and the earlier visit, travel / on-site minutes, sign-off, parts left to return, nearby depots).

Every step runs inside ``technician.act``'s transaction, after its action id was recorded, so an offline replay
of the same tap is answered from ``technician_actions`` and never applied twice. Domain errors become 422 with
the field and the reason (409 for a visit already signed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import Response

from api.auth import Principal, require_roles
from api.deps import Conn
from api.schemas import TechAction
from core import audit
from diagnostics import repository as kb_repo
from diagnostics.knowledge import load_knowledge
from dispatch import outcomes, parts_return, signoff, visit_history
from spares.allocation import parse_parts_used

router = APIRouter(tags=["technician"])
FieldUser = Annotated[Principal, Depends(require_roles("technician", "admin", "dispatcher"))]
SignatureViewer = Annotated[Principal, Depends(require_roles("technician", "admin", "dispatcher", "customer"))]


def unprocessable(field: str, reason: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{"field": field, "reason": reason}])


def fault_modes(conn: Conn) -> dict[str, list[str]]:
    """Equipment type -> the knowledge base's fault modes (the shipped seed until the table is seeded)."""
    doc = kb_repo.knowledge_doc(conn)
    kb = load_knowledge(doc if doc["equipment"] else None)
    out: dict[str, list[str]] = {}
    for eq, mode in sorted(kb):
        out.setdefault(eq, []).append(mode)
    return out


@router.get("/api/tech/fix-codes")
def fix_codes(conn: Conn, _: FieldUser) -> dict[str, Any]:
    """``{fix_codes: [{code, label, fault_modes}], fault_modes: {equipment_type: [mode, ...]}}``: the lists the
    completion form chooses from (the phone caches them for offline use)."""
    return {"fix_codes": outcomes.fix_codes(conn), "fault_modes": fault_modes(conn)}


def check_completion(conn: Conn, work_order_id: int, body: TechAction) -> None:
    """422 before anything is written when the structured outcome names something not on the lists."""
    if body.fix_code is None and body.fault_mode is None:
        return
    eq = conn.execute("SELECT d.equipment_type FROM work_orders w JOIN devices d ON d.id = w.device_id "
                      "WHERE w.id = %s", (work_order_id,)).fetchone()
    known = fault_modes(conn).get(eq[0] if eq else "", [])
    try:
        outcomes.check_outcome(conn, fix_code=body.fix_code, fault_mode=body.fault_mode, known_modes=known)
    except outcomes.OutcomeError as exc:
        raise unprocessable(exc.field, exc.reason) from None


def sign_off(conn: Conn, tid: int, work_order_id: int, body: TechAction, at: datetime, actor: audit.Actor) -> bool:
    try:
        return signoff.record_signoff(conn, work_order_id, tid, signer_name=body.signer_name,
                                      signature=body.signature or "", at=at, actor=actor)
    except signoff.SignoffError as exc:
        raise unprocessable(exc.field, exc.reason) from None
    except signoff.AlreadySigned:
        raise HTTPException(status.HTTP_409_CONFLICT, "this visit is already signed off") from None


def return_parts(conn: Conn, tid: int, work_order_id: int, body: TechAction, at: datetime,
                 actor: audit.Actor) -> bool:
    parts = parse_parts_used(body.parts_used)
    if body.parts_used and not parts:
        raise unprocessable("parts_used", "write each part as SKU or SKU x2")
    try:
        return bool(parts_return.return_to_depot(conn, work_order_id, tid, parts, body.depot_id, at, actor))
    except parts_return.ReturnRefused as exc:
        raise unprocessable(exc.field, exc.reason) from None


def enrich_jobs(conn: Conn, rows: list[dict[str, Any]], now: datetime) -> None:
    """What the phone shows beside each job: visits, times, sign-off, parts to return and where."""
    ids = [int(r["id"]) for r in rows]
    visit_history.annotate(conn, rows, now)
    signed = signoff.signoffs_of(conn, ids)
    left = parts_return.returnable(conn, ids)
    for r in rows:
        r["signoff"] = signed.get(int(r["id"]))
        r["returnable"] = [{"sku": k, "qty": v} for k, v in sorted(left.get(int(r["id"]), {}).items())]
        r["return_depots"] = parts_return.depots_near(conn, r["lat"], r["lon"]) if r["returnable"] else []


@router.get("/api/work-orders/{work_order_id}/signoff.png", responses={200: {"content": {"image/png": {}}}})
def signature_png(work_order_id: int, conn: Conn, principal: SignatureViewer) -> Response:
    """The customer's drawn signature: staff, the visit's technician and the visit's customer; 404 otherwise."""
    found = signoff.signature_image(conn, work_order_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no sign-off")
    png, customer_id, technician_id = found
    allowed = (principal.sees_everything
               or (principal.role == "customer" and principal.customer_id == customer_id)
               or (principal.role == "technician" and principal.technician_id is not None
                   and str(principal.technician_id) == technician_id))
    if not allowed:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no sign-off")
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600",
                                                          "X-Content-Type-Options": "nosniff"})
