"""Diagnostics: detectors over telemetry, incidents with SLA clocks, work orders for visits."""

from diagnostics.service import DEFAULT_RULES, SLA_BY_TIER, DiagnoseLoop, ThresholdRule

__all__ = ["DEFAULT_RULES", "SLA_BY_TIER", "DiagnoseLoop", "ThresholdRule"]
