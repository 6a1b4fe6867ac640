"""The gateway's TOML file: every error names its line and key; the credential never lives in the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import ConfigError, KeyLines, load, parse, parse_sources
from edge_agent.gateway_cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "edge" / "gateway.example.toml"

GOOD = """\
device_id = "pump-0001"
equipment_type = "pump"
sample_interval_s = 2

[broker]
url = "mqtts://broker.example.com:8883"
ca_file = "ca.pem"
password_env = "QF_EDGE_PASSWORD"

[[sources]]
name = "plc"
type = "modbus_tcp"
host = "192.0.2.10"

  [[sources.signals]]
  name = "pressure_bar"
  register = 0
  type = "int16"
  scale = 0.01

[[sources]]
name = "engine"
type = "can"
channel = "can0"

  [[sources.signals]]
  name = "engine_rpm"
  pgn = 61444
  start_bit = 24
  length = 16
  scale = 0.125
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse(text, "gw.toml")
    return exc.value.problems


def test_a_good_file_parses_with_defaults_and_resolved_paths() -> None:
    cfg = parse(GOOD, "/etc/qf/gw.toml")
    assert (cfg.device_id, cfg.equipment_type, cfg.sample_interval_s) == ("pump-0001", "pump", 2.0)
    assert (cfg.broker.host, cfg.broker.port, cfg.broker.tls) == ("broker.example.com", 8883, True)
    assert cfg.broker.ca_file == "/etc/qf/ca.pem" and cfg.broker.username == "pump-0001"
    plc, engine = cfg.sources
    assert plc.interval_s == 2.0 and plc.signals[0].scale == 0.01
    assert plc.signals[0].address == {"table": "holding", "register": 0, "type": "int16", "word_order": "big"}
    assert engine.signals[0].address == {"pgn": 61444, "start_bit": 24, "length": 16}


def test_the_shipped_example_is_valid() -> None:
    cfg = load(EXAMPLE)
    assert {s.type for s in cfg.sources} == {"modbus_tcp", "modbus_rtu", "opcua", "can", "http_push"}


def test_a_syntax_error_names_its_line() -> None:
    [msg] = problems(GOOD.replace('register = 0', 'register = = 0'))
    assert msg.startswith("gw.toml: TOML syntax error") and "line 17" in msg


def test_schema_errors_name_line_and_key() -> None:
    text = GOOD.replace("scale = 0.01", 'scale = "x"').replace('type = "int16"', 'type = "int17"')
    text = text.replace("start_bit = 24", "start_bit = 24\n  colour = 3")
    msgs = problems(text)
    assert "gw.toml:19: sources[0].signals[0].scale: must be a number, got 'x'" in msgs
    assert any(m.startswith("gw.toml:18: sources[0].signals[0].type: must be one of int16,") for m in msgs)
    assert any(m.startswith("gw.toml:30: sources[1].signals[0].colour: unknown key") for m in msgs)


def test_missing_keys_name_the_table_line() -> None:
    text = GOOD.replace('host = "192.0.2.10"\n', "").replace('device_id = "pump-0001"\n', "")
    msgs = problems(text)
    assert "gw.toml: device_id: missing required key 'device_id'" in msgs or any(
        "missing required key 'device_id'" in m for m in msgs)
    assert any(m.startswith("gw.toml:9: sources[0]: missing required key 'host'") for m in msgs)


def test_the_credential_is_never_in_the_file() -> None:
    msgs = problems(GOOD.replace('password_env = "QF_EDGE_PASSWORD"', 'password = "hunter2"'))
    assert any(m.startswith("gw.toml:8: broker.password: the credential never goes in the config") for m in msgs)
    assert any("exactly one of 'password_file' or 'password_env'" in m for m in msgs)


def test_plain_mqtt_only_to_a_loopback_broker() -> None:
    msgs = problems(GOOD.replace("mqtts://broker.example.com:8883", "mqtt://broker.example.com"))
    assert any(m.startswith("gw.toml:6: broker.url: plain mqtt:// is only allowed") for m in msgs)
    assert parse(GOOD.replace("mqtts://broker.example.com:8883", "mqtt://127.0.0.1:18830")).broker.tls is False


def test_a_signal_mapped_twice_and_a_bad_name_are_errors() -> None:
    text = GOOD.replace('name = "engine_rpm"', 'name = "pressure_bar"').replace(
        'name = "plc"', 'name = "plc"').replace("sample_interval_s = 2", "sample_interval_s = 2\nmystery = 1")
    msgs = problems(text)
    assert any("sources[1].signals[0].name: signal 'pressure_bar' already mapped at sources[0].signals[0]" in m
               for m in msgs)
    assert any(m.startswith("gw.toml:4: mystery: unknown key") for m in msgs)


def test_key_lines_follow_arrays_of_tables() -> None:
    lines = KeyLines(GOOD)
    assert lines.line(("sources", 1, "signals", 0, "pgn")) == 28
    assert lines.line(("sources", 1, "signals", 0, "nope")) == 26  # unknown key: its table's header
    assert lines.line(("broker", "url")) == 6


def test_a_pushed_mapping_names_the_key_path() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_sources([{"type": "opcua", "name": "ua", "endpoint": "opc.tcp://x:4840",
                        "signals": [{"name": "Bad Name", "node_id": "ns=2;i=1"}]}],
                      default_interval_s=1.0, base_dir=Path.cwd())
    assert exc.value.problems == [("sources[0].signals[0].name: 'Bad Name' must match [a-z0-9_]{1,48} "
                                   "(the telemetry contract)")]


def test_the_cli_prints_every_problem_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(GOOD.replace("scale = 0.01", "scale = 0"))
    assert main(["check", "--config", str(path)]) == 2
    assert f"{path}:19: sources[0].signals[0].scale: must not be 0" in capsys.readouterr().err
