"""Master data over HTTP: the admin pages' API. Thin: each route validates with administration.validation,
writes through administration's services in one transaction (the audit row with before/after values commits
with the change), and maps domain errors to HTTP in one place.

Roles: admins write everything; dispatchers read technicians and edit their calendars (working pattern,
absences); everyone else gets 403. Invalid input answers 422 with ``detail: [{field, reason}]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, File, HTTPException, Request, UploadFile, status
from fastapi.responses import FileResponse, JSONResponse

from administration import (
    PAUSE_KINDS,
    TIERS,
    Actor,
    Conflict,
    FieldError,
    NotFound,
    Rejected,
    accounts,
    csv_import,
    service,
    validation,
)
from administration.reasons import field_error
from api.audit import client_ip
from api.auth import Principal, require_roles
from api.deps import Conn, in_pool
from api.routes.board import now_of

router = APIRouter(tags=["administration"])
STATIC = Path(__file__).resolve().parents[1] / "static"
Admin = Annotated[Principal, Depends(require_roles("admin"))]
Calendar = Annotated[Principal, Depends(require_roles("admin", "dispatcher"))]
# One upload holds five CSV files; the import itself bounds each file (csv_import.MAX_FILE_BYTES).
MAX_UPLOAD_FILES = 5
LIST_LIMIT = 5000
T = TypeVar("T")


def actor_of(principal: Principal, request: Request) -> Actor:
    return Actor(principal.username, principal.user_id, principal.role, client_ip(request))


def field_detail(e: FieldError) -> dict[str, Any]:
    """One 422 detail: the field, the English reason, and the reason as a catalogue message (``i18n``) that the
    admin page and the portal show in the reader's language (null where a reason has none)."""
    return {"field": e.field, "reason": e.message, "i18n": e.said.to_json() if e.said is not None else None}


def unprocessable(errors: list[FieldError]) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                         [field_detail(e) for e in errors])


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except Rejected as exc:
        raise unprocessable(exc.errors) from None
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


def _write(conn: Conn, request: Request, principal: Principal, step: Callable[[Actor, datetime], T]) -> T:
    """One admin write: ``step(actor, at)`` in one transaction (its audit row commits with it), committed before
    the answer, domain errors as HTTP (``_errors``). Every write route goes through here, so none can forget the
    commit or the error mapping."""
    with _errors(), conn.transaction():
        out = step(actor_of(principal, request), now_of(request))
    conn.commit()
    return out


def _valid(check: Callable[[dict[str, Any]], Any], body: dict[str, Any]) -> Any:
    result = check(body)
    if isinstance(result, list):
        raise unprocessable(result)
    return result


@router.get("/admin", include_in_schema=False)
def admin_page() -> FileResponse:
    return FileResponse(STATIC / "admin.html")


# --- SLA pause rules: tier defaults (a contract's own rules travel with the contract) ---------------------------

@router.get("/api/admin/sla-pause-rules")
def get_pause_rules(conn: Conn, principal: Admin) -> dict[str, Any]:
    """Each tier's default: whether a hold, a wait for parts or the customer's window stops the SLA clocks."""
    return {"kinds": list(PAUSE_KINDS), "tiers": service.pause_rules(conn)}


@router.put("/api/admin/sla-pause-rules/{tier}")
def put_pause_rules(tier: str, body: Annotated[dict[str, Any], Body()], request: Request, conn: Conn,
                    principal: Admin) -> JSONResponse:
    """``{"on_hold": "yes", "awaiting_parts": "no", ...}`` (any of the kinds; yes/no or true/false). A change
    applies to pauses that start afterwards; running pauses keep the rule they started under."""
    errors: list[FieldError] = []
    if tier not in TIERS:
        errors.append(field_error("tier", "unknownTier", value=tier, tiers=", ".join(TIERS)))
    rules = validation.tier_pause_rules(body)
    if isinstance(rules, list) or errors:
        raise unprocessable(errors + (rules if isinstance(rules, list) else []))
    after, changed = _write(conn, request, principal,
                            lambda actor, at: service.set_tier_pauses(conn, tier, rules, actor, at))
    return JSONResponse({"result": "updated" if changed else "unchanged", "tier": tier, "rules": after})


# --- lists ---------------------------------------------------------------------------------------------------------

@router.get("/api/admin/{entity}")
def listing(entity: str, request: Request, conn: Conn, principal: Calendar) -> list[dict[str, Any]]:
    """customers, sites, assets, devices, technicians, contracts, users (dispatchers: technicians only)."""
    if entity not in ("customers", "sites", "assets", "devices", "technicians", "contracts", "users"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such list")
    if principal.role != "admin" and entity != "technicians":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "role not allowed")
    return service.listing(conn, entity, now_of(request), limit=LIST_LIMIT)


# --- master data: upsert on the natural key ---------------------------------------------------------------------

def _put(conn: Conn, request: Request, principal: Principal, check: Callable[[dict[str, Any]], Any],
         upsert: Callable[..., Any], body: dict[str, Any]) -> JSONResponse:
    record = _valid(check, body)
    out = _write(conn, request, principal, lambda actor, at: upsert(conn, record, actor, at))
    code = status.HTTP_201_CREATED if out.result == "created" else status.HTTP_200_OK
    return JSONResponse({"result": out.result, "row": service._plain(out.row)}, status_code=code)


Fields = Annotated[dict[str, Any], Body(description="the CSV file's columns as JSON fields")]


@router.put("/api/admin/customers/{code}")
def put_customer(code: str, body: Fields, request: Request, conn: Conn, principal: Admin) -> JSONResponse:
    contacts = body.get("contacts")
    if contacts is not None and (not isinstance(contacts, list) or len(contacts) > 20 or not all(
            isinstance(c, dict) and all(isinstance(v, str) and len(v) <= 200 for v in c.values()) for c in contacts)):
        raise unprocessable([field_error("contacts", "contacts", max=20)])

    def check(b: dict[str, Any]) -> Any:
        c = validation.customer(b)
        if isinstance(c, list) or contacts is None:
            return c
        return replace(c, contacts=tuple(tuple(sorted(x.items())) for x in contacts))

    return _put(conn, request, principal, check, service.upsert_customer, {**body, "code": code})


@router.put("/api/admin/sites/{code}")
def put_site(code: str, body: Fields, request: Request, conn: Conn, principal: Admin) -> JSONResponse:
    return _put(conn, request, principal, validation.site, service.upsert_site, {**body, "code": code})


@router.put("/api/admin/assets/{serial}")
def put_asset(serial: str, body: Fields, request: Request, conn: Conn, principal: Admin) -> JSONResponse:
    return _put(conn, request, principal, validation.asset, service.upsert_asset, {**body, "serial": serial})


@router.put("/api/admin/technicians/{code}")
def put_technician(code: str, body: Fields, request: Request, conn: Conn, principal: Admin) -> JSONResponse:
    return _put(conn, request, principal, validation.technician, service.upsert_technician, {**body, "code": code})


@router.put("/api/admin/contracts/{code}")
def put_contract(code: str, body: Fields, request: Request, conn: Conn, principal: Admin) -> JSONResponse:
    return _put(conn, request, principal, validation.contract, service.upsert_contract, {**body, "code": code})


# --- technicians' calendars (admins and dispatchers) ---------------------------------------------------------------

@router.put("/api/admin/technicians/{code}/pattern")
def put_pattern(code: str, body: Annotated[dict[str, Any], Body()], request: Request, conn: Conn,
                principal: Calendar) -> dict[str, Any]:
    """The weekly working pattern with breaks: ``{"days": [{"weekday": 1, "start": "08:00", "end": "17:00",
    "breaks": [{"start": "12:00", "minutes": 30}]}, ...]}``."""
    days = validation.working_pattern(body.get("days"))
    if isinstance(days, list):
        raise unprocessable(days)
    row = _write(conn, request, principal, lambda actor, at: service.set_working_pattern(conn, code, days, actor, at))
    return service._plain(row)


@router.post("/api/admin/technicians/{code}/absences", status_code=status.HTTP_201_CREATED)
def add_absence(code: str, body: Annotated[dict[str, Any], Body()], request: Request, conn: Conn,
                principal: Calendar) -> dict[str, Any]:
    """An absence or holiday ``{kind, starts_at, ends_at, note}`` (ISO date-times with an offset)."""
    a = _valid(validation.absence, body)
    return _write(conn, request, principal,
                  lambda actor, at: service.add_absence(conn, code, a.kind, a.starts_at, a.ends_at, a.note, actor, at))


@router.delete("/api/admin/technicians/{code}/absences/{absence_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_absence(code: str, absence_id: int, request: Request, conn: Conn, principal: Calendar) -> None:
    _write(conn, request, principal, lambda actor, at: service.remove_absence(conn, code, absence_id, actor, at))


# --- devices: credentials shown once ------------------------------------------------------------------------------

@router.post("/api/admin/devices/{device}/provision")
def provision(device: str, request: Request, conn: Conn, principal: Admin) -> dict[str, Any]:
    """A new broker credential for the device (rotates an existing one). The password is in this answer only."""
    settings, device_id = request.app.state.settings, device
    password = _write(conn, request, principal,
                      lambda actor, at: accounts.provision_device(conn, settings, device_id, actor, at))
    return {"device_id": device_id, "username": device_id, "password": password, "mqtt_url": settings.mqtt_url,
            "topics": f"qf/v1/{device_id}/#"}


@router.post("/api/admin/devices/{device}/revoke")
def revoke(device: str, request: Request, conn: Conn, principal: Admin) -> dict[str, Any]:
    removed = _write(conn, request, principal,
                     lambda actor, at: accounts.revoke_device(conn, request.app.state.settings, device, actor, at))
    return {"device_id": device, "revoked": bool(removed)}


# --- users ---------------------------------------------------------------------------------------------------------

@router.post("/api/admin/users", status_code=status.HTTP_201_CREATED)
def create_user(body: Annotated[dict[str, Any], Body()], request: Request, conn: Conn,
                principal: Admin) -> dict[str, Any]:
    """Create an account; the first password (given, or generated) is in this answer only."""
    account = _valid(validation.user, body)
    password = body.get("password")
    if password is not None and not isinstance(password, str):
        raise unprocessable([field_error("password", "aText")])
    row, secret = _write(conn, request, principal,
                         lambda actor, at: accounts.create_user(conn, account, password or None, actor, at))
    return {"user": row, "password": secret}


@router.put("/api/admin/users/{username}")
def update_user(username: str, body: Annotated[dict[str, Any], Body()], request: Request, conn: Conn,
                principal: Admin) -> dict[str, Any]:
    account = _valid(validation.user, {**body, "username": username})
    return _write(conn, request, principal, lambda actor, at: accounts.update_user(conn, account, actor, at))


@router.post("/api/admin/users/{username}/disable")
def disable_user(username: str, request: Request, conn: Conn, principal: Admin) -> dict[str, Any]:
    return _write(conn, request, principal, lambda actor, at: accounts.set_disabled(conn, username, True, actor, at))


@router.post("/api/admin/users/{username}/enable")
def enable_user(username: str, request: Request, conn: Conn, principal: Admin) -> dict[str, Any]:
    return _write(conn, request, principal, lambda actor, at: accounts.set_disabled(conn, username, False, actor, at))


@router.post("/api/admin/users/{username}/reset-password")
def reset_password(username: str, request: Request, conn: Conn, principal: Admin) -> dict[str, Any]:
    secret = _write(conn, request, principal, lambda actor, at: accounts.reset_password(conn, username, actor, at))
    return {"username": username, "password": secret}


# --- bulk onboarding: the same code path as `quietfix import` -------------------------------------------------------

@router.post("/api/admin/import")
async def upload(request: Request, principal: Admin, files: Annotated[list[UploadFile], File()],
                 dry_run: bool = False) -> JSONResponse:
    """Upload customers.csv, sites.csv, assets.csv, technicians.csv, contracts.csv (any subset). 200 with the
    report when everything held (or would, in a dry run); 422 with the same report, nothing written, otherwise."""
    if len(files) > MAX_UPLOAD_FILES:
        raise unprocessable([field_error("files", "tooManyFiles", max=MAX_UPLOAD_FILES)])
    data: dict[str, bytes] = {}
    for f in files:
        name = Path(f.filename or "").name
        data[name] = await f.read(csv_import.MAX_FILE_BYTES + 1)
    actor, at = actor_of(principal, request), now_of(request)

    def run(conn: Any) -> Any:
        report = csv_import.run_import(conn, data, actor, at, dry_run=dry_run)
        conn.commit()
        return report

    report = await in_pool(request, run)
    return JSONResponse(report.as_json(), status_code=200 if report.ok else 422)
