"""Process handling shared by the benchmarks that start `quietfix` subprocesses."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Sequence


def stop_processes(procs: Sequence[subprocess.Popen], timeout_s: float) -> None:
    """SIGTERM every live process first (so they shut down in parallel), then wait for each and kill stragglers."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()
