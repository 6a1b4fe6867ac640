"""Command gate: expired commands refused with a reason, replayed ids ignored, errors answered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_agent.commands import CommandGate
from edge_agent.models import Command


def _echo(args: Mapping[str, Any]) -> dict[str, Any]:
    return {"echo": dict(args)}


def _strict(args: Mapping[str, Any]) -> dict[str, Any]:
    raise ValueError("interval_s out of range")


def _gate(window: int = 4) -> CommandGate:
    return CommandGate({"echo": _echo, "strict": _strict}, window=window)


def test_valid_command_is_dispatched() -> None:
    res = _gate().handle(Command("1", "echo", {"x": 1}, issued_at=0, expires_at=100), now_ms=50)
    assert res is not None and res.ok and res.result == {"echo": {"x": 1}} and res.id == "1"


def test_expired_command_is_refused_with_reason() -> None:
    res = _gate().handle(Command("1", "echo", {}, issued_at=0, expires_at=100), now_ms=101)
    assert res is not None and not res.ok and res.result["reason"] == "expired"


def test_replayed_id_is_ignored_without_answer() -> None:
    gate = _gate()
    cmd = Command("1", "echo", {}, expires_at=100)
    assert gate.handle(cmd, 10) is not None
    assert gate.handle(cmd, 11) is None
    expired = Command("2", "echo", {}, expires_at=5)
    assert gate.handle(expired, 10) is not None and gate.handle(expired, 10) is None


def test_replay_window_forgets_oldest_ids() -> None:
    gate = _gate(window=2)
    for cid in ("a", "b", "c"):
        assert gate.handle(Command(cid, "echo"), 0) is not None
    assert gate.handle(Command("b", "echo"), 0) is None
    assert gate.handle(Command("a", "echo"), 0) is not None  # fell out of the window


def test_unknown_command_and_bad_arguments_are_answered_not_raised() -> None:
    gate = _gate()
    unknown = gate.handle(Command("1", "selfdestruct"), 0)
    assert unknown is not None and not unknown.ok and "unknown" in unknown.result["reason"]
    bad = gate.handle(Command("2", "strict"), 0)
    assert bad is not None and not bad.ok and "interval_s" in bad.result["reason"]


def test_zero_expiry_means_no_expiry() -> None:
    res = _gate().handle(Command("1", "echo", {}, expires_at=0), now_ms=10**13)
    assert res is not None and res.ok


def test_a_deferred_handler_answers_later_and_its_id_still_counts_as_seen() -> None:
    from edge_agent.commands import DEFERRED

    calls: list[Mapping[str, Any]] = []

    def later(args: Mapping[str, Any]) -> dict[str, Any]:
        calls.append(args)
        return DEFERRED

    gate = CommandGate({"later": later})
    assert gate.handle(Command("7", "later", {"a": 1}), now_ms=0) is None
    assert gate.handle(Command("7", "later", {"a": 1}), now_ms=0) is None  # a redelivery does not run it again
    assert calls == [{"a": 1}]
