"""The demo's seed goes through `quietfix import` (issue #15 item 2) and has Chinese customers and technicians
in zh-CN (issue #21)."""

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from administration import Actor
from administration.csv_import import run_import
from quietfix.seed import TIMEZONE, demo_world, seed

pytestmark = pytest.mark.integration
NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)


def _chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_seed_is_exactly_the_import_of_its_files_plus_what_import_does_not_cover(conn: psycopg.Connection) -> None:
    devices = seed(conn, devices=9, technicians=4, users=True)
    world = demo_world(devices=9, technicians=4)
    # Importing the same files again finds everything as the seed left it: the seed is that import.
    again = run_import(conn, world.files, Actor("test"), NOW)
    assert again.errors == ()
    assert sum(again.created.values()) == sum(again.updated.values()) == 0
    assert again.unchanged == {"customers": 3, "sites": 9, "assets": 9, "technicians": 4, "contracts": 3}
    created = dict(conn.execute("SELECT target_type, count(*) FROM audit_log WHERE actor = 'seed' "
                                "AND action LIKE 'admin.%%.created' GROUP BY 1").fetchall())
    assert created == {"customer": 3, "site": 9, "device": 9, "asset": 9, "technician": 4, "contract": 3,
                       "user": 4 + 4 + 3}
    # Chinese names and zh-CN for every third customer and technician, in Shanghai's zone; the users follow.
    customers = conn.execute("SELECT code, name, language, timezone FROM customers ORDER BY code").fetchall()
    assert [(_chinese(n), lang) for _, n, lang, _ in customers] == [(False, "en"), (True, "zh-CN"), (False, "en")]
    assert {tz for *_, tz in customers} == {TIMEZONE}
    techs = conn.execute("SELECT code, name, language, timezone FROM technicians ORDER BY code").fetchall()
    assert [(_chinese(n), lang) for _, n, lang, _ in techs] == [(False, "en"), (True, "zh-CN"), (False, "en"),
                                                               (False, "en")]
    assert conn.execute("SELECT language, timezone FROM users WHERE username = 'tech02'").fetchone() == \
        ("zh-CN", TIMEZONE)
    address = conn.execute("SELECT address FROM sites s JOIN customers c ON c.id = s.customer_id "
                           "WHERE c.code = 'C00002' LIMIT 1").fetchone()[0]
    assert address.startswith("上海市") and _chinese(address)
    # Devices stand on their sites (where the fleet reports from); contract terms without a CSV column are set.
    for d in devices:
        site = conn.execute("SELECT s.lat, s.lon FROM devices x JOIN sites s ON s.id = x.site_id WHERE x.id = %s",
                            (d.device_id,)).fetchone()
        assert site == (d.lat, d.lon)
    assert conn.execute("SELECT count(*) FROM contracts WHERE warranty_until IS NOT NULL").fetchone()[0] == 2
    assert conn.execute("SELECT inspection_interval_days FROM contracts WHERE code = 'SC-00001'").fetchone()[0] == 90


def test_seed_files_command_writes_files_the_import_accepts(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "quietfix.cli", "seed-files", str(tmp_path), "--devices", "6",
                          "--technicians", "3"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.splitlines()[-1])["files"] == sorted(
        ["customers.csv", "sites.csv", "assets.csv", "technicians.csv", "contracts.csv"])
    text = (tmp_path / "technicians.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "code,name,email,skills,home_lat,home_lon,shift,timezone,language"
    assert "王伟" in text
