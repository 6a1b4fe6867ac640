"""`quietfix train`: the product learns its models from its own history, on a schedule (issue #16 items 1, 2).

Normal models (PCA T^2/Q and the shift statistics, diagnostics/normal_model.py) are trained per equipment type as
soon as its healthy history spans a daily load cycle, and retrained when older than ``retrain_after_s``. Healthy
means: no incident on the device around that time (``exclude_before_s`` before it opened -- the fault was already
developing -- to ``exclude_after_s`` after it closed). Each version is stored with its training window, sample
count and metrics (a false-alarm rate on the last fifth of the window, held out of the fit); the diagnose loop
reads the newest version on its next refresh, so a new model is in use without a restart and the drift
detectors come on with it (diagnostics/service.py, ``monitor_config``).

The fleet's RUL model (diagnostics/rul_learned.py) is trained per type once ``rul_min_failures`` wear failures
have been repaired on site (the labels), and again when more have been repaired since. Until then the live RUL
stays the trend estimate, and every estimate says which one produced it.

Own process (not a hook in the diagnose loop): a fit takes seconds of CPU that must not delay detection.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import psycopg

from core.audit import Actor
from core.audit import record as audit
from core.clock import Clock, to_datetime
from core.loops import run_polling
from core.settings import TrainingSettings
from diagnostics import learning_repository as lrepo
from diagnostics import repository as repo
from diagnostics.config import equipment_config
from diagnostics.normal_model import train_normal_model
from diagnostics.rul import LIKELY_MODE, limits_from_config
from diagnostics.rul_learned import CAP_CYCLES, CYCLE_S, Failure, bucket_history, train_learned

log = logging.getLogger(__name__)
MIN_SAMPLES = 200  # as diagnostics.training: fewer healthy samples cannot describe a type's normal behaviour
HOLDOUT_FRAC = 0.2  # the newest fifth of the window grades the model fitted on the rest (false-alarm rate)
WEAR_MODES = tuple(sorted(set(LIKELY_MODE.values())))  # gradual faults: the ones a remaining life exists for
RUL_LOOKBACK_S = 90 * 86400.0  # failures older than telemetry retention have no history left to learn from
MAX_LIFE_S = 7 * 86400.0  # a life's history is read back at most this far (the same bound the live estimate uses)
TRAIN_ACTOR = Actor("process:train")


def _pivot(rows: list[tuple[str, datetime, list[str], list[float]]]) -> tuple[list[dict[str, float]], list[float]]:
    """Sample rows -> {signal: value} dicts (samples split over several rows of one instant are merged)."""
    out: list[dict[str, float]] = []
    ts: list[float] = []
    key: tuple[str, datetime] | None = None
    for device_id, t, names, values in rows:
        if (device_id, t) != key:
            out.append({})
            ts.append(t.timestamp())
            key = (device_id, t)
        out[-1].update({n: float(v) for n, v in zip(names, values, strict=True)})
    return out, ts


def train_normal(conn: psycopg.Connection, equipment_type: str, now: float,
                 s: TrainingSettings) -> dict[str, Any] | None:
    """Train and store one type's next normal model version; None (nothing stored) while history is too thin."""
    start, end = to_datetime(now - s.window_s), to_datetime(now)
    ext = lrepo.healthy_extent(conn, equipment_type, start, end, before_s=s.exclude_before_s,
                               after_s=s.exclude_after_s)
    n = int(ext["samples"])
    span = (ext["last_ts"] - ext["first_ts"]).total_seconds() if n else 0.0
    if n < MIN_SAMPLES or span < s.min_span_s:
        log.debug("normal model not trained: history too thin", extra={"equipment_type": equipment_type,
                                                                       "samples": n, "span_s": span})
        return None
    stride = math.ceil(n / s.max_samples)
    samples, ts = _pivot(lrepo.healthy_samples(conn, equipment_type, start, end, before_s=s.exclude_before_s,
                                               after_s=s.exclude_after_s, stride=stride))
    cut = float(np.quantile(ts, 1 - HOLDOUT_FRAC))
    fit_rows = [r for r, t in zip(samples, ts, strict=True) if t < cut]
    held = [r for r, t in zip(samples, ts, strict=True) if t >= cut]
    probe = train_normal_model(equipment_type, fit_rows, version="probe")
    x = np.array([[r.get(sig, np.nan) for sig in probe.signals] for r in held])
    x = x[np.all(np.isfinite(x), axis=1)]
    far = float(np.mean(probe.score_matrix(x)[0] >= 1.0)) if len(x) else None
    version = repo.next_model_version(conn, equipment_type)
    model = train_normal_model(equipment_type, samples, version=f"{equipment_type}-v{version}")
    devices = int(ext["devices"])
    metrics = {"signals": list(model.signals), "fit_samples": len(fit_rows), "holdout_samples": len(x),
               "holdout_false_alarm_rate": None if far is None else round(far, 4), "stride": stride,
               "healthy_span_h": round(span / 3600, 2)}
    with conn.transaction():
        lrepo.insert_normal_model(conn, equipment_type=equipment_type, version=version, model=model.to_bytes(),
                                  at=end, samples=len(samples), devices=devices, start=ext["first_ts"],
                                  end=ext["last_ts"], metrics=metrics)
        audit(conn, TRAIN_ACTOR, "model.normal_trained", "normal_model", f"{equipment_type}/v{version}",
              {"samples": len(samples), "devices": devices, **metrics})
    log.info("normal model trained", extra={"equipment_type": equipment_type, "version": version,
                                            "samples": len(samples), "false_alarm_rate": far})
    return {"equipment_type": equipment_type, "version": version, "samples": len(samples), **metrics}


def labelled_failures(conn: psycopg.Connection, equipment_type: str, now: float) -> list[dict[str, Any]]:
    """Wear failures of the type that a completed repair confirmed, within telemetry retention (cheap)."""
    return lrepo.run_to_failure(conn, equipment_type, WEAR_MODES, to_datetime(now - RUL_LOOKBACK_S))


def failure_histories(conn: psycopg.Connection, labelled: list[dict[str, Any]],
                      signals: list[str]) -> list[Failure]:
    """Each labelled failure with its history (cycle means) since the asset's previous repair."""
    out = []
    for f in labelled:
        failed = f["failed_at"]
        floor = to_datetime(failed.timestamp() - MAX_LIFE_S)
        start = f["life_start"] if f["life_start"] is not None and f["life_start"] > floor else None
        start = start or lrepo.first_sample(conn, f["device_id"], floor, failed)
        if start is None:
            continue
        rows = lrepo.cycle_means(conn, f["device_id"], signals, start, failed, CYCLE_S)
        h = bucket_history(rows, signals, start.timestamp(), failed.timestamp())
        if len(h):
            out.append(Failure(f["device_id"], f["fault_mode"], h))
    return out


def censored_lives(conn: psycopg.Connection, equipment_type: str, signals: list[str], now: float,
                   limit: int) -> list[np.ndarray]:
    """Lives still running without an incident, up to ``CAP_CYCLES`` before now: known to have at least that
    much life left at their end (the trees must also see what a healthy asset looks like, not only failures)."""
    end = now - CAP_CYCLES * CYCLE_S
    out = []
    for r in lrepo.healthy_lives(conn, equipment_type, limit):
        floor = to_datetime(max(now - MAX_LIFE_S, 0.0))
        start = r["life_start"] if r["life_start"] is not None and r["life_start"] > floor else None
        start = start or lrepo.first_sample(conn, r["device_id"], floor, to_datetime(end))
        if start is None or start.timestamp() >= end:
            continue
        rows = lrepo.cycle_means(conn, r["device_id"], signals, start, to_datetime(end), CYCLE_S)
        h = bucket_history(rows, signals, start.timestamp(), end)
        if len(h):
            out.append(h)
    return out


def train_rul(conn: psycopg.Connection, equipment_type: str, now: float, s: TrainingSettings,
              known_failures: int, *, aged: bool = False) -> dict[str, Any] | None:
    """Train the type's next RUL model when enough failures are labelled and either more than last time or the
    last version is older than ``retrain_after_s`` (the lives still running have grown since)."""
    labelled = labelled_failures(conn, equipment_type, now)
    if len(labelled) < s.rul_min_failures or (len(labelled) <= known_failures and not aged):
        return None
    signals = sorted(limits_from_config(equipment_config(equipment_type)))
    failures = failure_histories(conn, labelled, signals)
    lives = censored_lives(conn, equipment_type, signals, now, limit=2 * len(failures))
    try:
        model = train_learned(equipment_type, signals, failures, lives)
    except ValueError as exc:
        log.info("RUL model not trained", extra={"equipment_type": equipment_type, "error": str(exc)})
        return None
    version = lrepo.next_rul_version(conn, equipment_type)
    cycles = sum(len(f.history) for f in failures)
    first = min(f.history.shape[0] for f in failures)
    start, end = to_datetime(now - RUL_LOOKBACK_S), to_datetime(now)
    metrics = {**model.metrics, "labelled": len(labelled)}
    with conn.transaction():
        lrepo.insert_rul_model(conn, equipment_type=equipment_type, version=version, model=model.to_doc(), at=end,
                               start=start, end=end, failures=len(failures), samples=cycles, metrics=metrics)
        audit(conn, TRAIN_ACTOR, "model.rul_trained", "rul_model", f"{equipment_type}/v{version}",
              {"failures": len(failures), "cycles": cycles, "shortest_history": first, **metrics})
    log.info("RUL model trained", extra={"equipment_type": equipment_type, "version": version,
                                         "failures": len(failures), **metrics})
    return {"equipment_type": equipment_type, "version": version, "failures": len(failures), **metrics}


class TrainingJob:
    """One look per poll: which types' models are due, train those. ``trained`` counts versions stored."""

    def __init__(self, connect: Callable[[], psycopg.Connection], settings: TrainingSettings, clock: Clock) -> None:
        self._connect = connect
        self._settings = settings
        self._clock = clock
        self.normal_trained = 0
        self.rul_trained = 0

    def run(self, stop: threading.Event) -> None:
        run_polling("train", self._connect, self.tick, stop, self._settings.poll_interval_s)

    def tick(self, conn: psycopg.Connection) -> list[dict[str, Any]]:
        now = self._clock.now()
        s = self._settings
        latest_normal: dict[str, datetime] = {}
        for v in lrepo.normal_model_versions(conn):
            latest_normal.setdefault(v["equipment_type"], v["trained_at"])
        latest_rul: dict[str, dict[str, Any]] = {}
        for v in lrepo.rul_model_versions(conn):
            latest_rul.setdefault(v["equipment_type"], v)
        done = []
        for eq in lrepo.equipment_types(conn):
            at = latest_normal.get(eq)
            if at is None or now - at.timestamp() >= s.retrain_after_s:
                out = train_normal(conn, eq, now, s)
                if out is not None:
                    self.normal_trained += 1
                    done.append({"model": "normal", **out})
            prev = latest_rul.get(eq)
            # A new version when more failures have been labelled, or on the normal models' schedule.
            known = 0 if prev is None else int(prev["metrics"].get("labelled", prev["failures"]))
            aged = prev is not None and now - prev["trained_at"].timestamp() >= s.retrain_after_s
            out = train_rul(conn, eq, now, s, known, aged=aged)
            if out is not None:
                self.rul_trained += 1
                done.append({"model": "rul", **out})
        return done


def model_versions(conn: psycopg.Connection) -> dict[str, Any]:
    """Every stored version of both model kinds; the newest per type is the one in use (``current``), and a type
    with a normal model has its drift detectors on (diagnostics/service.py, ``monitor_config``)."""
    out: dict[str, Any] = {"normal": [], "rul": []}
    for kind, rows in (("normal", lrepo.normal_model_versions(conn)), ("rul", lrepo.rul_model_versions(conn))):
        seen: set[str] = set()
        for r in rows:
            out[kind].append({**r, "current": r["equipment_type"] not in seen})
            seen.add(r["equipment_type"])
    trained = {r["equipment_type"] for r in out["normal"]}
    learned = {r["equipment_type"] for r in out["rul"]}
    out["equipment_types"] = [{"equipment_type": eq, "drift_detectors": eq in trained,
                               "rul_method": "learned" if eq in learned else "trend"}
                              for eq in lrepo.equipment_types(conn)]
    return out
