"""Bulk onboarding from CSV files (``quietfix import DIR``, and the admin page's upload): all or nothing.

Files: customers.csv, sites.csv, assets.csv, technicians.csv, contracts.csv (UTF-8, header first, any may be
absent; optional columns in OPTIONAL). Every row is validated (administration.validation), keys must be unique per file, references must
name a row of the same import or one already stored; then all rows are upserted in one transaction, in
dependency order. Any error rolls the whole transaction back, as does a dry run, so the counts of a dry
run are exactly what the real run would do.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from administration import service, validation
from administration.errors import Rejected
from administration.models import ENTITIES, PAUSE_KINDS, Actor, FieldError, ImportReport, Outcome, RowError
from administration.reasons import english, reason

COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("code", "name", "tier", "email", "phone", "language", "timezone"),
    "sites": ("code", "customer_code", "name", "address", "lat", "lon", "access_hours"),
    "assets": ("serial", "site_code", "equipment_type", "model", "installed_on", "device_id"),
    "technicians": ("code", "name", "email", "skills", "home_lat", "home_lon", "shift", "timezone"),
    "contracts": ("code", "customer_code", "tier", "coverage", "response_min", "onsite_min", "repair_h",
                  "starts_on", "ends_on"),
}
# Columns a file may add after the required ones (the admin API's fields the formats leave out): a
# technician's language (the phone's), van and home base; a contract's own SLA pause rules (yes, no or default
# per kind; a file without the column leaves the stored rule alone).
OPTIONAL: dict[str, tuple[str, ...]] = {
    "technicians": ("language", "van", "home_base"),
    "contracts": tuple(validation.pause_column(k) for k in PAUSE_KINDS)}
KEY = {"customers": "code", "sites": "code", "assets": "serial", "technicians": "code", "contracts": "code"}
# Dependency order: what a row refers to is written before it.
ORDER = ("customers", "sites", "contracts", "technicians", "assets")
VALIDATE: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "customers": validation.customer, "sites": validation.site, "assets": validation.asset,
    "technicians": validation.technician, "contracts": validation.contract}
UPSERT: dict[str, Callable[..., Outcome]] = {"customers": service.upsert_customer, "sites": service.upsert_site, "assets": service.upsert_asset,
          "technicians": service.upsert_technician, "contracts": service.upsert_contract}
# A reference column -> the file whose keys it names.
REFERENCES = {("sites", "customer_code"): "customers", ("contracts", "customer_code"): "customers",
              ("assets", "site_code"): "sites"}
# Bounds that keep one upload from taking the server down; a real organisation's master data fits easily.
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000


@dataclass(frozen=True)
class Parsed:
    """One data row: its line (header = 1), the raw fields, and the record or its field errors."""

    line: int
    raw: dict[str, str]
    record: Any
    errors: tuple[FieldError, ...]


def row_error(file: str, line: int, column: str, key: str, /, **params: Any) -> RowError:
    """An import problem in English and as a catalogue message (the admin page shows it in the reader's
    language)."""
    said = reason(key, **params)
    return RowError(file, line, column, english(said), said)


def read_dir(path: Path) -> dict[str, bytes]:
    """The known files present in ``path`` (file name -> bytes); others are ignored."""
    return {f"{e}.csv": (path / f"{e}.csv").read_bytes() for e in ENTITIES if (path / f"{e}.csv").is_file()}


def parse_file(entity: str, data: bytes) -> tuple[list[Parsed], list[RowError]]:
    """Rows of one file, validated; file-level errors (encoding, header, shape) as RowErrors."""
    name = f"{entity}.csv"
    if len(data) > MAX_FILE_BYTES:
        return [], [row_error(name, 1, "", "fileTooLarge", mb=MAX_FILE_BYTES // (1024 * 1024))]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return [], [row_error(name, line, "", "notUtf8")]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    errors: list[RowError] = []
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return [], [row_error(name, 1, "", "emptyFile")]
    except csv.Error as exc:
        return [], [row_error(name, 1, "", "unreadableCsv", detail=str(exc))]
    expected = COLUMNS[entity]
    missing = [c for c in expected if c not in header]
    optional = OPTIONAL.get(entity, ())
    unknown = [c for c in header if c not in expected and c not in optional]
    errors += [row_error(name, 1, c, "missingColumn") for c in missing]
    errors += [row_error(name, 1, c, "unknownColumn", expected=",".join(expected),
                         hasOptional="yes" if optional else "no", optional=",".join(optional)) for c in unknown]
    dupes = {c for c in header if header.count(c) > 1}
    errors += [row_error(name, 1, c, "columnTwice") for c in sorted(dupes)]
    if errors:
        return [], errors
    rows: list[Parsed] = []
    while True:
        line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(row_error(name, line, "", "unreadableCsv", detail=str(exc)))
            break
        line = reader.line_num  # a quoted field may span lines: the row is reported where it ends
        if not any(f.strip() for f in fields):
            continue  # blank lines are allowed (spreadsheets add them)
        if len(rows) >= MAX_ROWS:
            errors.append(row_error(name, line, "", "tooManyRows", max=MAX_ROWS))
            break
        if len(fields) != len(header):
            errors.append(row_error(name, line, "", "fieldCount", fields=len(fields), header=len(header)))
            continue
        raw = dict(zip(header, fields, strict=True))
        result = VALIDATE[entity](raw)
        bad = tuple(result) if isinstance(result, list) else ()
        rows.append(Parsed(line, raw, None if bad else result, bad))
    return rows, errors


def run_import(conn: psycopg.Connection, files: Mapping[str, bytes], actor: Actor, at: datetime, *,
               dry_run: bool = False) -> ImportReport:
    """Check everything, then upsert everything in one transaction (rolled back on any error or a dry run)."""
    counts = {k: {e: 0 for e in ENTITIES} for k in ("created", "updated", "unchanged")}
    errors: list[RowError] = []
    parsed: dict[str, list[Parsed]] = {}
    unknown_files = sorted(set(files) - {f"{e}.csv" for e in ENTITIES})
    errors += [row_error(f, 1, "", "unknownFile", expected=", ".join(e + ".csv" for e in ENTITIES))
               for f in unknown_files]
    for entity in ENTITIES:
        if f"{entity}.csv" in files:
            rows, file_errors = parse_file(entity, files[f"{entity}.csv"])
            parsed[entity] = rows
            errors += file_errors
    # Keys must be unique within a file; the second mention is the error.
    mentioned: dict[str, set[str]] = {}
    invalid: dict[str, set[str]] = {}
    for entity, rows in parsed.items():
        seen: dict[str, int] = {}
        key = KEY[entity]
        for p in rows:
            errors += [RowError(f"{entity}.csv", p.line, e.field, e.message, e.said) for e in p.errors]
            k = p.raw.get(key, "").strip()
            if k in seen and k:
                errors.append(row_error(f"{entity}.csv", p.line, key, "duplicateKey", name=key, value=k,
                                        first=seen[k]))
            seen.setdefault(k, p.line)
            mentioned.setdefault(entity, set()).add(k)
            if p.errors:
                invalid.setdefault(entity, set()).add(k)
    devices: dict[str, int] = {}
    for p in parsed.get("assets", []):
        device = p.raw.get("device_id", "").strip()
        if device:
            if device in devices:
                errors.append(row_error("assets.csv", p.line, "device_id", "deviceLinkedTwice", device=device,
                                        first=devices[device]))
            devices.setdefault(device, p.line)
    with conn.transaction(force_rollback=True) as outer:
        _apply(conn, parsed, invalid, counts, errors, actor, at)
        if not errors and not dry_run:
            outer.force_rollback = False  # everything held: keep it
    if errors:
        counts = {k: {e: 0 for e in ENTITIES} for k in counts}  # nothing was written
    errors.sort(key=lambda e: (e.file, e.line, e.column))
    return ImportReport(counts["created"], counts["updated"], counts["unchanged"], tuple(errors), dry_run)


def _apply(conn: psycopg.Connection, parsed: dict[str, list[Parsed]], invalid: dict[str, set[str]],
           counts: dict[str, dict[str, int]], errors: list[RowError], actor: Actor, at: datetime) -> None:
    """Upsert every valid row in dependency order. No savepoint per row: thousands of subtransactions in one
    transaction slow PostgreSQL down badly (the subtransaction cache overflows; 90 rows/s at 6,000 rows), and
    none is needed, because a reference error (Rejected) is raised before the row writes anything. A database
    refusal, which validation should make impossible, aborts the transaction: it is reported, and the rows
    after it are not checked against the database."""
    for entity in ORDER:
        for p in parsed.get(entity, []):
            if p.record is None:
                continue
            if _refers_to_invalid(entity, p.raw, invalid):
                invalid.setdefault(entity, set()).add(p.raw.get(KEY[entity], "").strip())  # and so on down
                continue
            try:
                out = UPSERT[entity](conn, p.record, actor, at)
                counts[out.result][entity] += 1
            except Rejected as exc:
                errors += [RowError(f"{entity}.csv", p.line, e.field, e.message, e.said) for e in exc.errors]
                invalid.setdefault(entity, set()).add(p.raw.get(KEY[entity], "").strip())
            except psycopg.Error as exc:
                errors.append(row_error(f"{entity}.csv", p.line, "", "refusedByDatabase",
                                        detail=str(exc).splitlines()[0][:200]))
                return


def _refers_to_invalid(entity: str, raw: Mapping[str, str], invalid: dict[str, set[str]]) -> bool:
    """A row naming a row of this import that is itself invalid: that row's error is already reported."""
    return any(raw.get(column, "").strip() in invalid.get(target, set())
               for (source, column), target in REFERENCES.items() if source == entity)


def render(entity: str, rows: Sequence[Mapping[str, Any]], optional: tuple[str, ...] = ()) -> bytes:
    """One import file (UTF-8, header first) from rows keyed by its columns (and the ``optional`` ones named):
    what an organisation's export would hand ``quietfix import``, and what the demo's seed writes."""
    columns = COLUMNS[entity] + tuple(c for c in optional if c in OPTIONAL.get(entity, ()))
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
    return out.getvalue().encode("utf-8")
