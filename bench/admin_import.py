"""How long `quietfix import` takes for an organisation of a given size: first import, re-import (nothing
changes) and a dry run, on the real database (a scratch database it creates and drops).

N customers, each with one site, ``--assets-per-site`` assets (each with a device) and one contract; N/10
technicians. Names mix Latin and Chinese script. Run: ``python -m bench.admin_import --customers 1000``.
Prints how it ran; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from datetime import UTC, datetime

from administration import Actor, csv_import
from core.db import connect, drop_database, ensure_database
from core.migrate import migrate
from core.settings import load_settings

NAMES = ("Acme Pumps", "华东制冷", "Nordkälte", "Bomba Sul", "東京冷機", "Van Dijk Techniek")


def files(customers: int, assets_per_site: int, seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    c = ["code,name,tier,email,phone,language,timezone"]
    s = ["code,customer_code,name,address,lat,lon,access_hours"]
    a = ["serial,site_code,equipment_type,model,installed_on,device_id"]
    k = ["code,customer_code,tier,coverage,response_min,onsite_min,repair_h,starts_on,ends_on"]
    t = ["code,name,email,skills,home_lat,home_lon,shift,timezone"]
    for i in range(customers):
        tier = rng.choice(("key", "gold", "standard", "bronze"))
        c.append(f"C{i:06d},{NAMES[i % len(NAMES)]} {i},{tier},ops{i}@example.com,+31 10 {i:07d},en,Europe/Amsterdam")
        s.append(f"S{i:06d},C{i:06d},Plant {i},Street {i},{51.8 + rng.random() / 5:.5f},{4.3 + rng.random() / 3:.5f},"
                 "Mon-Fri 07:00-19:00")
        for j in range(assets_per_site):
            kind = ("pump", "chiller", "compressor")[j % 3]
            a.append(f"SN{i:06d}-{j},S{i:06d},{kind},Model {j},2021-03-15,bench-{i:06d}-{j}")
        k.append(f"K{i:06d},C{i:06d},{tier},24x7,,,,2025-01-01,")
    for i in range(max(1, customers // 10)):
        t.append(f"T{i:05d},Technician {i},t{i}@example.com,mechanical;electrical,51.9,4.4,Mon-Fri 08:00-17:00,"
                 "Europe/Amsterdam")
    return {name: ("\n".join(rows) + "\n").encode() for name, rows in
            (("customers.csv", c), ("sites.csv", s), ("assets.csv", a), ("contracts.csv", k),
             ("technicians.csv", t))}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1000)
    ap.add_argument("--assets-per-site", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    base = load_settings()
    url = base.database_url.rsplit("/", 1)[0] + f"/qf_bench_import_{os.getpid()}"
    ensure_database(url)
    migrate(url)
    data = files(args.customers, args.assets_per_site, args.seed)
    rows = sum(d.count(b"\n") - 1 for d in data.values())
    actor, at = Actor("bench"), datetime.now(UTC)
    timings: dict[str, float] = {}
    try:
        with connect(url) as conn:
            for step, dry in (("dry_run", True), ("first_import", False), ("reimport_unchanged", False)):
                t0 = time.perf_counter()
                report = csv_import.run_import(conn, data, actor, at, dry_run=dry)
                conn.commit()
                timings[step] = round(time.perf_counter() - t0, 2)
                assert report.ok, report.errors[:3]
                print(f"{step}: {timings[step]} s, created {sum(report.created.values())}, "
                      f"unchanged {sum(report.unchanged.values())}", flush=True)
    finally:
        drop_database(url)
    load = os.getloadavg()[0]
    print(f"rows {rows}; machine load average {load:.1f} (shared machine)")
    print(json.dumps({"bench": "admin_import", "customers": args.customers, "assets_per_site": args.assets_per_site,
                      "rows": rows, "seconds": timings,
                      "rows_per_s_first": round(rows / timings["first_import"]) if timings["first_import"] else None,
                      "load_avg_1m": round(load, 1)}))


if __name__ == "__main__":
    main()
