"""Dispatch: who goes where, when. The foundation assigns the nearest qualified free technician."""

from dispatch.service import DispatchLoop, FreeTechnician, nearest_qualified
from dispatch.visits import complete, due_arrivals, due_completions, mark_arrived

__all__ = ["DispatchLoop", "FreeTechnician", "complete", "due_arrivals", "due_completions", "mark_arrived", "nearest_qualified"]
