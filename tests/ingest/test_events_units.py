"""Timeline lines for device events (pure)."""

from ingest.events import MAX_SUMMARY_CHARS, summarize


def test_summaries_name_what_the_device_reported() -> None:
    assert summarize("pump-1", "alarm_raised", {"signal": "flow_lpm", "value": 12.5}) == (
        "pump-1: alarm on flow_lpm (12.5)")
    assert summarize("pump-1", "alarm_cleared", {"signal": "flow_lpm"}) == "pump-1: alarm cleared on flow_lpm"
    assert summarize("pump-1", "state_changed", {"state": "stopped"}) == "pump-1: equipment stopped"
    assert summarize("pump-1", "buffer_overflow", {}) == "pump-1: buffer overflow"
    assert len(summarize("pump-1", "alarm_raised", {"signal": "x" * 1000})) == MAX_SUMMARY_CHARS
