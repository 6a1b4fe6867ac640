"""Benchmarks runnable as ``python -m bench.<name>``; shared helpers only, no benchmark logic."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def resolve_data(path: Path) -> Path:
    """Resolve a data path against the repository root (never the CWD).

    A git worktree checked out one level deeper (``/work/wt/<name>``) than the main checkout does not have
    ``../shared`` beside it, so a relative default that does not exist is also tried against each parent
    of the repository root.
    """
    if path.is_absolute():
        return path
    first = (REPO_ROOT / path).resolve()
    if first.exists():
        return first
    for parent in REPO_ROOT.parents:
        candidate = (parent / path).resolve()
        if candidate.exists():
            return candidate
    return first
