"""Live RUL from the fleet's own learned model, with the trend as fallback (the diagnose loop's RUL pass hook).

The trend estimator (diagnostics/rul.py, ``WearTracker``) produces a row per asset; ``LearnedRul.apply`` replaces
the estimate with the learned model's (diagnostics/rul_learned.py) where the asset's type has one and the asset
has at least ``MIN_CYCLES`` of history since its last repair, and stamps every row with ``method``: 'learned' or
'trend'. An asset already at its limit keeps the trend row (it has no remaining life to estimate).

The learned model needs the history since the last repair (its baseline and age features), which the loop's
streaming state does not keep; so each asset's cycle means are read from the database once and then extended
incrementally, one query per asset per completed cycle. A new repair (a new life) or a new model version
restarts an asset's history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from core.clock import to_datetime
from diagnostics import learning_repository as lrepo
from diagnostics.rul_learned import CYCLE_S, HEALTHY_FRAC, MIN_CYCLES, LearnedRulModel, bucket_history

log = logging.getLogger(__name__)
MAX_LIFE_S = 7 * 86400.0  # same bound as training (diagnostics/trainer.py): older history is not read


@dataclass
class _Life:
    start: float  # clock s: the asset's last repair, or its first telemetry within MAX_LIFE_S
    done_until: float  # cycle boundary up to which the means are read
    rows: list[tuple[float, str, float]] = field(default_factory=list)


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
        mine = [r for r in rows if (equipment_of(r["device_id"]) or "") in self._models]
        repairs = lrepo.last_repairs(conn, [r["device_id"] for r in mine])
        for r in mine:
            model = self._models[equipment_of(r["device_id"]) or ""]
            try:
                history = self._history(conn, r["device_id"], model, repairs.get(r["device_id"]), now)
            except (ValueError, KeyError) as exc:
                log.warning("learned RUL skipped", extra={"device_id": r["device_id"], "error": str(exc)[:200]})
                continue
            if history is None or r["status"] == "at_limit":
                continue
            self._estimate(r, model, model.predict_last(history), now)
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

    def _history(self, conn: psycopg.Connection, device_id: str, model: LearnedRulModel, repaired: Any,
                 now: float) -> Any:
        """The asset's cycles x signals since its last repair (complete cycles only); None while too short."""
        floor = now - MAX_LIFE_S
        life = self._lives.get(device_id)
        start = repaired.timestamp() if repaired is not None and repaired.timestamp() > floor else None
        if life is None or (start is not None and start > life.start):
            if start is None:
                first = lrepo.first_sample(conn, device_id, to_datetime(floor), to_datetime(now))
                if first is None:
                    return None
                start = first.timestamp()
            life = _Life(start, start)
            self._lives[device_id] = life
        until = now - now % CYCLE_S
        if until > life.done_until:
            life.rows += lrepo.cycle_means(conn, device_id, model.signals, to_datetime(life.done_until),
                                           to_datetime(until), CYCLE_S)
            life.done_until = until
        h = bucket_history(life.rows, model.signals, life.start, until)
        return h if len(h) >= MIN_CYCLES else None

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
