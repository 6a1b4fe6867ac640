"""Prometheus metrics every quietfix process may increment: named here once, so names and labels stay stable.

The API serves them at ``/metrics``. Processes without an HTTP server (ingest, diagnose, dispatch) call
:func:`serve_metrics` with their own port. Label values are bounded sets (see :func:`reason_label`), never ids:
one time series per device would make Prometheus the bottleneck.

Where to call them (the owners of those packages wire them in):

- ingest/service.py, after each committed batch: ``INGEST_MESSAGES.inc(len(messages))``,
  ``INGEST_READINGS.inc(written)``, ``INGEST_DUPLICATES.inc(total - written)``, ``INGEST_LAG``, per dead letter
  ``DEAD_LETTERS.labels(reason_label(reason)).inc()``, and ``INGEST_BACKLOG.set(self.backlog)``.
- diagnostics, when an incident opens: ``DETECTION_LATENCY.observe(opened_at - onset of its first finding)`` (equipment clock).
- dispatch / planning, after each plan: ``mark_plan_computed()`` (``PLAN_AGE`` then reads seconds since), and
  ``SLA_AT_RISK.labels(tier).set(n)`` for open work orders whose ETA misses their on-site due time.
- api/routes/commands.py (done): ``COMMANDS.labels(outcome).inc()``; api/routes/auth.py (done): logins.
"""

from __future__ import annotations

import logging
import re
import threading
import time

from prometheus_client import Counter, Gauge, Histogram, start_http_server

INGEST_MESSAGES = Counter("quietfix_ingest_messages", "MQTT messages ingest committed (stored or dead-lettered)")
INGEST_READINGS = Counter("quietfix_ingest_readings", "Telemetry readings written (one signal value each)")
INGEST_DUPLICATES = Counter("quietfix_ingest_duplicate_readings",
                            "Readings in batches already stored (redelivery or replay; harmless)")
INGEST_LAG = Gauge("quietfix_ingest_lag_seconds",
                   "Clock seconds from the newest reading of the last committed batch to its commit")
INGEST_BACKLOG = Gauge("quietfix_ingest_backlog_messages", "Messages received but not yet committed")
DEAD_LETTERS = Counter("quietfix_dead_letters", "Messages refused by ingest, by reason", ["reason"])
# Buckets from 1 s to 30 min: a threshold rule fires within seconds, a drift model may take many minutes.
DETECTION_LATENCY = Histogram("quietfix_detection_latency_seconds",
                              "From the first anomalous reading to the incident being opened",
                              buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800))
# The pipeline's own share: from the ingest receive time of the reading that decided an incident to the incident
# row committed by the diagnose process (bench.detect_latency). Target < 2 s; buckets resolve 50 ms to 30 s.
DETECTION_DECISION_LATENCY = Histogram("quietfix_detection_decision_latency_seconds",
                                       "From the deciding reading's ingest receive time to the incident committed",
                                       buckets=(0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30))
# Detection must never go silent (issue #19): device clocks, samples too late to feed the detectors, the watchdog.
CLOCK_FAULT_BATCHES = Counter("quietfix_clock_fault_batches",
                              "Telemetry batches stamped too far ahead of their receive time (stored apart)")
DIAGNOSE_LATE_SAMPLES = Counter("quietfix_diagnose_late_samples",
                                "Samples older than what the device's detectors already saw (not fed to them)")
DETECTION_STALL = Gauge("quietfix_detection_stall_seconds",
                        "Per device: wall seconds its oldest committed, not yet evaluated batch has waited "
                        "for diagnose (0: caught up)", ["device_id"])
DETECTION_STALLED_DEVICES = Gauge("quietfix_detection_stalled_devices",
                                  "Devices whose data has waited longer than the stall threshold")
DETECTION_STALL_ALARM = Gauge("quietfix_detection_stall_alarm", "1 while the detection_stalled alarm is raised")
PLAN_COMPUTED_AT = Gauge("quietfix_plan_computed_timestamp_seconds", "When the current dispatch plan was computed")
PLAN_AGE = Gauge("quietfix_plan_age_seconds", "Wall seconds since the current dispatch plan was computed (NaN: none)")
SLA_AT_RISK = Gauge("quietfix_sla_at_risk_work_orders",
                    "Open work orders whose ETA misses (or nearly misses) the on-site deadline", ["tier"])
COMMANDS = Counter("quietfix_commands", "Remote commands issued through the API, by outcome", ["outcome"])
LOGIN_FAILURES = Counter("quietfix_login_failures", "Sign-ins refused for a wrong username or password")
LOGIN_THROTTLED = Counter("quietfix_login_throttled", "Sign-ins refused by the rate limiter (HTTP 429)")

_log = logging.getLogger(__name__)

# Dead-letter reasons carry numbers and names ("payload too large (300000 bytes > ...)", "signal 'x' ..."); the
# label masks them so the number of series stays small.
_PARENS = re.compile(r"\s*\([^)]*\)")
_QUOTED = re.compile(r"'[^']*'")
_NUMBER = re.compile(r"\d+")


def reason_label(reason: str) -> str:
    """A bounded label for a dead-letter reason: parentheses dropped, quoted names and numbers masked."""
    label = _NUMBER.sub("N", _QUOTED.sub("*", _PARENS.sub("", reason))).strip()
    return label[:48] or "other"


_plan_lock = threading.Lock()
_plan_wall: list[float] = []


def mark_plan_computed(at_epoch_s: float | None = None) -> None:
    """Record that a plan was just computed (``at_epoch_s`` is the plan's clock time, maybe simulated)."""
    with _plan_lock:
        _plan_wall[:] = [time.monotonic()]
    PLAN_COMPUTED_AT.set(time.time() if at_epoch_s is None else at_epoch_s)


def _plan_age() -> float:
    with _plan_lock:
        return time.monotonic() - _plan_wall[0] if _plan_wall else float("nan")


PLAN_AGE.set_function(_plan_age)


def serve_metrics(port: int, addr: str = "127.0.0.1") -> None:
    """Expose this process's metrics on http://addr:port/metrics (for processes without the API)."""
    start_http_server(port, addr=addr)


def serve_process_metrics(process: str, port: int | None, addr: str = "127.0.0.1") -> bool:
    """What ``quietfix ingest|diagnose|dispatch`` call at start: serve metrics on ``port`` if one is configured.

    A port already taken (a second worker on the same host) is logged and the process runs on without metrics:
    losing the scrape must never stop ingest or dispatch. Returns whether the listener started."""
    if not port:
        return False
    try:
        serve_metrics(port, addr)
    except OSError as exc:
        _log.warning("metrics port unavailable", extra={"component": process, "port": port, "error": str(exc)})
        return False
    _log.info("metrics served", extra={"component": process, "port": port, "addr": addr})
    return True
