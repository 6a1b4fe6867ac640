"""Service KPIs over the last days: the KPI page, ``GET /api/kpis`` and its CSV export (kpis package).

Staff (admin, dispatcher) see every slice and the technicians' idle-while-waiting; a customer sees only their
own incidents and answers (the slice is forced to their customer id); other roles get 403.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response

from api.auth import Principal, require_roles
from api.deps import in_pool
from api.routes.board import now_of
from kpis import MAX_DAYS, Promise, Report, report, to_csv

router = APIRouter(tags=["kpis"])
STATIC = Path(__file__).resolve().parents[1] / "static"
KpiReader = Annotated[Principal, Depends(require_roles("admin", "dispatcher", "customer"))]


@router.get("/kpis", include_in_schema=False)
def kpi_page() -> FileResponse:
    return FileResponse(STATIC / "kpis.html")


def _promise(request: Request) -> Promise:
    return Promise.of(request.app.state.settings.service)


async def _report(request: Request, principal: Principal, days: int, by: str, at: datetime | None) -> Report:
    now = now_of(request)
    if at is not None:
        if at.tzinfo is None:
            raise HTTPException(422, "at needs a time zone, e.g. ...Z")
        if at > now:
            raise HTTPException(422, "at is in the future: nothing is known yet")
        now = at
    customer_id = None if principal.sees_everything else principal.customer_id
    if customer_id is not None:
        by = "customer"
    tz = ZoneInfo(request.app.state.settings.org.timezone)  # "today" is the organisation's day
    promise = _promise(request)
    return await in_pool(request, lambda conn: report(conn, now=now, promise=promise, tz=tz, days=days,
                                                       by=by, customer_id=customer_id))  # type: ignore[arg-type]


Days = Annotated[int, Query(ge=1, le=MAX_DAYS, description="days back from today (the organisation's day, setting org.timezone), today included")]
By = Annotated[Literal["all", "region", "tier", "customer"], Query(description="one row per day and this slice")]
At = Annotated[datetime | None, Query(description="compute as of this instant (ISO 8601 with zone; ≤ now)")]


@router.get("/api/kpis")
async def kpis(request: Request, principal: KpiReader, days: Days = 30, by: By = "all",
               at: At = None) -> dict[str, Any]:
    """KPIs per day (the organisation's, org.timezone) and slice, and a summary over the whole window; definitions in docs/kpis.md. Each rate
    is met / judged (``counts``); null = nothing judged yet."""
    rep = await _report(request, principal, days, by, at)
    p = rep.promise
    return {"now": rep.now, "by": rep.by, "rows": rep.rows, "summary": rep.summary,
            "timezone": request.app.state.settings.org.timezone,  # the zone of the days (org.timezone)
            "promise": {"response_min": p.response_min, "onsite_min": p.onsite_min, "repair_h": p.repair_h}}


@router.get("/api/kpis.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "one line per day and slice"}})
async def kpis_csv(request: Request, principal: KpiReader, days: Days = 30, by: By = "all",
                   at: At = None) -> Response:
    rep = await _report(request, principal, days, by, at)
    name = f"quietfix-kpis-{rep.now:%Y%m%d}-{rep.by}.csv"
    return Response(to_csv(rep), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
