"""The per-device time-order rule of the diagnose loop (issue #19): the detectors only ever see time move forward.

A sample no newer than the newest one a device's detectors already saw (late data, e.g. a backlog that arrives
after live data) is counted and not fed; everything newer is fed once, in time order.
"""

from __future__ import annotations

from prometheus_client import REGISTRY

from diagnostics.fleet import Fleet
from diagnostics.loop_rules import in_time_order, monitor_config

from .synth import stream


def late_total() -> float:
    return REGISTRY.get_sample_value("quietfix_diagnose_late_samples_total") or 0.0


def test_late_samples_are_counted_and_never_fed_to_the_detectors() -> None:
    fleet = Fleet()
    fleet.add("pump-9001", "pump", monitor_config("pump", None, None), None)
    samples = list(stream("pump", 0, 6, seed=3))
    before = late_total()
    fed = in_time_order(fleet.last_t("pump-9001"), [samples[0], samples[3], samples[1]])
    assert fed == [samples[0], samples[3]]
    fleet.observe({"pump-9001": fed})
    fed = in_time_order(fleet.last_t("pump-9001"), [samples[3], samples[5], samples[4]])
    assert fed == [samples[5]]
    fleet.observe({"pump-9001": fed})
    assert fleet.last_t("pump-9001") == samples[5][0]
    assert late_total() - before == 3
