"""`quietfix import` on the real database: every rule, planted errors in fresh files, all or nothing, dry runs
that write nothing, idempotent re-imports, audit rows with before/after values, and the dispatch wake-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from administration import Actor, csv_import
from tests.administration.onboarding import FILES, write

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
ACTOR = Actor("test-import", role="admin")
COUNTED = ("customers", "sites", "assets", "technicians", "contracts")


def run(conn: psycopg.Connection, folder: Path, dry_run: bool = False):
    report = csv_import.run_import(conn, csv_import.read_dir(folder), ACTOR, AT, dry_run=dry_run)
    conn.commit()
    return report


def snapshot(conn: psycopg.Connection) -> dict[str, int]:
    tables = ("customers", "sites", "assets", "technicians", "contracts", "devices", "audit_log")
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def test_import_creates_then_reimport_changes_nothing(conn: psycopg.Connection, tmp_path: Path) -> None:
    folder = write(tmp_path / "org")
    first = run(conn, folder)
    assert first.errors == ()
    assert first.created == {e: 2 for e in COUNTED}
    hua = conn.execute("SELECT name, language, timezone FROM customers WHERE code = 'HUA'").fetchone()
    assert hua == ("华东制冷有限公司", "zh-Hans", "Asia/Shanghai")
    device = conn.execute("SELECT d.customer_id = s.customer_id, d.lat, d.lon, d.site_id = s.id FROM devices d "
                          "JOIN sites s ON s.code = 'ACME-RTM' WHERE d.id = 'acme-pump-1'").fetchone()
    assert device == (True, 51.89, 4.42, True)
    k = conn.execute("SELECT sla_tier, coverage_days, response_min, onsite_min, repair_h, ends_on::text "
                     "FROM contracts WHERE code = 'K-ACME'").fetchone()
    assert k == ("gold", [1, 2, 3, 4, 5, 6], 10, 90, 12, "2027-12-31")
    before = snapshot(conn)
    second = run(conn, folder)
    assert second.errors == () and second.unchanged == {e: 2 for e in COUNTED}
    assert second.created == second.updated == {e: 0 for e in COUNTED}
    assert snapshot(conn) == before  # not even an audit row


def test_changed_rows_are_updated_and_audited_with_before_and_after(conn: psycopg.Connection, tmp_path: Path) -> None:
    run(conn, write(tmp_path / "a"))
    cursor = conn.execute("SELECT changes FROM dispatch_cursor").fetchone()[0]
    sites = FILES["sites.csv"].replace("51.89,4.42", "51.90,4.43")
    contracts = FILES["contracts.csv"].replace(",10,90,12,", ",15,120,24,")
    report = run(conn, write(tmp_path / "b", sites_csv=sites, contracts_csv=contracts))
    assert report.updated["sites"] == 1 and report.updated["contracts"] == 1 and report.unchanged["sites"] == 1
    audit = conn.execute("SELECT actor, details FROM audit_log WHERE action = 'admin.site.updated'").fetchone()
    assert audit[0] == "test-import"
    assert audit[1]["before"] == {"lat": 51.89, "lon": 4.42} and audit[1]["after"] == {"lat": 51.9, "lon": 4.43}
    terms = conn.execute("SELECT details FROM audit_log WHERE action = 'admin.contract.updated'").fetchone()[0]
    assert terms["before"]["onsite_min"] == 90 and terms["after"]["onsite_min"] == 120
    # The device on the moved site moved with it, and the dispatch loop was told (its change counter moved).
    assert conn.execute("SELECT lat, lon FROM devices WHERE id = 'acme-pump-1'").fetchone() == (51.9, 4.43)
    assert conn.execute("SELECT changes FROM dispatch_cursor").fetchone()[0] > cursor


def test_every_planted_error_is_reported_with_file_line_and_column(conn: psycopg.Connection, tmp_path: Path) -> None:
    customers = FILES["customers.csv"] + "BAD CODE,,platinum,nope,call me,Dutch,Mars/Olympus\nACME,Again,gold,,,,\n"
    sites = FILES["sites.csv"] + "S-X,NOBODY,Nowhere,,91,200,Mon-Fri 18:00-08:00\n"
    assets = FILES["assets.csv"] + "SN-3001,ACME-RTM,boiler,,15/03/2021,acme-pump-1\nSN-4001,NOSITE,pump,,,\n"
    technicians = FILES["technicians.csv"] + "T-X,Name,,Mechanical,51.9,4.4,sometimes,UTC\nT-Y,Short row\n"
    contracts = FILES["contracts.csv"] + "K-X,ACME,gold,24x7,-1,abc,12,2026-01-01,2025-01-01\n"
    folder = write(tmp_path / "bad", customers_csv=customers, sites_csv=sites, assets_csv=assets,
                   technicians_csv=technicians, contracts_csv=contracts)
    before = snapshot(conn)
    report = run(conn, folder)
    found = {(e.file, e.line, e.column) for e in report.errors}
    expected = {
        ("customers.csv", 4, "code"), ("customers.csv", 4, "name"), ("customers.csv", 4, "tier"),
        ("customers.csv", 4, "email"), ("customers.csv", 4, "phone"), ("customers.csv", 4, "language"),
        ("customers.csv", 4, "timezone"), ("customers.csv", 5, "code"),  # duplicate key
        ("sites.csv", 4, "lat"), ("sites.csv", 4, "lon"), ("sites.csv", 4, "access_hours"),
        ("assets.csv", 4, "equipment_type"), ("assets.csv", 4, "installed_on"),
        ("assets.csv", 4, "device_id"),  # the device already watches SN-1001 on line 2
        ("assets.csv", 5, "site_code"),
        ("technicians.csv", 4, "skills"), ("technicians.csv", 4, "shift"), ("technicians.csv", 5, ""),
        ("contracts.csv", 4, "response_min"), ("contracts.csv", 4, "onsite_min"), ("contracts.csv", 4, "ends_on"),
    }
    assert found == expected, sorted(found ^ expected)
    dup = next(e for e in report.errors if (e.file, e.line, e.column) == ("customers.csv", 5, "code"))
    assert "first on line 2" in dup.message
    assert report.created == {e: 0 for e in COUNTED}
    assert snapshot(conn) == before  # all or nothing: the valid rows were not written either


def test_unknown_references_wait_for_their_own_row_errors(conn: psycopg.Connection, tmp_path: Path) -> None:
    """A site of a customer whose own row is invalid reports only the customer's error, not a second one."""
    customers = FILES["customers.csv"].replace("ACME,Acme Pumps BV,gold", "ACME,Acme Pumps BV,diamond")
    report = run(conn, write(tmp_path / "ref", customers_csv=customers))
    assert [(e.file, e.line, e.column) for e in report.errors] == [("customers.csv", 2, "tier")]
    sites = FILES["sites.csv"] + "S-9,GHOST,Ghost plant,,1,1,24x7\n"
    report = run(conn, write(tmp_path / "ghost", sites_csv=sites))
    assert [(e.file, e.line, e.column, e.message) for e in report.errors] == [
        ("sites.csv", 4, "customer_code", "unknown customer 'GHOST'")]


def test_file_level_errors(conn: psycopg.Connection, tmp_path: Path) -> None:
    folder = write(tmp_path / "files", sites_csv="code,customer,name,address,lat,lon,access_hours,colour\n",
                   contracts_csv="")
    (folder / "technicians.csv").write_bytes("code,name\nT1,Jos\xe9\n".encode("latin-1"))
    report = run(conn, folder)
    found = {(e.file, e.line, e.column) for e in report.errors}
    assert ("sites.csv", 1, "customer_code") in found and ("sites.csv", 1, "customer") in found
    assert ("sites.csv", 1, "colour") in found
    assert ("contracts.csv", 1, "") in found  # empty file: no header
    assert ("technicians.csv", 2, "") in found  # not UTF-8, on the line where it stops being UTF-8
    assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 0


def test_dry_run_counts_what_would_happen_and_writes_nothing(conn: psycopg.Connection, tmp_path: Path) -> None:
    folder = write(tmp_path / "dry")
    before = snapshot(conn)
    cursor = conn.execute("SELECT changes FROM dispatch_cursor").fetchone()[0]
    report = run(conn, folder, dry_run=True)
    assert report.ok and report.dry_run and report.created == {e: 2 for e in COUNTED}
    assert snapshot(conn) == before
    assert conn.execute("SELECT changes FROM dispatch_cursor").fetchone()[0] == cursor
    assert run(conn, folder).created == report.created  # the real run does what the dry run said


def test_byte_order_mark_quoted_fields_and_blank_lines(conn: psycopg.Connection, tmp_path: Path) -> None:
    """What spreadsheets write: a UTF-8 BOM, a quoted address with a comma and a line break, a trailing blank."""
    sites = FILES["sites.csv"].replace('"Waalhaven 1, Rotterdam"', '"Waalhaven 1,\nRotterdam"') + "\n,,,,,,\n"
    folder = write(tmp_path / "excel", sites_csv=sites)
    (folder / "customers.csv").write_bytes(b"\xef\xbb\xbf" + FILES["customers.csv"].encode())
    report = run(conn, folder)
    assert report.errors == () and report.created["sites"] == 2
    assert conn.execute("SELECT address FROM sites WHERE code = 'ACME-RTM'").fetchone() == ("Waalhaven 1,\nRotterdam",)
    bad = write(tmp_path / "excel-bad", sites_csv=sites.replace("HUA-SH1,HUA", "HUA-SH1,NOBODY"))
    assert [(e.line, e.column) for e in run(conn, bad).errors] == [(4, "customer_code")]  # after the 2-line row


def test_the_documented_example_imports_cleanly(conn: psycopg.Connection) -> None:
    report = run(conn, ROOT / "docs" / "examples" / "onboarding")
    assert report.errors == () and sum(report.created.values()) == 10


def test_absent_files_are_fine(conn: psycopg.Connection, tmp_path: Path) -> None:
    folder = tmp_path / "only"
    folder.mkdir()
    (folder / "technicians.csv").write_text(FILES["technicians.csv"], encoding="utf-8")
    report = run(conn, folder)
    assert report.ok and report.created["technicians"] == 2 and report.created["customers"] == 0


def test_cli_exit_status_and_last_line_json(db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "QUIETFIX_DATABASE_URL": db_url, "QUIETFIX_LOG_JSON": "false"}
    good = write(tmp_path / "good")
    bad = write(tmp_path / "bad", sites_csv=FILES["sites.csv"] + "S-X,ACME,Nowhere,,abc,4.4,24x7\n")
    cmd = [sys.executable, "-m", "quietfix.cli", "import"]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cmd, *args], check=False, env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=120)

    out = cli(str(bad))
    assert out.returncode == 1, out.stderr
    last = json.loads(out.stdout.strip().splitlines()[-1])
    assert last["errors"] == [{"file": "sites.csv", "line": 4, "column": "lat", "message": "'abc' is not a number",
                               "i18n": {"key": "admin.reason.notNumber", "params": {"value": "abc"}}}]
    out = cli(str(good), "--dry-run")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["created"]["sites"] == 2
    out = cli(str(good))
    assert out.returncode == 0 and json.loads(out.stdout.splitlines()[-1])["created"]["customers"] == 2
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 2
