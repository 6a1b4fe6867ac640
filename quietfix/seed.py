"""Demo and test data: a service region's customers, sites, assets, technicians, contracts and users.

The world is generated from a seed (every demo run and every test sees the same region) as the CSV files a
service organisation hands ``quietfix import`` (issue #15), and loaded through that same import
(administration.csv_import.run_import: validated, all-or-nothing, audited). What the import does not cover is
then added the way the admin API adds it: the demo's users (administration.accounts), contract terms beyond the
CSV columns (inspections, parts, warranties: planning), the region the forecast groups by, and the stock
(``seed_spares``). ``demo_files`` returns the files themselves (``quietfix seed-files DIR`` writes them).

The region is Shanghai (the organisations quietfix is built for are Chinese): a 20 km x 20 km square over the
city's central districts, every site and technician in Asia/Shanghai. Every third customer and technician has a
Chinese name and language zh-CN (issue #21); the others are foreign-invested plants working in English.
"""

from __future__ import annotations

import random
import time as walltime
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg

from api.auth import hash_password

# A 20 km x 20 km service region around People's Square. The longitude span is the old Rotterdam region's
# (0.29 deg at 51.9 N) scaled by cos(latitude), so distances (and so the demo's KPIs) are those of the old region.
CENTER = (31.23, 121.47)
SPAN_DEG = (0.18, 0.209)
REGION = "shanghai"
TIMEZONE = "Asia/Shanghai"

EQUIPMENT = ("pump", "chiller", "compressor")
TIERS = ("key", "gold", "standard", "standard", "bronze")
# Field technicians in this trade are multi-skilled. The earlier sets left instrumentation to 2 technicians of 12 and
# mechanical+electrical to 4, while a quarter of the knowledge base's visits need each (2-3 h jobs): in `quietfix
# demo` those queued for hours behind each other while the other technicians were free, so the 2-hour promise
# could not be kept whatever the dispatcher did (issue #14). Now every skill pair the knowledge base asks for is
# held by at least a third of the technicians.
SKILL_SETS = (("mechanical", "electrical"), ("mechanical", "electrical", "instrumentation"),
              ("refrigeration", "electrical", "mechanical"), ("refrigeration", "mechanical"),
              ("electrical", "instrumentation", "mechanical"), ("mechanical", "electrical", "refrigeration"))
# Local development password for every seeded user; `quietfix demo` prints it. Never used in production seeds.
DEMO_PASSWORD = "quietfix-demo"
CHINESE_EVERY = 3  # customers and technicians 2, 5, 8, ... are Chinese (zh-CN); the first stays English
CHINESE_CUSTOMERS = ("上海浦江精密机械有限公司", "上海申达冷链物流有限公司", "上海华东制药设备有限公司",
                     "上海宝通压缩机服务有限公司", "上海东方水务科技有限公司", "上海金桥食品工业有限公司",
                     "上海长江化工有限公司", "上海明珠电子制造有限公司")
CHINESE_TECHNICIANS = ("王伟", "李娜", "张强", "刘洋", "陈静", "杨磊", "赵敏", "黄勇")
# Where a site stands (quadrant around the centre): the district and a street of it, in Chinese and in English.
DISTRICTS = {(True, False): ("普陀区", "真北路", "Putuo District", "Zhenbei Rd"),
             (True, True): ("杨浦区", "军工路", "Yangpu District", "Jungong Rd"),
             (False, False): ("徐汇区", "漕宝路", "Xuhui District", "Caobao Rd"),
             (False, True): ("浦东新区", "张江路", "Pudong New Area", "Zhangjiang Rd")}
ROOM_ZH = {"pump": "泵房", "chiller": "冷水机房", "compressor": "空压机房"}


@dataclass(frozen=True)
class SeededDevice:
    device_id: str
    equipment_type: str
    customer_id: int
    lat: float
    lon: float


def _point(rng: random.Random) -> tuple[float, float]:
    return (CENTER[0] + rng.uniform(-SPAN_DEG[0], SPAN_DEG[0]) / 2,
            CENTER[1] + rng.uniform(-SPAN_DEG[1], SPAN_DEG[1]) / 2)


def _chinese(i: int) -> bool:
    return i % CHINESE_EVERY == 1


def _address(lat: float, lon: float, n: int, chinese: bool) -> str:
    zh, street_zh, en, street_en = DISTRICTS[(lat >= CENTER[0], lon >= CENTER[1])]
    return f"上海市{zh}{street_zh}{n}号" if chinese else f"No. {n} {street_en}, {en}, Shanghai"


# Contract per customer tier: coverage hours (as import writes them), then the terms import has no column for
# (planning): parts included, inspection interval in days.
CONTRACT_TERMS = {
    "key": ("24x7", True, 90),
    "gold": ("Mon-Sat 06:00-22:00", False, 180),
    "standard": ("Mon-Fri 07:00-19:00", False, 365),
    "bronze": ("Mon-Fri 08:00-17:00", False, None),
}
CONTRACTS_FROM = date(2024, 1, 1)  # seeded contracts run open-ended from here


@dataclass(frozen=True)
class DemoWorld:
    """The generated region: the import files, and what the seed adds after the import."""

    files: dict[str, bytes]
    customers: list[dict]  # code, name, tier, language, lat, lon
    devices: list[tuple[str, str, str]]  # device id, equipment type, customer code
    technicians: list[dict]  # code, language


def demo_world(*, devices: int = 60, technicians: int = 12, seed: int = 7, id_prefix: str = "") -> DemoWorld:
    """The demo region as import files. The random draws are those of the region seeded before the import
    existed (customers' points, then the devices', then the technicians'), so the world is the same one."""
    from administration.csv_import import render

    rng = random.Random(seed)
    n_customers = max(1, devices // 3)
    customers, contracts = [], []
    for i in range(n_customers):
        lat, lon = _point(rng)
        tier = TIERS[i % len(TIERS)]
        zh = _chinese(i)
        code = f"C{i + 1:05d}"
        customers.append({"code": code, "tier": tier, "lat": lat, "lon": lon, "language": "zh-CN" if zh else "en",
                          "name": CHINESE_CUSTOMERS[(i // CHINESE_EVERY) % len(CHINESE_CUSTOMERS)] if zh
                          else f"Customer {i + 1:03d}",
                          "email": f"ops{i + 1:03d}@customer.example", "phone": f"+86 21 5{i + 1:03d} 8800",
                          "timezone": TIMEZONE})
        contracts.append({"code": f"SC-{i + 1:05d}", "customer_code": code, "tier": tier,
                          "coverage": CONTRACT_TERMS[tier][0], "starts_on": CONTRACTS_FROM.isoformat()})
    sites: list[dict[str, str]] = []
    assets: list[dict[str, str]] = []
    out: list[tuple[str, str, str]] = []
    for i in range(devices):
        c = customers[i % n_customers]
        eq = EQUIPMENT[i % len(EQUIPMENT)]
        device_id = f"{id_prefix}{eq}-{i + 1:04d}"
        lat, lon = _point(rng)
        zh = c["language"] == "zh-CN"
        sites.append({"code": f"S-{device_id}", "customer_code": str(c["code"]), "lat": f"{lat:.6f}", "lon": f"{lon:.6f}",
                      "name": f"{ROOM_ZH[eq]} {i + 1:04d}" if zh else f"{eq.title()} room {i + 1:04d}",
                      "address": _address(lat, lon, 10 + i * 7, zh), "access_hours": "24x7"})
        # The model column names the device on the board ("Pump 0001"), as the demo always did.
        assets.append({"serial": f"SN-{device_id}", "site_code": f"S-{device_id}", "equipment_type": eq,
                       "model": f"{eq.title()} {i + 1:04d}", "installed_on": "2022-03-01", "device_id": device_id})
        out.append((device_id, eq, str(c["code"])))
    techs = []
    for i in range(technicians):
        lat, lon = _point(rng)
        zh = _chinese(i)
        techs.append({"code": f"T{i + 1:02d}", "language": "zh-CN" if zh else "en",
                      "name": CHINESE_TECHNICIANS[(i // CHINESE_EVERY) % len(CHINESE_TECHNICIANS)] if zh
                      else f"Technician {i + 1:02d}", "email": f"tech{i + 1:02d}@service.example",
                      "skills": ";".join(SKILL_SETS[i % len(SKILL_SETS)]), "home_lat": f"{lat:.6f}",
                      "home_lon": f"{lon:.6f}", "shift": "24x7", "timezone": TIMEZONE})
    files = {"customers.csv": render("customers", customers), "sites.csv": render("sites", sites),
             "assets.csv": render("assets", assets), "technicians.csv": render("technicians", techs, ("language",)),
             "contracts.csv": render("contracts", contracts)}
    return DemoWorld(files, customers, out, techs)


def seed(conn: psycopg.Connection, *, devices: int = 60, technicians: int = 12, seed: int = 7,
         users: bool = True, id_prefix: str = "", spares: bool = False) -> list[SeededDevice]:
    """Import the region's files, then add what import does not cover; the caller commits. Returns the devices
    for the fleet simulator.

    ``id_prefix`` makes device ids unique on a broker shared with other runs (tests use it); ``spares`` also
    stocks the region (``seed_spares``)."""
    from administration import Actor
    from administration.csv_import import run_import

    world = demo_world(devices=devices, technicians=technicians, seed=seed, id_prefix=id_prefix)
    at = datetime.now(UTC)
    actor = Actor("seed")
    report = run_import(conn, world.files, actor, at)
    if report.errors:  # the generator's own files: a bug here, not bad input
        raise RuntimeError(f"the demo's import files do not import: {report.errors[:3]}")
    ids = {str(r[0]): int(r[1]) for r in conn.execute("SELECT code, id FROM customers")}
    with conn.cursor() as cur:
        # The forecast and KPIs group by region, and the customer's map pin is its head office; neither is an
        # import column (a single-region organisation leaves them at their defaults).
        cur.executemany("UPDATE customers SET region = %s, lat = %s, lon = %s WHERE code = %s",
                        [(REGION, c["lat"], c["lon"], c["code"]) for c in world.customers])
        conn.execute("UPDATE devices SET region = %s WHERE id = ANY(%s)", (REGION, [d for d, _, _ in world.devices]))
        cur.executemany("UPDATE technicians SET region = %s WHERE code = %s",
                        [(REGION, t["code"]) for t in world.technicians])
    located = {str(r[0]): (float(r[1]), float(r[2])) for r in
               conn.execute("SELECT id, lat, lon FROM devices WHERE id = ANY(%s)", ([d for d, _, _ in world.devices],))}
    out = [SeededDevice(d, eq, ids[c], *located[d]) for d, eq, c in world.devices]
    tech_ids = [int(r[0]) for r in conn.execute("SELECT id FROM technicians WHERE code = ANY(%s) ORDER BY id",
                                                ([t["code"] for t in world.technicians],))]
    seed_contracts(conn, [ids[c["code"]] for c in world.customers], out)
    if users:
        _seed_users(conn, world, actor, at)
    if spares:
        seed_spares(conn, tech_ids, seed=seed)
    return out


def _seed_users(conn: psycopg.Connection, world: DemoWorld, actor: object, at: datetime) -> None:
    """The demo's accounts, created as the admin page creates them (audited), all with the demo password."""
    from administration import accounts
    from administration.models import UserAccount

    hashed = hash_password(DEMO_PASSWORD)
    rows = [UserAccount(u, u, None, None, None, "en", TIMEZONE)
            for u in ("admin", "dispatcher", "support", "engineering")]  # support/engineering: tiers 2 and 3
    rows += [UserAccount(f"tech{i + 1:02d}", "technician", None, t["code"], None, t["language"], TIMEZONE)
             for i, t in enumerate(world.technicians)]
    rows += [UserAccount(f"customer{i + 1:03d}", "customer", c["code"], None, None, c["language"], TIMEZONE)
             for i, c in enumerate(world.customers)]
    for a in rows:
        accounts.create_user(conn, a, DEMO_PASSWORD, actor, at, password_hash=hashed)  # type: ignore[arg-type]


# Stock of the demo region: the central warehouse holds plenty, each depot a few of every part, and each van a
# random handful of the parts the knowledge base names (so some jobs are served from the van, some need a depot
# pick-up, and the odd one a courier).
WAREHOUSE_UNITS, DEPOT_UNITS, VAN_SHARE = 20, 3, 0.4


def seed_spares(conn: psycopg.Connection, technician_ids: list[int], *, seed: int = 7) -> None:
    """Catalogue (every SKU of the diagnostics knowledge base), a warehouse, two depots and one van per technician,
    stocked through the ledger. Replaces any previous spares data (the demo starts from a clean region)."""
    from diagnostics.knowledge import load_knowledge
    from spares.models import EquipmentType, GeoPoint, LocationKind, Part
    from spares.repository import SparesRepository

    rng = random.Random(seed + 1)
    conn.execute("TRUNCATE spares_alerts, stock_ledger, reservations, shipments, stock_levels, stock_locations, "
                 "parts RESTART IDENTITY CASCADE")
    fits: dict[str, set[str]] = {}
    for (equipment, _), entry in load_knowledge().items():
        for part in entry.parts:
            fits.setdefault(part.sku, set()).add(equipment)
    repo = SparesRepository(conn)
    for sku in sorted(fits):
        repo.add_part(Part(sku, sku.replace("-", " ").title(), frozenset(EquipmentType(e) for e in fits[sku]),
                           round(rng.uniform(15, 400), 2), round(rng.uniform(0.1, 4.0), 2)))
    at = walltime.time()
    lat, lon = CENTER
    warehouse = repo.add_location(LocationKind.WAREHOUSE, "Central warehouse",
                                  GeoPoint(lat - SPAN_DEG[0] / 2, lon + SPAN_DEG[1] / 2)).id
    depots = [repo.add_location(LocationKind.DEPOT, name, GeoPoint(lat + dlat, lon + dlon)).id
              for name, dlat, dlon in (("Depot North", 0.05, -0.04), ("Depot South", -0.05, 0.04))]
    for sku in sorted(fits):
        repo.receive(warehouse, sku, WAREHOUSE_UNITS, at, note="seed")
        for depot in depots:
            repo.receive(depot, sku, DEPOT_UNITS, at, note="seed")
    for tid in technician_ids:
        row = conn.execute("SELECT code, home_lat, home_lon FROM technicians WHERE id = %s", (tid,)).fetchone()
        assert row is not None
        van = repo.add_location(LocationKind.VAN, f"Van {row[0]}", GeoPoint(row[1], row[2]), tid).id
        for sku in sorted(fits):
            if rng.random() < VAN_SHARE:
                repo.receive(van, sku, 1, at, note="seed")


def seed_contracts(conn: psycopg.Connection, customer_ids: list[int], devices: list[SeededDevice]) -> None:
    """The terms the import has no column for, on the imported customer-wide contracts (parts included,
    inspection schedule), plus an asset-level warranty contract on every fourth asset (same SLA tier: the
    warranty changes what is billable, not the clocks), written by planning as its contract API does."""
    # quietfix is the composition root: it may import planning
    from planning.repository import insert_contract, set_contract_terms

    tiers = {int(r[0]): r[1] for r in conn.execute("SELECT id, tier FROM customers WHERE id = ANY(%s)",
                                                   (customer_ids,))}
    for n, customer_id in enumerate(customer_ids):
        _, parts, every = CONTRACT_TERMS[tiers[customer_id]]
        set_contract_terms(conn, customer_id=customer_id, parts_included=parts, inspection_interval_days=every,
                           last_inspection_on=CONTRACTS_FROM + timedelta(days=7 * n) if every else None)
    for i, d in enumerate(devices):
        if i % 4 == 3:
            row = conn.execute("SELECT coverage_days, coverage_start, coverage_end::text FROM contracts "
                               "WHERE customer_id = %s AND device_id IS NULL ORDER BY id LIMIT 1",
                               (d.customer_id,)).fetchone()
            assert row is not None
            insert_contract(conn, code=f"WR-{d.device_id}", customer_id=d.customer_id, device_id=d.device_id,
                            name="Manufacturer warranty", sla_tier=tiers[d.customer_id],
                            coverage_days=tuple(row[0]), coverage_start=row[1], coverage_end=row[2],
                            starts_on=CONTRACTS_FROM, warranty_until=date(2027, 12, 31), parts_included=True)


def reset(conn: psycopg.Connection) -> None:
    """Empty the operational tables (the demo starts from a clean region each run). Telemetry is stored in
    ``telemetry_samples`` (``telemetry`` is a view over it since migration 0110).

    Also every piece of state a previous run leaves behind that would change what the next run does (issue #19):
    diagnose's progress cursor and detector checkpoints, the normal models trained on the previous run's data,
    dispatch plans, spares reservations and shipments, rollups, clock-fault readings and operational alarms.
    The previous run's simulated clock may have ended hours ahead of this one's; nothing here may remember it.
    RESTART IDENTITY also restarts ``ingest_arrival_seq`` (owned by ``ingest_batches.arrival``).
    """
    conn.execute("TRUNCATE users, notifications, timeline_events, work_orders, incidents, technicians, "
                 "telemetry_samples, telemetry_latest, ingest_batches, dead_letters, devices, customers, "
                 "diagnose_progress, detector_state, diagnose_leases, diagnose_workers, diagnose_repairs, "
                 "normal_models, knowledge_feedback, rul_estimates, remote_fix_attempts, plans, plan_stops, "
                 "plan_drops, reservations, shipments, telemetry_1m, telemetry_1h, rollup_dirty, telemetry_clock_faults, ops_alarms "
                 "RESTART IDENTITY CASCADE")
