"""`quietfix demo`'s options reach the demo (the parser writes some defaults out to keep the CLI's start light)."""

from __future__ import annotations

import argparse
import threading

import pytest

from quietfix import cli
from quietfix.demo import DemoOptions
from quietfix.fieldsim import ROSTERS


def _demo_action(dest: str) -> argparse.Action:
    demo = cli.build_parser()._subparsers._group_actions[0].choices["demo"]
    return next(a for a in demo._actions if a.dest == dest)


def test_roster_choices_and_default_are_the_demos() -> None:
    action = _demo_action("roster")
    assert tuple(action.choices) == ROSTERS and action.default == DemoOptions.roster


def test_the_chosen_roster_reaches_the_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    import quietfix.console
    import quietfix.demo

    seen: list[DemoOptions] = []
    monkeypatch.setattr(quietfix.console, "run_with_console", lambda settings, options, stop, **kw: seen.append(options))
    monkeypatch.setattr(quietfix.demo, "print_result", lambda result: None)
    monkeypatch.setattr(cli, "_stop_on_signals", threading.Event)  # leave pytest's own signal handlers alone
    args = cli.build_parser().parse_args(["demo", "--for", "1", "--roster", "round-the-clock"])
    assert cli.cmd_demo(cli.load_settings(log_json=False), args) == 0
    assert seen[0].roster == "round-the-clock"
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["demo", "--roster", "night"])
