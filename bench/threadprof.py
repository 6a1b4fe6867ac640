"""Run a module under cProfile in EVERY thread (``python -m cProfile`` sees only the main thread).

    python -m bench.threadprof OUT.prof -m quietfix.cli ingest

Why: the ingest worker does its work in paho's network thread and its own writer thread, so the standard
profiler's output is one ``lock.acquire`` in the main thread. The per-thread profiles are merged into ``OUT.prof``
at exit (SIGTERM is turned into a normal exit so the file gets written).
"""

from __future__ import annotations

import atexit
import cProfile
import pstats
import runpy
import signal
import sys
import threading
from typing import Any

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


def _install() -> None:
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        prof = cProfile.Profile()
        with _lock:
            _profiles.append(prof)
        prof.enable()
        try:
            original(self)
        finally:
            prof.disable()

    threading.Thread.run = run  # type: ignore[method-assign]


def _dump(out: str) -> None:
    with _lock:
        profiles = list(_profiles)
    stats: pstats.Stats | None = None
    for prof in profiles:
        prof.create_stats()
        if stats is None:
            stats = pstats.Stats(prof)
        else:
            stats.add(prof)
    if stats is not None:
        stats.dump_stats(out)


def main() -> None:
    if len(sys.argv) < 4 or sys.argv[2] != "-m":
        raise SystemExit("usage: python -m bench.threadprof OUT.prof -m MODULE [ARGS...]")
    out, module = sys.argv[1], sys.argv[3]
    sys.argv = [module, *sys.argv[4:]]
    _install()
    main_prof = cProfile.Profile()
    _profiles.append(main_prof)
    atexit.register(_dump, out)

    def on_term(_sig: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    main_prof.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        main_prof.disable()


if __name__ == "__main__":
    main()
