"""One percentile definition for every benchmark, so p99 means the same thing in each printed figure.

Nearest-rank (the smallest observed value with at least q of the sample at or below it): it is always a latency
that actually happened, and it never understates the tail the way interpolation between two samples can.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; ``q`` is a fraction in [0, 1] (0.99 for p99); NaN for no values."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be a fraction in [0, 1], got {q}")
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]
