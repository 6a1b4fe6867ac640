"""Replenishment that is acted on: suggestions become purchase orders and transfers, a person approves or
rejects each, and goods received go into the ledger (issue #16 item 4; table replenishment_orders, 0420).

Why orders and not just the advice: the advice (``service.replenishment``/``transfers``/``van_restock``) is
recomputed on every read, so nothing recorded who decided to buy what, and nothing ever reached the stock. Here
each suggestion becomes one order (at most one open per kind, route and SKU, so proposing twice is harmless):

* a depot's excess moved to a depot short of the part (``transfers``), then the warehouse's shelf sent to depots
  still short, then each van's nightly refill from its home depot (``van_restock``): **transfers**;
* what the warehouse cannot cover, and the warehouse's own reorder: **purchases** from the supplier.

Approving a transfer picks its shipment at once (the stock leaves the source and shows in transit at the
destination, so the next replenishment run sees it); receiving it delivers the shipment. Receiving a purchase
posts one ``receipt``. Every decision is audited in its own transaction (core/audit.py).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from core import audit
from core.audit import Actor
from core.clock import to_datetime
from core.settings import SparesSettings
from spares import service as flow
from spares.allocation import km, straight_line_s
from spares.errors import InvalidMovement, NotFound, OrderStateError
from spares.models import GeoPoint, ShipmentStatus
from spares.repository import SparesRepository
from spares.sourcing import courier_eta

DAY_S = 86_400.0


def _suggestions(conn: psycopg.Connection, now: float, s: SparesSettings) -> list[dict[str, Any]]:
    """(kind, from, to, sku, qty, basis) lines from the current advice, before de-duplication."""
    repo = SparesRepository(conn)
    rows = flow.replenishment(conn, now, s)
    locations = {int(r["id"]): r for r in repo.rows("list_locations", {"kind": None})}
    warehouses = [i for i, r in locations.items() if r["kind"] == "warehouse"]
    shelf = {(r["location_id"], r["sku"]): r["on_hand"] - r["reserved"] for r in rows}
    out: list[dict[str, Any]] = []
    covered: dict[tuple[int, str], int] = defaultdict(int)
    for t in flow.transfers(conn, now, s):  # depot excess first: already bought, nearest first
        covered[(t["to_location_id"], t["sku"])] += t["qty"]
        shelf[(t["from_location_id"], t["sku"])] = shelf.get((t["from_location_id"], t["sku"]), 0) - t["qty"]
        out.append({"kind": "transfer", "from": t["from_location_id"], "to": t["to_location_id"], "sku": t["sku"],
                    "qty": t["qty"], "basis": {"source": "depot excess", "distance_km": t["distance_km"]}})
    for r in rows:
        if r["kind"] not in ("depot", "warehouse") or r["order_qty"] <= 0:
            continue
        basis = {k: r[k] for k in ("position", "reorder_point", "base_stock", "mean_demand", "announced",
                                   "predicted")}
        need = r["order_qty"] - covered[(r["location_id"], r["sku"])]
        if r["kind"] == "depot" and warehouses and need > 0:
            here = locations[r["location_id"]]
            src = min(warehouses, key=lambda w: km(GeoPoint(here["lat"], here["lon"]),
                                                  GeoPoint(locations[w]["lat"], locations[w]["lon"])))
            qty = min(need, max(0, shelf.get((src, r["sku"]), 0)))
            if qty > 0:
                shelf[(src, r["sku"])] -= qty
                need -= qty
                out.append({"kind": "transfer", "from": src, "to": r["location_id"], "sku": r["sku"], "qty": qty,
                            "basis": {**basis, "source": "warehouse"}})
        if need > 0:  # nobody in the network can give it: buy it where it is needed
            out.append({"kind": "purchase", "from": None, "to": r["location_id"], "sku": r["sku"], "qty": need,
                        "basis": {**basis, "source": "supplier"}})
    for van in flow.van_restock(conn, now, s):
        for line in van["lines"]:
            out.append({"kind": "transfer", "from": line["from_location_id"], "to": van["van_location_id"],
                        "sku": line["sku"], "qty": line["qty"], "basis": {"source": "van refill"}})
    return out


def propose(conn: psycopg.Connection, now: float, actor: Actor,
            settings: SparesSettings | None = None) -> list[int]:
    """Turn the current advice into proposed orders (those not already open); returns the new order ids. The
    caller commits."""
    s = settings or SparesSettings()
    repo = SparesRepository(conn)
    open_keys = {(r["kind"], r["from_id"], r["to_location_id"], r["sku"]) for r in repo.rows("open_order_keys", {})}
    created: list[int] = []
    for line in _suggestions(conn, now, s):
        key = (line["kind"], line["from"] or 0, line["to"], line["sku"])
        if key in open_keys or line["qty"] <= 0:
            continue
        row = conn.execute(repo.q["insert_order"], {  # type: ignore[arg-type]
            "kind": line["kind"], "from_location_id": line["from"], "to_location_id": line["to"], "sku": line["sku"],
            "qty": int(line["qty"]), "basis": Jsonb(line["basis"]), "at": to_datetime(now), "by": actor.name,
        }).fetchone()
        if row is None:
            continue  # proposed concurrently by someone else
        open_keys.add(key)
        created.append(int(row[0]))
        audit.record(conn, actor, "spares.order.propose", "replenishment_order", str(row[0]),
                     {"kind": line["kind"], "from_location_id": line["from"], "to_location_id": line["to"],
                      "sku": line["sku"], "qty": int(line["qty"])}, at=to_datetime(now))
    return created


def _lock(conn: psycopg.Connection, order_id: int) -> dict[str, Any]:
    rows = SparesRepository(conn).rows("lock_order", {"id": order_id})
    if not rows:
        raise NotFound(f"no replenishment order {order_id}")
    return rows[0]


def _transfer_eta(conn: psycopg.Connection, src: int, dst: int, now: float, s: SparesSettings) -> float:
    """The warehouse restocks depots on its lead time (what the replenishment targets assume); between depots
    and to vans it is a courier run (same-day cut-off and driving time)."""
    repo = SparesRepository(conn)
    a, b = repo.rows("location", {"id": src})[0], repo.rows("location", {"id": dst})[0]
    if a["kind"] == "warehouse":
        return now + s.depot_lead_time_days * DAY_S
    eta, _cost, _same_day = courier_eta(flow.courier_lane(s), GeoPoint(a["lat"], a["lon"]),
                                        GeoPoint(b["lat"], b["lon"]), now, straight_line_s(s.road_factor, s.speed_kmh))
    return eta


def decide(conn: psycopg.Connection, order_id: int, approve: bool, now: float, actor: Actor,
           settings: SparesSettings | None = None) -> dict[str, Any]:
    """Approve or reject a proposed order. Approving a transfer picks its shipment (InsufficientStock when the
    source no longer has the units: nothing changes). The caller commits."""
    s = settings or SparesSettings()
    o = _lock(conn, order_id)
    if o["status"] != "proposed":
        raise OrderStateError(f"order {order_id} is {o['status']}, not proposed")
    shipment_id = None
    if approve and o["kind"] == "transfer":
        repo = SparesRepository(conn)
        sh = repo.plan_shipment(o["sku"], o["qty"], o["from_location_id"], now,
                                _transfer_eta(conn, o["from_location_id"], o["to_location_id"], now, s),
                                to_location_id=o["to_location_id"])
        repo.advance_shipment(sh.id, ShipmentStatus.PICKED, now)
        shipment_id = sh.id
    status = "approved" if approve else "rejected"
    conn.execute(SparesRepository(conn).q["decide_order"], {  # type: ignore[arg-type]
        "id": order_id, "status": status, "at": to_datetime(now), "by": actor.name, "shipment_id": shipment_id})
    audit.record(conn, actor, f"spares.order.{'approve' if approve else 'reject'}", "replenishment_order",
                 str(order_id), {"kind": o["kind"], "sku": o["sku"], "qty": o["qty"], "shipment_id": shipment_id},
                 at=to_datetime(now))
    return order(conn, order_id)


def receive(conn: psycopg.Connection, order_id: int, now: float, actor: Actor, qty: int | None = None) -> dict[str, Any]:
    """Goods in for an approved order: a purchase posts one receipt of ``qty`` (default: as ordered; a short or
    over delivery is recorded as it came); a transfer delivers its shipment, whole. The caller commits."""
    o = _lock(conn, order_id)
    if o["status"] != "approved":
        raise OrderStateError(f"order {order_id} is {o['status']}, not approved")
    got = o["qty"] if qty is None else qty
    if got <= 0:
        raise InvalidMovement("received quantity must be positive")
    repo = SparesRepository(conn)
    if o["kind"] == "purchase":
        repo.receive(o["to_location_id"], o["sku"], got, now, note=f"replenishment order {order_id}")
    else:
        if got != o["qty"]:
            raise InvalidMovement("a transfer is received whole (its shipment carries the ordered quantity)")
        repo.advance_shipment(o["shipment_id"], ShipmentStatus.IN_TRANSIT, now)
        repo.advance_shipment(o["shipment_id"], ShipmentStatus.DELIVERED, now)
    conn.execute(repo.q["receive_order"], {"id": order_id, "at": to_datetime(now), "by": actor.name,  # type: ignore[arg-type]
                                           "qty": got})
    audit.record(conn, actor, "spares.order.receive", "replenishment_order", str(order_id),
                 {"kind": o["kind"], "sku": o["sku"], "to_location_id": o["to_location_id"], "qty": got},
                 at=to_datetime(now))
    return order(conn, order_id)


def orders(conn: psycopg.Connection, status: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    return SparesRepository(conn).rows("list_orders", {"status": status, "id": None, "limit": limit})


def order(conn: psycopg.Connection, order_id: int) -> dict[str, Any]:
    rows = SparesRepository(conn).rows("list_orders", {"status": None, "id": order_id, "limit": 1})
    if not rows:
        raise NotFound(f"no replenishment order {order_id}")
    return rows[0]
