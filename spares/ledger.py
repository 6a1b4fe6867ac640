"""Pure ledger rules: every stock movement is a ledger entry and no level ever goes negative.

The same rules are enforced twice on purpose: here (so planning code and the simulator cannot produce an
impossible state) and in PostgreSQL (CHECK constraints plus conditional UPDATEs in ``queries.sql``, so two
concurrent transactions cannot either).
"""

from __future__ import annotations

from collections.abc import Iterable

from spares.errors import InsufficientStock, InvalidMovement
from spares.models import LedgerEntry, Movement, MovementKind, StockLevel

# (on_hand, reserved, in_transit) sign per unit of movement.
DELTAS: dict[MovementKind, tuple[int, int, int]] = {
    MovementKind.RECEIPT: (1, 0, 0),
    MovementKind.ADJUST_UP: (1, 0, 0),
    MovementKind.ADJUST_DOWN: (-1, 0, 0),
    MovementKind.RESERVE: (0, 1, 0),
    MovementKind.RELEASE: (0, -1, 0),
    MovementKind.CONSUME: (-1, -1, 0),
    MovementKind.ISSUE: (-1, 0, 0),
    MovementKind.RETURN: (1, 0, 0),
    MovementKind.SHIP_OUT: (-1, 0, 0),
    MovementKind.TRANSIT_IN: (0, 0, 1),
    MovementKind.DELIVER: (1, 0, -1),
    MovementKind.TRANSIT_CANCEL: (0, 0, -1),
}

# Movements that must name the work order they serve, so every fitted part is traceable to a job.
NEEDS_WORK_ORDER = frozenset({MovementKind.RESERVE, MovementKind.RELEASE, MovementKind.CONSUME,
                              MovementKind.RETURN})


def deltas(movement: Movement) -> tuple[int, int, int]:
    """The signed (on_hand, reserved, in_transit) change a movement applies."""
    if movement.qty <= 0:
        raise InvalidMovement(f"quantity must be positive, got {movement.qty}")
    if movement.kind in NEEDS_WORK_ORDER and movement.work_order_id is None:
        raise InvalidMovement(f"{movement.kind} needs a work_order_id")
    a, b, c = DELTAS[movement.kind]
    q = movement.qty
    return a * q, b * q, c * q


def check_level(level: StockLevel) -> None:
    """The invariant the database also enforces: nothing negative, never more reserved than on hand."""
    if level.on_hand < 0 or level.reserved < 0 or level.in_transit < 0:
        raise InsufficientStock(f"{level.sku}@{level.location_id}: would go negative ({level})")
    if level.reserved > level.on_hand:
        raise InsufficientStock(f"{level.sku}@{level.location_id}: reserved {level.reserved} > on hand "
                                f"{level.on_hand}")


def apply(level: StockLevel, movement: Movement) -> StockLevel:
    """Return the level after ``movement``, or raise without changing anything."""
    if (level.location_id, level.sku) != (movement.location_id, movement.sku):
        raise InvalidMovement("movement is for another location or SKU")
    d_on, d_res, d_tr = deltas(movement)
    after = StockLevel(level.location_id, level.sku, level.on_hand + d_on, level.reserved + d_res,
                       level.in_transit + d_tr)
    check_level(after)
    return after


class Ledger:
    """An in-memory stock book: current levels plus the append-only list of entries that produced them.

    Used by the simulator and by planning code that wants to try moves; the database is the book of record.
    Levels that were never touched read as zero.
    """

    def __init__(self) -> None:
        self._levels: dict[tuple[int, str], StockLevel] = {}
        self.entries: list[LedgerEntry] = []

    def level(self, location_id: int, sku: str) -> StockLevel:
        return self._levels.get((location_id, sku), StockLevel(location_id, sku))

    def levels(self) -> Iterable[StockLevel]:
        return self._levels.values()

    def post(self, movement: Movement) -> LedgerEntry:
        before = self.level(movement.location_id, movement.sku)
        after = apply(before, movement)
        self._levels[(movement.location_id, movement.sku)] = after
        entry = LedgerEntry(len(self.entries) + 1, movement, after.on_hand - before.on_hand,
                            after.reserved - before.reserved, after.in_transit - before.in_transit, after)
        self.entries.append(entry)
        return entry

    def post_all(self, movements: Iterable[Movement]) -> list[LedgerEntry]:
        """Post several movements atomically: all are accepted or none is (the book is left unchanged)."""
        saved_levels, saved_len = dict(self._levels), len(self.entries)
        try:
            return [self.post(m) for m in movements]
        except Exception:
            self._levels, self.entries[saved_len:] = saved_levels, []
            raise

    def replay(self) -> dict[tuple[int, str], StockLevel]:
        """Rebuild every level from the entries alone; equal to the current levels if the book is sound."""
        rebuilt: dict[tuple[int, str], StockLevel] = {}
        for e in self.entries:
            key = (e.movement.location_id, e.movement.sku)
            lv = rebuilt.get(key, StockLevel(*key))
            rebuilt[key] = apply(lv, e.movement)
        return rebuilt
