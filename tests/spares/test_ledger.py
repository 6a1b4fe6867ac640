from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spares.errors import InsufficientStock, InvalidMovement
from spares.ledger import DELTAS, Ledger, apply, check_level
from spares.models import Movement, MovementKind, StockLevel

K = MovementKind
LOC, SKU = 7, "SEAL-01"


def mv(kind: MovementKind, qty: int = 1, wo: int | None = 11) -> Movement:
    return Movement(kind, LOC, SKU, qty, at=0.0, work_order_id=wo)


def book(on_hand: int = 0) -> Ledger:
    ledger = Ledger()
    if on_hand:
        ledger.post(mv(K.RECEIPT, on_hand, None))
    return ledger


def test_every_kind_has_deltas() -> None:
    assert set(DELTAS) == set(MovementKind)


def test_receipt_reserve_consume() -> None:
    ledger = book(3)
    ledger.post(mv(K.RESERVE, 2))
    assert ledger.level(LOC, SKU).available == 1
    ledger.post(mv(K.CONSUME, 2))
    assert ledger.level(LOC, SKU) == StockLevel(LOC, SKU, 1, 0, 0)


def test_reserve_the_last_unit_only_once() -> None:
    ledger = book(1)
    ledger.post(mv(K.RESERVE, 1, 1))
    with pytest.raises(InsufficientStock):
        ledger.post(mv(K.RESERVE, 1, 2))
    assert ledger.level(LOC, SKU).reserved == 1


def test_release_then_reserve_again() -> None:
    ledger = book(1)
    ledger.post(mv(K.RESERVE))
    ledger.post(mv(K.RELEASE))
    ledger.post(mv(K.RESERVE, 1, 99))
    assert ledger.level(LOC, SKU).reserved == 1


def test_release_more_than_reserved_fails() -> None:
    ledger = book(2)
    ledger.post(mv(K.RESERVE))
    with pytest.raises(InsufficientStock):
        ledger.post(mv(K.RELEASE, 2))


def test_consume_needs_reservation() -> None:
    ledger = book(2)
    with pytest.raises(InsufficientStock):
        ledger.post(mv(K.CONSUME))


def test_issue_cannot_take_reserved_units() -> None:
    ledger = book(1)
    ledger.post(mv(K.RESERVE))
    with pytest.raises(InsufficientStock):
        ledger.post(mv(K.ISSUE, 1, None))
    with pytest.raises(InsufficientStock):
        ledger.post(mv(K.SHIP_OUT, 1, None))
    with pytest.raises(InsufficientStock):
        ledger.post(mv(K.ADJUST_DOWN, 1, None))


def test_return_adds_on_hand() -> None:
    ledger = book(1)
    ledger.post(mv(K.RESERVE))
    ledger.post(mv(K.CONSUME))
    ledger.post(mv(K.RETURN))
    assert ledger.level(LOC, SKU).on_hand == 1


def test_transit_then_deliver() -> None:
    ledger = book()
    ledger.post(mv(K.TRANSIT_IN, 2, None))
    assert ledger.level(LOC, SKU).position == 2
    ledger.post(mv(K.DELIVER, 2, None))
    assert ledger.level(LOC, SKU) == StockLevel(LOC, SKU, 2, 0, 0)
    with pytest.raises(InsufficientStock):
        ledger.post(mv(K.DELIVER, 1, None))
    with pytest.raises(InsufficientStock):
        ledger.post(mv(K.TRANSIT_CANCEL, 1, None))


def test_never_negative_on_empty() -> None:
    for kind in (K.ISSUE, K.SHIP_OUT, K.ADJUST_DOWN, K.CONSUME, K.RELEASE, K.DELIVER, K.TRANSIT_CANCEL):
        with pytest.raises(InsufficientStock):
            book().post(mv(kind))


@pytest.mark.parametrize("qty", [0, -1])
def test_non_positive_quantity_rejected(qty: int) -> None:
    with pytest.raises(InvalidMovement):
        book(5).post(mv(K.RECEIPT, qty))


@pytest.mark.parametrize("kind", [K.RESERVE, K.RELEASE, K.CONSUME, K.RETURN])
def test_job_movements_need_work_order(kind: MovementKind) -> None:
    with pytest.raises(InvalidMovement):
        book(5).post(mv(kind, 1, None))


def test_apply_rejects_other_location() -> None:
    with pytest.raises(InvalidMovement):
        apply(StockLevel(LOC + 1, SKU), mv(K.RECEIPT))


def test_check_level_rejects_over_reservation() -> None:
    with pytest.raises(InsufficientStock):
        check_level(StockLevel(LOC, SKU, 1, 2, 0))


def test_failed_post_leaves_book_unchanged() -> None:
    ledger = book(1)
    with pytest.raises(InsufficientStock):
        ledger.post(mv(K.RESERVE, 2))
    assert len(ledger.entries) == 1
    assert ledger.level(LOC, SKU).reserved == 0


def test_post_all_is_atomic() -> None:
    ledger = book(1)
    with pytest.raises(InsufficientStock):
        ledger.post_all([mv(K.RESERVE), mv(K.CONSUME), mv(K.CONSUME)])
    assert ledger.level(LOC, SKU) == StockLevel(LOC, SKU, 1, 0, 0)
    assert len(ledger.entries) == 1


def test_entries_record_deltas() -> None:
    ledger = book(2)
    entry = ledger.post(mv(K.RESERVE))
    assert (entry.d_on_hand, entry.d_reserved, entry.d_in_transit) == (0, 1, 0)
    assert entry.seq == 2


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(MovementKind)), st.integers(1, 3)), max_size=40))
def test_random_sequences_never_go_negative_and_replay(ops: list[tuple[MovementKind, int]]) -> None:
    ledger = Ledger()
    for kind, qty in ops:
        try:
            ledger.post(mv(kind, qty))
        except InsufficientStock:
            pass
        level = ledger.level(LOC, SKU)
        assert min(level.on_hand, level.reserved, level.in_transit) >= 0
        assert level.reserved <= level.on_hand
    assert ledger.replay() == {(lv.location_id, lv.sku): lv for lv in ledger.levels()}
    total = sum(e.d_on_hand for e in ledger.entries)
    assert total == ledger.level(LOC, SKU).on_hand
