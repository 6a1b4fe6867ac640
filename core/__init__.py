"""Shared foundation: settings, clock, database access and migrations, and the device message contracts.

The lowest layer: it imports no other quietfix package.
"""

from core.clock import Clock, ManualClock, ScaledClock, SystemClock
from core.settings import Settings, load_settings

__all__ = ["Clock", "ManualClock", "ScaledClock", "Settings", "SystemClock", "load_settings"]
