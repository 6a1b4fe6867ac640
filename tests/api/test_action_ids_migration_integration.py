"""Migration 0820 on a database that already holds phone steps in both tables: the sign-off / parts-return rows
move into technician_actions with their ids (a replay after the upgrade is still recognised and answered with
the first result), an id found in both keeps the row the API answered with, and the old name still reads."""

import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from api import repository as repo
from core.db import drop_database, ensure_database
from core.migrate import MIGRATIONS_DIR, migrate
from tests.helpers import open_work_order

pytestmark = pytest.mark.integration
MIGRATION = "0820_one_technician_actions_table.sql"


def test_step_action_ids_move_into_one_table(db_url: str, tmp_path: Path) -> None:
    url = psycopg.conninfo.make_conninfo(db_url, dbname=f"quietfix_mig0820_{uuid.uuid4().hex[:10]}")
    ensure_database(url)
    try:
        for f in sorted(MIGRATIONS_DIR.glob("*.sql")):
            if int(f.name[:4]) < 820:
                shutil.copy(f, tmp_path / f.name)
        migrate(url, tmp_path)
        at = datetime(2026, 12, 7, 9, tzinfo=UTC)
        signoff, returned, both, tap = (str(uuid.uuid4()) for _ in range(4))
        with psycopg.connect(url) as conn:
            cid = conn.execute("INSERT INTO customers (name, tier, lat, lon) VALUES ('c', 'gold', 31.2, 121.4) "
                               "RETURNING id").fetchone()[0]
            conn.execute("INSERT INTO devices (id, customer_id, equipment_type, name, lat, lon) "
                         "VALUES ('mig-pump-2', %s, 'pump', 'p', 31.2, 121.4)", (cid,))
            tid = conn.execute("INSERT INTO technicians (code, name, skills, home_lat, home_lon, lat, lon) "
                               "VALUES ('T01', 't', '{mechanical}', 31.2, 121.4, 31.2, 121.4) RETURNING id"
                               ).fetchone()[0]
            wo = open_work_order(conn, "mig-pump-2", ["mechanical"], at)
            step = ("INSERT INTO technician_step_actions (action_id, technician_id, work_order_id, action, "
                    "received_at, applied) VALUES (%s, %s, %s, %s, %s, %s)")
            conn.execute(step, (signoff, tid, wo, "signoff", at, True))
            conn.execute(step, (returned, tid, wo, "return_parts", at, False))
            conn.execute(step, (both, tid, wo, "signoff", at, True))
            life = ("INSERT INTO technician_actions (action_id, technician_id, work_order_id, action, received_at, "
                    "applied, parts_used) VALUES (%s, %s, %s, %s, %s, %s, %s)")
            conn.execute(life, (tap, tid, wo, "arrived", at, True, Jsonb([])))
            conn.execute(life, (both, tid, wo, "completed", at, True, Jsonb([{"sku": "BRG-6204", "qty": 1}])))
            conn.commit()
        shutil.copy(MIGRATIONS_DIR / MIGRATION, tmp_path)
        assert migrate(url, tmp_path).applied == (MIGRATION,)
        with psycopg.connect(url) as conn:
            rows = {str(r[0]): r[1:] for r in conn.execute(
                "SELECT action_id, action, applied, parts_used FROM technician_actions")}
            assert rows == {signoff: ("signoff", True, []), returned: ("return_parts", False, []),
                            tap: ("arrived", True, []), both: ("completed", True, [{"sku": "BRG-6204", "qty": 1}])}
            kind = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'technician_step_actions'").fetchone()
            assert kind == ("v",)
            assert {str(r[0]) for r in conn.execute("SELECT action_id FROM technician_step_actions")} == {
                signoff, returned}
            # A tap sent before the upgrade and replayed after it: recognised, answered with the first result.
            for action_id, action in ((signoff, "signoff"), (tap, "return_parts"), (returned, "en_route")):
                assert not repo.record_action(conn, action_id=action_id, technician_id=tid, work_order_id=wo,
                                              action=action, at=at, parts=Jsonb([]))
            seen = repo.action_result(conn, signoff)
            assert seen is not None and (seen["action"], seen["applied"], seen["work_order_id"]) == (
                "signoff", True, wo)
            fresh = str(uuid.uuid4())
            assert repo.record_action(conn, action_id=fresh, technician_id=tid, work_order_id=wo,
                                      action="return_parts", at=at, parts=Jsonb([]))
            repo.mark_action_applied(conn, fresh, True)
            assert repo.action_result(conn, fresh)["applied"] is True
    finally:
        drop_database(url)
