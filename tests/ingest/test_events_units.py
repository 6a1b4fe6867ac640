"""Timeline lines for device events (pure): the English summary and the message it is rendered from."""

from i18n import render
from ingest.events import MAX_PARAM_CHARS, MAX_SUMMARY_CHARS, event_message, summarize


def test_summaries_name_what_the_device_reported() -> None:
    assert summarize("pump-1", "alarm_raised", {"signal": "flow_lpm", "value": 12.5}) == (
        "pump-1: alarm on flow_lpm (12.5)")
    assert summarize("pump-1", "alarm_cleared", {"signal": "flow_lpm"}) == "pump-1: alarm cleared on flow_lpm"
    assert summarize("pump-1", "state_changed", {"state": "stopped"}) == "pump-1: equipment stopped"
    assert summarize("pump-1", "buffer_overflow", {}) == "pump-1: buffer overflow"
    assert len(summarize("pump-1", "alarm_raised", {"signal": "x" * 1000})) == MAX_SUMMARY_CHARS


def test_event_lines_are_messages_that_read_in_chinese() -> None:
    """The timeline stores the line as a catalogue message (migration 0821): a zh-CN reader sees Chinese, with
    the device's own names (signal, unknown state or event kind) quoted as sent."""
    zh = [render(event_message("pump-1", kind, data).to_json(), "zh-CN", "Asia/Shanghai") for kind, data in (
        ("alarm_raised", {"signal": "flow_lpm", "value": 12.5}),
        ("alarm_cleared", {"signal": "flow_lpm"}),
        ("state_changed", {"state": "stopped"}),
        ("state_changed", {"state": "warming_up"}),
        ("buffer_overflow", {}),
        ("door_opened", {}))]
    assert zh == ["pump-1：flow_lpm 报警（12.5）", "pump-1：flow_lpm 报警解除", "pump-1：设备已停止",
                  "pump-1：设备warming_up", "pump-1：缓冲区溢出", "pump-1：door opened"]
    assert event_message("pump-1", "alarm_raised", {"signal": True, "value": True}).params["hasValue"] == "no"
    long = event_message("pump-1", "alarm_raised", {"signal": "x" * 1000}).params["signal"]
    assert len(long) == MAX_PARAM_CHARS
