"""Matching a baseline's knob to a target, so a comparison is made at equal service rather than at whatever
service the baseline's textbook setting happens to give."""

from __future__ import annotations

from collections.abc import Callable


def smallest_reaching(f: Callable[[float], float], target: float, lo: float, hi: float, tol: float = 1e-3
                      ) -> tuple[float, float]:
    """(x, f(x)) for the smallest x in [lo, hi] with f(x) >= target, by bisection, f taken as non-decreasing.

    When even ``hi`` falls short, (hi, f(hi)) is returned (the caller reports the shortfall); when ``lo``
    already reaches the target, (lo, f(lo)). Why bisection and not a grid: the first-visit rate of a min/max
    policy is a step function of the safety factor, and bisection finds the step that first reaches the target
    in ~log2((hi - lo) / tol) runs.
    """
    if lo > hi or tol <= 0:
        raise ValueError("need lo <= hi and tol > 0")
    f_hi = f(hi)
    if f_hi < target:
        return hi, f_hi
    f_lo = f(lo)
    if f_lo >= target:
        return lo, f_lo
    while hi - lo > tol:
        mid = (lo + hi) / 2.0
        f_mid = f(mid)
        if f_mid >= target:
            hi, f_hi = mid, f_mid
        else:
            lo = mid
    return hi, f_hi
