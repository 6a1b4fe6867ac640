"""Fleet and CLI wiring without a broker: ids, fault injection, ground truth, stats, stop before start."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent import DeviceSpec, Fleet
from edge_agent.__main__ import make_devices

T0 = 1_732_370_000.0


def test_make_devices_cycles_types_and_formats_passwords() -> None:
    devs = make_devices(4, "{device_id}-secret")
    assert [d.device_id for d in devs] == ["pump-0001", "chiller-0002", "compressor-0003", "pump-0004"]
    assert all(d.username == d.device_id and d.password == f"{d.device_id}-secret" for d in devs)
    assert [d.equipment_type for d in devs] == ["pump", "chiller", "compressor", "pump"]


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    spec = DeviceSpec("pump-1", "pump", "pump-1", "x")
    with pytest.raises(ValueError):
        Fleet([spec, spec], host="127.0.0.1", port=1, buffer_dir=tmp_path)


def test_inject_fault_uses_the_clock_and_appears_in_ground_truth(tmp_path: Path) -> None:
    fleet = Fleet(
        make_devices(3, "{device_id}"), host="127.0.0.1", port=1, clock=lambda: T0, buffer_dir=tmp_path
    )
    label = fleet.inject_fault("chiller-0002", "refrigerant_leak", develop_s=600)
    assert (label.device_id, label.onset_s, label.failure_s, label.remote_fixable) == (
        "chiller-0002",
        T0,
        T0 + 600,
        False,
    )
    assert fleet.ground_truth == [label]
    with pytest.raises(ValueError):
        fleet.inject_fault("pump-0001", "refrigerant_leak")
    assert fleet.agent("chiller-0002").equipment.active_faults == [label]
    fleet.stop()


def test_stats_before_start_and_stop_without_start(tmp_path: Path) -> None:
    fleet = Fleet(make_devices(5, "{device_id}"), host="127.0.0.1", port=1, buffer_dir=tmp_path, workers=2)
    stats = fleet.stats()
    assert stats["devices"] == 5 and stats["connected"] == 0 and stats["buffered"] == 0
    assert set(stats) >= {"published_messages", "published_readings", "acked_messages", "buffered", "dropped"}
    fleet.stop()
    fleet.stop()  # idempotent
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".sqlite") == [
        "buffer-0.sqlite",
        "buffer-1.sqlite",
    ]


def test_temporary_buffer_dir_is_removed_on_stop() -> None:
    fleet = Fleet(make_devices(1, "{device_id}"), host="127.0.0.1", port=1)
    tmp = fleet.buffer_dir
    assert tmp.exists()
    fleet.stop()
    assert not tmp.exists()


@pytest.mark.allow_error_logs
def test_handler_exception_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fleet = Fleet(make_devices(1, "{device_id}"), host="127.0.0.1", port=1, buffer_dir=tmp_path)
    conn = fleet.connection("pump-0001")

    def broken(mid: int) -> None:
        raise RuntimeError("boom")

    conn.listener.on_acked = broken  # type: ignore[method-assign]
    conn._on_publish(conn.client, None, 1, None, None)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "boom" in (errors[0].exc_text or str(errors[0].exc_info))
    caplog.clear()  # expected error: keep the autouse no-error check meaningful for everything else
    fleet.stop()
