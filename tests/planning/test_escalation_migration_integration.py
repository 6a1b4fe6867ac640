"""Migration 0620 on a database that already holds escalations with inline photos (data: URLs in the evidence):
the images move to escalation_photos, the evidence keeps their metadata, references stay as {"ref": ...}."""

import base64
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from core.db import drop_database, ensure_database
from core.migrate import MIGRATIONS_DIR, migrate
from tests.helpers import open_work_order
from tests.planning.test_escalation_integration import PNG

pytestmark = pytest.mark.integration


def test_inline_photos_move_out_of_the_evidence(db_url: str, tmp_path: Path) -> None:
    url = psycopg.conninfo.make_conninfo(db_url, dbname=f"quietfix_mig0620_{uuid.uuid4().hex[:10]}")
    ensure_database(url)
    try:
        for f in sorted(MIGRATIONS_DIR.glob("*.sql")):
            if int(f.name[:4]) < 620:
                shutil.copy(f, tmp_path / f.name)
        migrate(url, tmp_path)
        inline = "data:image/png;base64," + base64.b64encode(PNG).decode()
        svg = "data:image/svg+xml;base64," + base64.b64encode(b"<svg/>").decode()
        with psycopg.connect(url) as conn:
            # The schema before 0620 (no sites, no import): the smallest world, written directly.
            cid = conn.execute("INSERT INTO customers (name, tier, lat, lon) VALUES ('c', 'gold', 31.2, 121.4) "
                               "RETURNING id").fetchone()[0]
            conn.execute("INSERT INTO devices (id, customer_id, equipment_type, name, lat, lon) "
                         "VALUES ('mig-pump-1', %s, 'pump', 'p', 31.2, 121.4)", (cid,))
            conn.execute("INSERT INTO technicians (code, name, skills, home_lat, home_lon, lat, lon) "
                         "VALUES ('T01', 't', '{mechanical}', 31.2, 121.4, 31.2, 121.4)")
            at = datetime(2026, 1, 5, 8, tzinfo=UTC)
            wo = open_work_order(conn, "mig-pump-1", ["mechanical"], at)
            esc = conn.execute(
                "INSERT INTO escalations (work_order_id, incident_id, device_id, tier, raised_by, reason, evidence,"
                " opened_at, respond_due) SELECT id, incident_id, device_id, 2, 'tech01', 'noise', %s, %s, %s"
                " FROM work_orders WHERE id = %s RETURNING id",
                (Jsonb({"notes": "n", "photos": [inline, "photo://a.jpg", svg]}), at, at + timedelta(minutes=30),
                 wo)).fetchone()[0]
            conn.commit()
        shutil.copy(MIGRATIONS_DIR / "0620_escalation_tiers.sql", tmp_path)
        assert migrate(url, tmp_path).applied == ("0620_escalation_tiers.sql",)
        with psycopg.connect(url) as conn:
            evidence = conn.execute("SELECT evidence FROM escalations WHERE id = %s", (esc,)).fetchone()[0]
            stored, ref, not_an_accepted_image = evidence["photos"]
            assert evidence["notes"] == "n" and ref == {"ref": "photo://a.jpg"}
            assert not_an_accepted_image == {"ref": svg}  # kept as text, never served as an image
            row = conn.execute("SELECT work_order_id, media_type, data, bytes FROM escalation_photos WHERE id = %s",
                               (stored["id"],)).fetchone()
            assert row == (wo, "image/png", PNG, len(PNG))
            assert stored == {"id": stored["id"], "media_type": "image/png", "bytes": len(PNG)}
    finally:
        drop_database(url)
