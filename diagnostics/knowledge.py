"""Knowledge base: what a fault mode means on an equipment type and what to do about it.

Seeded from ``knowledge_base.json`` and refined by closed work orders: :func:`apply_feedback` counts the
structured outcome technicians report (the fault mode they found, a fix code from the fix_codes list, the parts
the ledger booked as fitted), and once real observations exist the most frequent ones become the suggestion.
Free text is not learned from (it stays in the visit's notes): "as diagnosed" is not a cause. Everything is
frozen; updates return new objects (the caller persists them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import Any

SEED_WEIGHT = 1  # the seed counts as one observation: a single real report already ties it


@dataclass(frozen=True)
class Part:
    sku: str
    qty: int


@dataclass(frozen=True)
class KnowledgeEntry:
    equipment_type: str
    mode: str
    probable_cause: str
    diagnostic_steps: tuple[str, ...]
    remote_fix: str | None
    skills: tuple[str, ...]
    parts: tuple[Part, ...]
    repair_minutes: int
    severity: int
    cause_counts: tuple[tuple[str, int], ...] = ()
    fix_counts: tuple[tuple[str, int], ...] = ()
    part_counts: tuple[tuple[str, int], ...] = ()  # sku -> times used (closed work orders)
    minutes_observed: tuple[int, ...] = field(default=())
    # Fault modes technicians found when this mode was diagnosed (itself = the diagnosis confirmed).
    found_counts: tuple[tuple[str, int], ...] = ()

    @property
    def confirmed_rate(self) -> float | None:
        """Share of visits on this diagnosis that found this very mode (None before any structured report)."""
        total = sum(n for _, n in self.found_counts)
        return dict(self.found_counts).get(self.mode, 0) / total if total else None


@dataclass(frozen=True)
class WorkOrderFeedback:
    """What the technician reported when closing a work order: ``fix`` is a fix code; ``actual_cause`` is only
    counted when given (structured reports leave it None: the found mode is the cause)."""

    actual_cause: str | None
    fix: str
    parts_used: tuple[Part, ...] = ()
    repair_minutes: int | None = None


def _entry(equipment_type: str, mode: str, d: Mapping[str, Any]) -> KnowledgeEntry:
    return KnowledgeEntry(equipment_type, mode, d["probable_cause"], tuple(d["diagnostic_steps"]), d["remote_fix"],
                          tuple(d["skills"]), tuple(Part(p["sku"], int(p["qty"])) for p in d["parts"]),
                          int(d["repair_minutes"]), int(d["severity"]),
                          tuple((str(k), int(n)) for k, n in d.get("cause_counts", ())),
                          tuple((str(k), int(n)) for k, n in d.get("fix_counts", ())),
                          tuple((str(k), int(n)) for k, n in d.get("part_counts", ())),
                          tuple(int(m) for m in d.get("minutes_observed", ())),
                          tuple((str(k), int(n)) for k, n in d.get("found_counts", ())))


def entry_to_doc(e: KnowledgeEntry) -> dict[str, Any]:
    """The JSON shape of one entry (as in knowledge_base.json, plus the learned counts) for storage."""
    return {"probable_cause": e.probable_cause, "diagnostic_steps": list(e.diagnostic_steps),
            "remote_fix": e.remote_fix, "skills": list(e.skills),
            "parts": [{"sku": p.sku, "qty": p.qty} for p in e.parts], "repair_minutes": e.repair_minutes,
            "severity": e.severity, "cause_counts": [list(c) for c in e.cause_counts],
            "fix_counts": [list(c) for c in e.fix_counts], "part_counts": [list(c) for c in e.part_counts],
            "minutes_observed": list(e.minutes_observed), "found_counts": [list(c) for c in e.found_counts]}


def load_knowledge(doc: Mapping[str, Any] | None = None) -> dict[tuple[str, str], KnowledgeEntry]:
    """(equipment_type, mode) -> entry, from ``doc`` or the shipped seed."""
    if doc is None:
        doc = _seed()
    return {(eq, mode): _entry(eq, mode, d) for eq, modes in doc["equipment"].items() for mode, d in modes.items()}


@lru_cache(maxsize=1)
def _seed() -> dict[str, Any]:
    return json.loads(resources.files("diagnostics").joinpath("knowledge_base.json").read_text())


def _bump(counts: tuple[tuple[str, int], ...], key: str, by: int = 1) -> tuple[tuple[str, int], ...]:
    d = dict(counts)
    d[key] = d.get(key, 0) + by
    return tuple(sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))


def apply_feedback(entry: KnowledgeEntry, fb: WorkOrderFeedback) -> KnowledgeEntry:
    """New entry with the feedback counted; the most frequent cause and parts become the suggestion."""
    causes = entry.cause_counts
    if fb.actual_cause is not None:
        causes = _bump(causes or ((entry.probable_cause, SEED_WEIGHT),), fb.actual_cause)
    fixes = _bump(entry.fix_counts, fb.fix)
    part_counts = entry.part_counts
    for p in fb.parts_used:
        part_counts = _bump(part_counts, p.sku, 1)
    minutes = entry.minutes_observed + ((fb.repair_minutes,) if fb.repair_minutes is not None else ())
    best_cause = causes[0][0] if causes else entry.probable_cause
    parts = entry.parts
    used_skus = {p.sku: p.qty for p in fb.parts_used}
    if part_counts:
        top = part_counts[0][1]
        seed_qty = {p.sku: p.qty for p in entry.parts}
        parts = tuple(Part(sku, used_skus.get(sku, seed_qty.get(sku, 1)))
                      for sku, n in part_counts if n * 2 >= top)  # parts used at least half as often as the top one
    est = entry.repair_minutes
    if minutes:
        ordered = sorted(minutes)
        est = ordered[len(ordered) // 2]  # median: one disastrous job should not double every estimate
    return replace(entry, probable_cause=best_cause, cause_counts=causes, fix_counts=fixes,
                   part_counts=part_counts, parts=parts, minutes_observed=minutes, repair_minutes=est)


def count_found(entry: KnowledgeEntry, found_mode: str) -> KnowledgeEntry:
    """The diagnosed mode's entry learns what was actually found (how often this diagnosis holds)."""
    return replace(entry, found_counts=_bump(entry.found_counts, found_mode))
