"""Equipment sources behind one interface (``Source``): Modbus TCP/RTU, OPC UA, CAN with J1939, HTTP push.

The protocol libraries are optional extras of the edge distribution (``quietfix-edge[modbus]`` …); each adapter
imports its library only when a source of that type is built, so a gateway installs only what it speaks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edge_agent.sources.base import Health, PollingSource, Reading, SignalSpec, Sink, Source, SourceError

__all__ = ["Health", "PollingSource", "Reading", "SignalSpec", "Sink", "Source", "SourceError", "build_source"]


def _secret(opts: dict[str, Any], file_key: str, env_key: str) -> str:
    if opts.get(file_key):
        return Path(opts[file_key]).read_text().strip()
    if opts.get(env_key):
        value = os.environ.get(str(opts[env_key]), "")
        if not value:
            raise ValueError(f"environment variable {opts[env_key]} is not set")
        return value
    return ""


def build_source(cfg: Any) -> Source:
    """A ready (not yet started) source for one validated ``SourceConfig``."""
    o: dict[str, Any] = dict(cfg.options)
    common = (cfg.name, cfg.signals, cfg.interval_s)
    if cfg.type in ("modbus_tcp", "modbus_rtu"):
        from edge_agent.sources.modbus import ModbusSource

        return ModbusSource(*common, kind=cfg.type, timeout_s=cfg.timeout_s,
                            **{k: o[k] for k in ("host", "port", "serial_port", "baudrate", "parity", "stopbits",
                                                 "bytesize", "unit_id", "retries") if k in o})
    if cfg.type == "opcua":
        from edge_agent.sources.opcua import OpcUaSource

        return OpcUaSource(*common, endpoint=o["endpoint"], mode=o.get("mode", "subscription"),
                           timeout_s=cfg.timeout_s, security_policy=o.get("security_policy", "None"),
                           security_mode=o.get("security_mode", "None"), certificate=o.get("certificate", ""),
                           private_key=o.get("private_key", ""),
                           server_certificate=o.get("server_certificate", ""), username=o.get("username", ""),
                           password=_secret(o, "password_file", "password_env"))
    if cfg.type == "can":
        from edge_agent.sources.can_j1939 import CanJ1939Source

        return CanJ1939Source(*common, interface=o.get("interface", "socketcan"), channel=o["channel"],
                              bitrate=o.get("bitrate"), dbc=o.get("dbc", ""), timeout_s=cfg.timeout_s,
                              source_address=o.get("source_address"))
    if cfg.type == "http_push":
        from edge_agent.sources.http_push import HttpPushSource

        return HttpPushSource(*common, listen=o.get("listen", "127.0.0.1:8088"), path=o.get("path", "/readings"),
                              timeout_s=cfg.timeout_s, token=_secret(o, "token_file", "token_env"))
    raise ValueError(f"unknown source type {cfg.type!r}")
