import math

import pytest

from bench.stats import percentile


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile(values, 0.0) == 1.0


def test_percentile_is_an_observed_value_never_interpolated() -> None:
    assert percentile([10.0, 20.0], 0.75) == 20.0
    assert percentile([7.0], 0.99) == 7.0


def test_percentile_of_nothing_is_nan_and_q_is_a_fraction() -> None:
    assert math.isnan(percentile([], 0.5))
    with pytest.raises(ValueError):
        percentile([1.0], 99)
