"""Live RUL from the fleet's own learned model, with the trend as fallback (the diagnose loop's RUL pass hook).

The trend estimator (diagnostics/rul.py, ``WearTracker``) produces a row per asset; ``LearnedRul.apply`` replaces
the estimate with the learned model's (diagnostics/rul_learned.py) where the asset's type has one and the asset
has at least ``MIN_CYCLES`` of history since its last repair, and stamps every row with ``method``: 'learned' or
'trend'. An asset already at its limit keeps the trend row (it has no remaining life to estimate).

The learned model needs the history since the last repair (its baseline feature), which the loop's streaming
state does not keep; so each asset's cycle means are read from the database once and then extended
incrementally: one query per equipment type per pass, and one vectorised prediction for all its assets (per-asset
queries and predictions took about a second per pass for 60 assets and left the 300x demo's detection behind).
A new repair (a new life) or a new model version restarts an asset's history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg

from core.clock import to_datetime
from diagnostics import learning_repository as lrepo
from diagnostics.rul import BASELINE
from diagnostics.rul_learned import (
    CYCLE_S,
    HEALTHY_FRAC,
    MIN_CYCLES,
    LearnedRulModel,
    bucket_history,
    fleet_features,
)

log = logging.getLogger(__name__)
MAX_LIFE_S = 7 * 86400.0  # same bound as training (diagnostics/trainer.py): older history is not read


@dataclass
class _Life:
    start: float  # clock s: the asset's last repair, or its first telemetry within MAX_LIFE_S
    done_until: float  # cycle boundary up to which the means are read
    rows: list[tuple[float, str, float]] = field(default_factory=list)
    head_end: float = 0.0  # end of the life's first BASELINE cycles (kept for the baseline feature)


class LearnedRul:
    """Keeps the loaded RUL models and each asset's cycle history between the loop's RUL passes."""

    def __init__(self) -> None:
        self._models: dict[str, LearnedRulModel] = {}
        self._versions: dict[str, int] = {}
        self._lives: dict[str, _Life] = {}

    def apply(self, conn: psycopg.Connection, rows: list[dict[str, Any]], now: float,
              equipment_of: Callable[[str], str | None]) -> list[dict[str, Any]]:
        for r in rows:
            r["method"] = "trend"
        self._refresh_models(conn)
        if not self._models:
            return rows
        by_type: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            eq = equipment_of(r["device_id"]) or ""
            if eq in self._models and r["status"] != "at_limit":
                by_type.setdefault(eq, []).append(r)
        if not by_type:
            return rows
        repairs = lrepo.last_repairs(conn, [r["device_id"] for rs in by_type.values() for r in rs])
        for eq, mine in by_type.items():  # one query and one vectorised prediction per type
            model = self._models[eq]
            histories = self._histories(conn, [r["device_id"] for r in mine], model, repairs, now)
            ready = [(r, histories[r["device_id"]]) for r in mine if r["device_id"] in histories]
            if not ready:
                continue
            last = np.vstack([fleet_features(h, model.window)[-1:] for _, h in ready])
            for (r, _), cycles in zip(ready, np.clip(model.predict_features(last), 0, model.cap), strict=True):
                self._estimate(r, model, float(cycles), now)
        return rows

    def _refresh_models(self, conn: psycopg.Connection) -> None:
        heads = lrepo.rul_model_heads(conn)
        if heads == self._versions:
            return
        models = {}
        for eq, (version, doc) in lrepo.latest_rul_models(conn).items():
            try:
                models[eq] = LearnedRulModel.from_doc(doc)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("RUL model unreadable", extra={"equipment_type": eq, "version": version,
                                                           "error": str(exc)[:200]})
        self._models, self._versions = models, heads
        self._lives = {}  # features of a new model version may differ: read each history afresh

    def _histories(self, conn: psycopg.Connection, devices: list[str], model: LearnedRulModel,
                   repairs: Mapping[str, Any], now: float) -> dict[str, np.ndarray]:
        """Each asset's cycles x signals since its last repair (complete cycles only), when long enough.

        Only what the features read is kept: the life's first ``BASELINE`` cycles (the asset's own baseline)
        and the last ``window`` cycles (level and slope); the cycles between are forward-filled, which no feature
        of the last row looks at. So the first look reads two short spans, not days of telemetry.
        """
        floor = now - MAX_LIFE_S
        until = now - now % CYCLE_S
        tail = (model.window + 1) * CYCLE_S
        born = [d for d in devices if d not in self._lives or self._new_life(d, repairs.get(d), floor)]
        if born:
            firsts = lrepo.first_samples(conn, born, to_datetime(floor), to_datetime(now))
            heads: dict[str, float] = {}
            for d in born:
                repaired = repairs.get(d)
                start = repaired.timestamp() if repaired is not None and repaired.timestamp() > floor else None
                start = start if start is not None else (firsts[d].timestamp() if d in firsts else None)
                if start is None:
                    self._lives.pop(d, None)
                    continue
                heads[d] = start
            got: dict[str, list[tuple[float, str, float]]] = {}
            for start in set(heads.values()):  # exact life starts (a repair mid-cycle): one query per distinct start
                same = [d for d, s in heads.items() if s == start]
                hi = min(until, start - start % CYCLE_S + BASELINE * CYCLE_S)
                if hi > start:
                    got.update(lrepo.cycle_means_many(conn, same, model.signals, to_datetime(start),
                                                      to_datetime(hi), CYCLE_S))
            if heads:
                for d, start in heads.items():
                    first = start - start % CYCLE_S
                    head_end = min(until, first + BASELINE * CYCLE_S)
                    rows = [r for r in got.get(d, []) if first <= r[0] < head_end]
                    self._lives[d] = _Life(start, max(head_end, until - tail), rows, head_end)
        stale = [d for d in devices if d in self._lives and self._lives[d].done_until < until]
        if stale:
            since = min(self._lives[d].done_until for d in stale)
            fresh = lrepo.cycle_means_many(conn, stale, model.signals, to_datetime(since), to_datetime(until),
                                           CYCLE_S)
            for d in stale:
                life = self._lives[d]
                keep_from = until - tail
                life.rows = ([r for r in life.rows if r[0] < life.head_end or r[0] >= keep_from]
                             + [r for r in fresh.get(d, []) if r[0] >= life.done_until])
                life.done_until = until
        out = {}
        for d in devices:
            known = self._lives.get(d)
            if known is None:
                continue
            h = bucket_history(known.rows, model.signals, known.start, until)
            if len(h) >= MIN_CYCLES:
                out[d] = h
        return out

    def _new_life(self, device_id: str, repaired: Any, floor: float) -> bool:
        """A repair after the life we track began: the asset starts a new life (its history restarts)."""
        return repaired is not None and repaired.timestamp() > max(floor, self._lives[device_id].start)

    @staticmethod
    def _estimate(row: dict[str, Any], model: LearnedRulModel, cycles: float, now: float) -> None:
        row["method"] = "learned"
        if cycles >= HEALTHY_FRAC * model.cap:  # nothing observable yet: no failure in sight
            row.update(status="healthy", signal=None, rul_s=None, rul_low_s=None, rul_high_s=None, failure_at=None,
                       failure_earliest_at=None, failure_latest_at=None, fault_mode=None)
            return
        lo_c = max(0.0, cycles + model.interval[0])
        hi_c = cycles + model.interval[1]
        rul, lo = cycles * CYCLE_S, lo_c * CYCLE_S
        hi = hi_c * CYCLE_S if hi_c < model.cap else None  # beyond what the model can see: open-ended
        mode = row.get("fault_mode") if row["status"] == "degrading" else None
        row.update(status="degrading", rul_s=rul, rul_low_s=lo, rul_high_s=hi,
                   failure_at=to_datetime(now + rul), failure_earliest_at=to_datetime(now + lo),
                   failure_latest_at=to_datetime(now + hi) if hi is not None else None,
                   fault_mode=mode or model.likely_mode,
                   signal=row.get("signal") if row["status"] == "degrading" else None)


def equipment_lookup(devices: Mapping[str, Any]) -> Callable[[str], str | None]:
    """``equipment_of`` over the loop's device contexts (anything with an ``equipment_type``)."""
    return lambda device_id: getattr(devices.get(device_id), "equipment_type", None)
