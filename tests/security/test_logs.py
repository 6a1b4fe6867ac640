"""Structured logs: every process logs one JSON object per line (core/logs.py), with the ``extra`` fields kept
as keys, so a log pipeline can filter on device_id, incident_id, reason... without parsing prose."""

from __future__ import annotations

import io
import json
import logging

from core.logs import JsonFormatter


def test_one_json_object_per_line_with_extra_fields_and_exceptions() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("quietfix.test_logs")
    log.addHandler(handler)
    log.propagate = False  # the suite fails on error records reaching the root logger; this one is on purpose
    log.setLevel(logging.INFO)
    try:
        log.info("messages dead-lettered\nsecond line", extra={"count": 2, "reason": "payload too large"})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("pass failed", extra={"device_id": "pump-0001"})
    finally:
        log.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # a newline in a message stays inside its JSON string
    first, second = (json.loads(line) for line in lines)
    assert first["msg"] == "messages dead-lettered\nsecond line" and first["level"] == "info"
    assert (first["count"], first["reason"], first["logger"]) == (2, "payload too large", "quietfix.test_logs")
    assert first["ts"].endswith("Z")
    assert second["device_id"] == "pump-0001" and "ValueError: boom" in second["exc"]
