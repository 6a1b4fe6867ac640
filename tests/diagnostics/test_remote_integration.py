"""The remote command channel on the real broker: a command reaches the device topic, its result comes back."""

from __future__ import annotations

import gc
import json
import uuid

import pytest

from core.contracts import parse_topic
from core.mqtt import InboundMessage, ServerMqtt
from core.settings import Settings
from diagnostics.remote import mqtt_channel
from tests.helpers import wait_for

pytestmark = pytest.mark.integration


def _exchange(settings: Settings, device: str) -> tuple[list[dict], list]:
    received: list[dict] = []
    dev: ServerMqtt | None = None

    def answer(msg: InboundMessage) -> None:  # plays the edge agent: execute, then publish the result
        cmd = json.loads(msg.payload)
        received.append(cmd)
        did, _ = parse_topic(msg.topic)
        assert dev is not None
        dev.publish(f"qf/v1/{did}/cmd/result", json.dumps({"v": 1, "id": cmd["id"], "ok": True,
                                                            "result": {"cleared": ["motor_trip"]}}).encode())

    dev = ServerMqtt(settings.mqtt_url, f"fake-device-{device}", username=settings.mqtt_username,
                     password=settings.mqtt_password, subscriptions=[(f"qf/v1/{device}/cmd", 1)], on_message=answer,
                     manual_ack=False, persistent=False)
    channel = mqtt_channel(settings, client_id=f"diagnose-test-{device}", session_expiry_s=60)
    dev.start()
    results: list = []
    try:
        assert dev.connected.wait(10) and channel.mqtt.connected.wait(10)
        channel.send(device, "cmd-1", "reset", {"subsystem": "all"}, 1000, 2000)
        wait_for(lambda: bool(results.extend(channel.drain()) or results), timeout_s=10)
    finally:
        dev.stop()
        channel.stop()
    return received, results


# paho leaves its wake-up socket pair to the garbage collector after loop_stop(); collected here, not our leak.
@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_command_out_and_result_back_over_mqtt(settings: Settings) -> None:
    device = f"pump-{uuid.uuid4().hex[:6]}"
    received, results = _exchange(settings, device)
    gc.collect()
    assert [(c["id"], c["cmd"], c["args"], c["expires_at"], c["issued_by"]) for c in received] == [
        ("cmd-1", "reset", {"subsystem": "all"}, 2000, "diagnostics")]
    assert [(r.device_id, r.command_id, r.ok, r.result) for r in results] == [
        (device, "cmd-1", True, {"cleared": ["motor_trip"]})]
