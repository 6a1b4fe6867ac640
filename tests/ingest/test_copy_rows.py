"""ingest.copy_rows: the hand-built binary COPY tuples must be byte-identical to psycopg's own binary encoding of
(device_id text, ts timestamptz, signals text[], readings float8[], batch_id int8) rows, on both encoding paths."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from psycopg import pq
from psycopg._copy_base import format_row_binary
from psycopg.adapt import Transformer

from core.contracts import Sample
from ingest.copy_rows import encode_rows

T0 = 1_772_359_200_000  # 2026-03-01T10:00:00Z in ms
TEXT, TIMESTAMPTZ, TEXT_ARRAY, FLOAT8_ARRAY, INT8 = 25, 1184, 1009, 1022, 20


def psycopg_rows(device_id: str, samples: list[Sample], batch_id: int = 0) -> bytes:
    tx = Transformer()
    tx.set_dumper_types([TEXT, TIMESTAMPTZ, TEXT_ARRAY, FLOAT8_ARRAY, INT8], pq.Format.BINARY)
    out = bytearray()
    for s in samples:
        ts = datetime.fromtimestamp(s.t_ms // 1000, tz=UTC).replace(microsecond=(s.t_ms % 1000) * 1000)
        format_row_binary((device_id, ts, [n for n, _ in s.values], [v for _, v in s.values], batch_id), tx, out)
    return bytes(out)


def test_uniform_batch_matches_psycopg_and_reports_newest_values() -> None:
    samples = [Sample(T0 + 1000 * i, (("flow_lpm", 100.0 + i), ("pressure_bar", 4.2 - i))) for i in range(200)]
    rows = encode_rows("pump-0001", samples, 41)
    assert rows.data == psycopg_rows("pump-0001", samples, 41)
    assert (rows.rows, rows.readings) == (200, 400)
    assert rows.newest == (("flow_lpm", T0 + 199_000, 299.0), ("pressure_bar", T0 + 199_000, 4.2 - 199))


def test_samples_with_differing_signals_take_the_general_path() -> None:
    samples = [Sample(T0 + 2000, (("flow_lpm", 1.0),)),
               Sample(T0, (("flow_lpm", 2.0), ("motor_temp_c", 60.5))),
               Sample(T0 + 2000, (("flow_lpm", 3.0),))]  # same time as the first: the first one wins
    rows = encode_rows("pump-0002", samples, 2**40 + 3)
    assert rows.data == psycopg_rows("pump-0002", samples, 2**40 + 3)
    assert (rows.rows, rows.readings) == (3, 4)
    assert sorted(rows.newest) == [("flow_lpm", T0 + 2000, 1.0), ("motor_temp_c", T0, 60.5)]


def test_timestamps_before_and_after_2000_and_multibyte_names() -> None:
    samples = [Sample(946_684_799_999, (("x", -0.0),)), Sample(946_684_800_001, (("x", 1e308),))]
    assert encode_rows("pümpe-ø1", samples).data == psycopg_rows("pümpe-ø1", samples)


names = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True), min_size=1, max_size=8, unique=True)
floats = st.floats(allow_nan=False, allow_infinity=False)


@given(st.lists(st.tuples(st.integers(946_684_800_000, 4_102_444_800_000), names, st.data()),
                min_size=1, max_size=20))
def test_any_batch_matches_psycopg(raw: list) -> None:
    samples = [Sample(t, tuple((n, data.draw(floats)) for n in ns)) for t, ns, data in raw]
    assert encode_rows("dev", samples).data == psycopg_rows("dev", samples)
