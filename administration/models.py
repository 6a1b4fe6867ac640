"""Master data as the organisation enters it: customers, sites, assets, technicians, contracts, users.

Records are keyed on natural keys (codes, serials), the keys a CSV file or another system knows; database ids
stay internal. Each record is what validation produced from one CSV row or one API body, already normalised,
so that "unchanged" can be decided by comparing it with the stored row.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime, time

from i18n import Message

TIERS = ("key", "gold", "standard", "bronze")
ROLES = ("admin", "dispatcher", "technician", "customer", "support", "engineering")
ABSENCE_KINDS = ("holiday", "sick", "training", "absence")
ENTITIES = ("customers", "sites", "assets", "technicians", "contracts")
# The waits that may stop a job's SLA clocks (sla_pause_rules.kind, migration 0350; docs/kpis.md "Paused clocks").
PAUSE_KINDS = ("on_hold", "awaiting_parts", "customer_window")


@dataclass(frozen=True)
class Hours:
    """Weekly hours: ISO weekdays (1 = Monday) and one daily window; ``24x7`` is every day 00:00-24:00."""

    days: tuple[int, ...]
    start: time
    end: time | None  # None = 24:00 (end of day), which ``datetime.time`` cannot hold

    @property
    def is_24x7(self) -> bool:
        return len(set(self.days)) == 7 and self.start == time(0) and self.end is None

    @property
    def end_text(self) -> str:
        return "24:00" if self.end is None else self.end.strftime("%H:%M")


@dataclass(frozen=True)
class FieldError:
    """One invalid field: the column (CSV) or field (API) and a reason a person can act on."""

    field: str
    message: str  # English
    # The reason in the reader's language (i18n); dataclasses.field, since ``field`` here is the column's name.
    said: Message | None = dataclasses.field(default=None, compare=False)


@dataclass(frozen=True)
class RowError:
    """An import error: file, line (the header is line 1), column ('' for the whole row) and message."""

    file: str
    line: int
    column: str
    message: str  # English
    said: Message | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Customer:
    code: str
    name: str
    tier: str
    email: str | None
    phone: str | None
    language: str
    timezone: str
    contacts: tuple[tuple[tuple[str, str], ...], ...] | None = None  # None = leave the stored contacts alone


@dataclass(frozen=True)
class Site:
    code: str
    customer_code: str
    name: str
    address: str
    lat: float
    lon: float
    access: Hours


@dataclass(frozen=True)
class Asset:
    serial: str
    site_code: str
    equipment_type: str
    model: str
    installed_on: date | None
    device_id: str | None


@dataclass(frozen=True)
class Technician:
    code: str
    name: str
    email: str | None
    skills: tuple[str, ...]
    home_lat: float
    home_lon: float
    shift: Hours
    timezone: str
    language: str = "en"
    van: str | None = None
    home_base: str | None = None


@dataclass(frozen=True)
class Contract:
    code: str
    customer_code: str
    tier: str
    coverage: Hours
    response_min: int | None
    onsite_min: int | None
    repair_h: int | None
    starts_on: date
    ends_on: date | None
    # The contract's own SLA pause rules, only for the kinds the input named: (kind, True = the wait stops the
    # clock, False = it runs, None = follow the tier's default). A kind not named keeps what is stored, so an
    # import file without the pause columns never erases rules entered on the admin page.
    pauses: tuple[tuple[str, bool | None], ...] = ()


@dataclass(frozen=True)
class Break:
    start: time
    minutes: int


@dataclass(frozen=True)
class WorkingDay:
    """One working span on an ISO weekday, with its breaks."""

    weekday: int
    start: time
    end: time | None  # None = 24:00
    breaks: tuple[Break, ...] = ()


@dataclass(frozen=True)
class Absence:
    kind: str
    starts_at: datetime
    ends_at: datetime
    note: str = ""


@dataclass(frozen=True)
class UserAccount:
    username: str
    role: str
    customer_code: str | None = None
    technician_code: str | None = None
    email: str | None = None
    language: str = "en"
    timezone: str = "UTC"


@dataclass(frozen=True)
class Actor:
    """Who makes a change, for the audit log (an API user, or the operator running ``quietfix import``)."""

    name: str
    user_id: int | None = None
    role: str | None = None
    client_ip: str | None = None


@dataclass(frozen=True)
class Outcome:
    """The result of one upsert: created, updated or unchanged, with the stored row after the write."""

    result: str
    row: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ImportReport:
    created: dict[str, int]
    updated: dict[str, int]
    unchanged: dict[str, int]
    errors: tuple[RowError, ...]
    dry_run: bool

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_json(self) -> dict:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "errors": [{"file": e.file, "line": e.line, "column": e.column, "message": e.message,
                            "i18n": e.said.to_json() if e.said is not None else None}
                           for e in self.errors], "dry_run": self.dry_run}
