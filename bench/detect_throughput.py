"""Detector throughput: samples evaluated per CPU-second, vectorised block path vs the per-sample scalar path.

    python -m bench.detect_throughput --devices 6000 --batch 10 --passes 6

What is timed (``time.process_time``: CPU seconds of this process, all threads, so a loaded machine changes the
wall clock but hardly the figure): everything the diagnose worker does per pass between "samples read from the
database" and "active findings handed to the classifier" -- the time-order rule, the detectors, the wear (RUL)
buckets, and building the findings of every device that has any. Not timed: generating the samples (the edge
simulator), classify and the incident state machine (the same for both paths).

Workload: ``--devices`` devices of the three simulated types (pump, chiller, compressor) sampled every
``--sample-s`` seconds, ``--batch`` samples per device per pass (the pipeline's 10-second batches at 1 Hz), about
``--fault-share`` of them with a developing or sudden fault (so findings exist and are materialised). Every path
first runs ``--warm`` samples per device untimed (spike/drift warm-ups, model EWMA), then ``--passes`` timed
passes. The scalar path (diagnostics.monitor.DeviceMonitor fed sample by sample, the pre-#17 code kept as the
test reference) is timed on ``--scalar-devices`` of the same devices: its cost per sample does not depend on the
fleet size. Both run with and without normal models (trained on healthy simulated history of other devices).
The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Mapping
from typing import Any

from diagnostics.fleet import Fleet
from diagnostics.loop_rules import in_time_order, monitor_config
from diagnostics.monitor import DeviceMonitor
from diagnostics.normal_model import NormalModel, train_normal_model
from diagnostics.rul import WearTracker, limits_from_config
from edge_agent.simulator import APPLICABLE_TYPES, FAULT_MODES, Equipment

T0 = 1_767_225_600.0  # 2026-01-01T00:00Z
TYPES = ("pump", "chiller", "compressor")
Sample = tuple[float, Mapping[str, float]]


def make_models(seed: int) -> dict[str, NormalModel]:
    """One normal model per type from a healthy day of a training device (one sample a minute)."""
    out = {}
    for et in TYPES:
        e = Equipment(f"train-{et}", et, seed=seed + 1000)
        out[et] = train_normal_model(et, [e.sample(T0 - 86400 + 60 * i) for i in range(1440)], version=f"{et}-b")
    return out


def make_stream(args: argparse.Namespace) -> tuple[dict[str, str], list[dict[str, list[Sample]]]]:
    """(device -> type, passes of {device: samples}); the first pass is the untimed warm-up."""
    rng = random.Random(args.seed)
    devs: dict[str, Equipment] = {}
    for i in range(args.devices):
        et = TYPES[i % len(TYPES)]
        e = Equipment(f"{et}-{i:05d}", et, seed=args.seed)
        if rng.random() < args.fault_share:
            mode = rng.choice([m for m in FAULT_MODES if et in APPLICABLE_TYPES[m]])
            e.inject(mode, T0 + rng.uniform(0.3, 0.9) * (args.warm + args.batch * args.passes) * args.sample_s,
                     develop_s=rng.uniform(30, 600))
        devs[e.device_id] = e
    sizes = [args.warm] + [args.batch] * args.passes
    passes: list[dict[str, list[Sample]]] = []
    k = 0
    for n in sizes:
        passes.append({d: [(T0 + (k + j) * args.sample_s, e.sample(T0 + (k + j) * args.sample_s))
                           for j in range(n)] for d, e in devs.items()})
        k += n
    return {d: e.equipment_type for d, e in devs.items()}, passes


def run_block(types: dict[str, str], passes: list[dict[str, list[Sample]]],
              models: dict[str, NormalModel]) -> tuple[float, int, int]:
    """(CPU s, samples, findings built) of the timed passes through the fleet's blocks."""
    fleet = Fleet()
    for d, et in types.items():
        fleet.add(d, et, monitor_config(et, None, models.get(et)), models.get(et))
    cpu, n, built = 0.0, 0, 0
    for k, batch in enumerate(passes):
        c0 = time.process_time()
        feed = {d: in_time_order(fleet.last_t(d), s) for d, s in batch.items()}
        fleet.observe(feed)
        for d in fleet.with_findings():
            built += len(fleet.active(d))
        if k:
            cpu += time.process_time() - c0
            n += sum(len(s) for s in feed.values())
    return cpu, n, built


def run_scalar(types: dict[str, str], passes: list[dict[str, list[Sample]]], models: dict[str, NormalModel],
               limit: int) -> tuple[float, int, int]:
    """The same through per-device DeviceMonitor + WearTracker, sample by sample (the reference path)."""
    mons: dict[str, tuple[DeviceMonitor, WearTracker]] = {}
    for d in list(types)[:limit]:
        et = types[d]
        mon = DeviceMonitor(d, et, monitor_config(et, None, models.get(et)), models.get(et))
        mons[d] = (mon, WearTracker(limits_from_config(mon.cfg)))
    cpu, n, built = 0.0, 0, 0
    for k, batch in enumerate(passes):
        c0 = time.process_time()
        m = 0
        for d, (mon, wear) in mons.items():
            for t, v in in_time_order(mon.last_t, batch[d]):
                mon.observe(t, v)
                wear.observe(t, v)
                m += 1
            built += len(mon.active())
        if k:
            cpu += time.process_time() - c0
            n += m
    return cpu, n, built


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=6000)
    ap.add_argument("--scalar-devices", type=int, default=600)
    ap.add_argument("--batch", type=int, default=10, help="samples per device per pass")
    ap.add_argument("--passes", type=int, default=6, help="timed passes")
    ap.add_argument("--warm", type=int, default=60, help="untimed warm-up samples per device")
    ap.add_argument("--sample-s", type=float, default=1.0)
    ap.add_argument("--fault-share", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    print(f"python -m bench.detect_throughput {' '.join(sys.argv[1:] if argv is None else argv)}  "
          f"(load average {os.getloadavg()[0]:.2f} at start; figures are CPU seconds of this process)",
          file=sys.stderr)
    types, passes = make_stream(args)
    models = make_models(args.seed)
    out: dict[str, Any] = {"devices": args.devices, "scalar_devices": min(args.scalar_devices, args.devices),
                           "batch": args.batch, "passes": args.passes, "seed": args.seed}
    for label, ms in (("no_model", {}), ("model", models)):
        cpu_b, n_b, built_b = run_block(types, passes, ms)
        cpu_s, n_s, built_s = run_scalar(types, passes, ms, args.scalar_devices)
        out[label] = {"block_samples_per_cpu_s": round(n_b / cpu_b), "block_us_per_sample": round(1e6 * cpu_b / n_b, 2),
                      "scalar_samples_per_cpu_s": round(n_s / cpu_s), "scalar_us_per_sample": round(1e6 * cpu_s / n_s, 2),
                      "speedup": round((n_b / cpu_b) / (n_s / cpu_s), 1), "block_findings_built": built_b,
                      "scalar_findings_built": built_s}
        print(f"{label}: block {out[label]['block_samples_per_cpu_s']}/CPU-s ({out[label]['block_us_per_sample']} us), "
              f"scalar {out[label]['scalar_samples_per_cpu_s']}/CPU-s ({out[label]['scalar_us_per_sample']} us)",
              file=sys.stderr)
    out["target_samples_per_cpu_s"] = 20000
    out["load_average_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
