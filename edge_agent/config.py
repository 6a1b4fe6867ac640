"""One TOML file per gateway: identity, broker, intervals, and the sources with their signal mappings.

Why hand-written validation (not pydantic): the gateway distribution stays small (docs/edge_agent.md), and every
error must name *where* it is: the TOML line and the key (``gateway.toml:14: sources[0].signals[1].scale: must be a
number``). tomllib reports syntax errors with their line; for schema errors ``KeyLines`` finds the key's line in
the text. A mapping pushed over the command channel is JSON with the same shape as ``[[sources]]`` and goes through
the same ``parse_sources``, so its errors name the key path.

The broker credential is never in the file: ``password_file`` or ``password_env`` says where it is.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edge_agent.sources.base import SignalSpec

NAME_RE = re.compile(r"[a-z0-9_]{1,48}")  # the contract's signal-name rule (docs/contracts.md)
DEVICE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SOURCE_TYPES = ("modbus_tcp", "modbus_rtu", "opcua", "can", "http_push")
DEFAULT_STATE_DIR = "/var/lib/quietfix-edge"

Path_ = tuple[str | int, ...]


class ConfigError(ValueError):
    """Every problem found, each as ``file:line: key.path: message`` (or ``key.path: message`` for JSON)."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def key_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


# ---- line finding ----------------------------------------------------------------------------------------------
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r'^\s*([A-Za-z0-9_\-]+|"[^"]*")\s*=')


class KeyLines:
    """Maps key paths (``("sources", 1, "signals", 0, "scale")``) to their line in the TOML text.

    Handles ``[table]``, ``[[array.of.tables]]`` and ``key = value`` lines, which is how gateway files are
    written; a key inside an inline table resolves to the line of the enclosing key.
    """

    def __init__(self, text: str) -> None:
        self.lines: dict[Path_, int] = {}
        counts: dict[Path_, int] = {}
        table: Path_ = ()
        for n, line in enumerate(text.splitlines(), start=1):
            if m := _HEADER.match(line):
                parts = [p.strip().strip('"') for p in m.group(2).split(".")]
                concrete: Path_ = ()
                for i, part in enumerate(parts):
                    concrete = (*concrete, part)
                    last = i == len(parts) - 1
                    if last and m.group(1) == "[[":
                        counts[concrete] = counts.get(concrete, 0) + 1
                        concrete = (*concrete, counts[concrete] - 1)
                    elif concrete in counts:
                        concrete = (*concrete, counts[concrete] - 1)
                table = concrete
                self.lines.setdefault(table, n)
            elif m := _KEY.match(line):
                self.lines.setdefault((*table, m.group(1).strip('"')), n)

    def line(self, path: Path_) -> int | None:
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return None


# ---- the config ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BrokerConfig:
    host: str
    port: int
    tls: bool
    ca_file: str = ""
    client_cert: str = ""
    client_key: str = ""
    username: str = ""
    password_file: str = ""
    password_env: str = ""

    def password(self) -> str:
        """Read the credential now (it may be rotated between restarts); never stored in the config object."""
        if self.password_file:
            try:
                return Path(self.password_file).read_text().strip()
            except OSError as exc:
                raise ConfigError([f"broker.password_file: cannot read {self.password_file}: {exc}"]) from exc
        value = os.environ.get(self.password_env, "")
        if not value:
            raise ConfigError([f"broker.password_env: environment variable {self.password_env} is not set"])
        return value


@dataclass(frozen=True)
class SourceConfig:
    name: str
    type: str
    interval_s: float
    timeout_s: float
    options: Mapping[str, Any]
    signals: tuple[SignalSpec, ...]


@dataclass(frozen=True)
class GatewayConfig:
    device_id: str
    equipment_type: str
    broker: BrokerConfig
    sources: tuple[SourceConfig, ...]
    sample_interval_s: float = 1.0
    batch_interval_s: float = 5.0
    state_dir: str = DEFAULT_STATE_DIR
    max_buffer_rows: int = 10_000
    path: str = ""
    raw_sources: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)  # as written, for rollbacks


class _Checker:
    """Collects problems with their key paths while reading one mapping."""

    def __init__(self) -> None:
        self.problems: list[tuple[Path_, str]] = []

    def err(self, path: Path_, msg: str) -> None:
        self.problems.append((path, msg))

    def take(self, obj: Mapping[str, Any], path: Path_, key: str, kind: str, *, required: bool = False,
             default: Any = None, choices: Sequence[Any] | None = None, low: float | None = None,
             high: float | None = None) -> Any:
        if key not in obj:
            if required:
                self.err(path, f"missing required key '{key}'")
            return default
        v, p = obj[key], (*path, key)
        ok = {
            "str": isinstance(v, str),
            "int": type(v) is int,
            "num": isinstance(v, int | float) and not isinstance(v, bool),
            "bool": isinstance(v, bool),
            "list": isinstance(v, list),
            "table": isinstance(v, dict),
        }[kind]
        if not ok:
            word = {"str": "a string", "int": "an integer", "num": "a number", "bool": "true or false",
                    "list": "a list", "table": "a table"}[kind]
            self.err(p, f"must be {word}, got {v!r}")
            return default
        if choices is not None and v not in choices:
            self.err(p, f"must be one of {', '.join(map(str, choices))}; got {v!r}")
            return default
        if (low is not None and v < low) or (high is not None and v > high):
            self.err(p, f"must be within [{low}, {high}]; got {v!r}")
            return default
        return v

    def unknown(self, obj: Mapping[str, Any], path: Path_, allowed: set[str]) -> None:
        for key in obj:
            if key not in allowed:
                self.err((*path, key), f"unknown key (allowed: {', '.join(sorted(allowed))})")


_SIGNAL_KEYS = {"name", "unit", "scale", "offset", "min", "max", "alarm_low", "alarm_high"}
_ADDRESS_KEYS: dict[str, set[str]] = {
    "modbus_tcp": {"table", "register", "type", "word_order", "unit_id"},
    "modbus_rtu": {"table", "register", "type", "word_order", "unit_id"},
    "opcua": {"node_id"},
    "can": {"dbc_signal", "message", "pgn", "start_bit", "length"},
    "http_push": {"key"},
}
_SOURCE_KEYS: dict[str, set[str]] = {
    "modbus_tcp": {"host", "port", "unit_id", "retries"},
    "modbus_rtu": {"serial_port", "baudrate", "parity", "stopbits", "bytesize", "unit_id", "retries"},
    "opcua": {"endpoint", "mode", "security_policy", "security_mode", "certificate", "private_key",
              "server_certificate", "username", "password_env", "password_file"},
    "can": {"interface", "channel", "bitrate", "dbc", "source_address"},
    "http_push": {"listen", "path", "token_env", "token_file"},
}
_PATH_OPTIONS = {"certificate", "private_key", "server_certificate", "dbc", "password_file", "token_file"}


def _signal(c: _Checker, stype: str, s: Any, path: Path_) -> SignalSpec | None:
    from edge_agent.sources.modbus import DATA_TYPES, TABLES, WORD_ORDERS

    if not isinstance(s, dict):
        c.err(path, "a signal must be a table")
        return None
    c.unknown(s, path, _SIGNAL_KEYS | _ADDRESS_KEYS[stype])
    name = c.take(s, path, "name", "str", required=True)
    if isinstance(name, str) and not NAME_RE.fullmatch(name):
        c.err((*path, "name"), f"{name!r} must match [a-z0-9_]{{1,48}} (the telemetry contract)")
    scale = c.take(s, path, "scale", "num", default=1.0)
    if scale == 0:
        c.err((*path, "scale"), "must not be 0")
    lo, hi = c.take(s, path, "min", "num"), c.take(s, path, "max", "num")
    if lo is not None and hi is not None and lo >= hi:
        c.err((*path, "max"), f"must be greater than min ({lo})")
    addr: dict[str, Any] = {}
    if stype.startswith("modbus"):
        addr["table"] = c.take(s, path, "table", "str", default="holding", choices=TABLES)
        addr["register"] = c.take(s, path, "register", "int", required=True, low=0, high=65535)
        addr["type"] = c.take(s, path, "type", "str", default="uint16", choices=DATA_TYPES)
        addr["word_order"] = c.take(s, path, "word_order", "str", default="big", choices=WORD_ORDERS)
        if "unit_id" in s:
            addr["unit_id"] = c.take(s, path, "unit_id", "int", low=0, high=247)
    elif stype == "opcua":
        addr["node_id"] = c.take(s, path, "node_id", "str", required=True)
    elif stype == "can":
        if "dbc_signal" in s:
            addr["dbc_signal"] = c.take(s, path, "dbc_signal", "str")
            if "message" in s:
                addr["message"] = c.take(s, path, "message", "str")
        elif "pgn" in s:
            addr["pgn"] = c.take(s, path, "pgn", "int", low=0, high=0x3FFFF)
            addr["start_bit"] = c.take(s, path, "start_bit", "int", required=True, low=0, high=63)
            addr["length"] = c.take(s, path, "length", "int", required=True, low=1, high=32)
        else:
            c.err(path, "a CAN signal needs 'dbc_signal' (with the source's dbc file) or 'pgn' + 'start_bit' + 'length'")
    elif stype == "http_push" and "key" in s:
        addr["key"] = c.take(s, path, "key", "str")
    return SignalSpec(
        name=name or "?", unit=c.take(s, path, "unit", "str", default=""), scale=float(scale or 1.0),
        offset=float(c.take(s, path, "offset", "num", default=0.0)), valid_min=lo, valid_max=hi,
        alarm_low=c.take(s, path, "alarm_low", "num"), alarm_high=c.take(s, path, "alarm_high", "num"),
        address=addr)


def parse_sources(raw: Any, *, default_interval_s: float, base_dir: Path, checker: _Checker | None = None,
                  root: Path_ = ("sources",)) -> tuple[SourceConfig, ...]:
    """Validate ``[[sources]]`` (or a pushed mapping's ``sources``); raises ConfigError with key paths."""
    c = checker or _Checker()
    out: list[SourceConfig] = []
    if not isinstance(raw, list) or not raw:
        c.err(root, "at least one source is needed ([[sources]] with type, name and signals)")
        raw = []
    seen_sources: set[str] = set()
    seen_signals: dict[str, Path_] = {}
    for i, src in enumerate(raw):
        path: Path_ = (*root, i)
        if not isinstance(src, dict):
            c.err(path, "a source must be a table")
            continue
        stype = c.take(src, path, "type", "str", required=True, choices=SOURCE_TYPES)
        name = c.take(src, path, "name", "str", required=True)
        if name in seen_sources:
            c.err((*path, "name"), f"source name {name!r} is used twice")
        seen_sources.add(name)
        if stype is None:
            continue
        c.unknown(src, path, {"type", "name", "interval_s", "timeout_s", "signals"} | _SOURCE_KEYS[stype])
        interval = c.take(src, path, "interval_s", "num", default=default_interval_s, low=0.01, high=3600)
        timeout = c.take(src, path, "timeout_s", "num", default=5.0 if stype in ("can", "http_push") else 1.0,
                         low=0.05, high=3600)
        opts: dict[str, Any] = {}
        for key in sorted(_SOURCE_KEYS[stype] & set(src)):
            value = src[key]
            if key in _PATH_OPTIONS and isinstance(value, str):
                value = str((base_dir / value).resolve())
            opts[key] = value
        required = {"modbus_tcp": "host", "modbus_rtu": "serial_port", "opcua": "endpoint", "can": "channel"}
        if stype in required and required[stype] not in src:
            c.err(path, f"missing required key '{required[stype]}'")
        if stype == "opcua":
            c.take(src, path, "mode", "str", choices=("subscription", "polling"))
            c.take(src, path, "security_mode", "str", choices=("None", "Sign", "SignAndEncrypt"))
            if src.get("security_policy", "None") != "None" and not {"certificate", "private_key"} <= set(src):
                c.err(path, "a security_policy other than None needs 'certificate' and 'private_key'")
        for key in ("port", "unit_id", "retries", "baudrate", "stopbits", "bytesize", "bitrate", "source_address"):
            if key in src:
                c.take(src, path, key, "int", low=0)
        sigs = c.take(src, path, "signals", "list", required=True) or []
        if not sigs and "signals" in src:
            c.err((*path, "signals"), "needs at least one signal")
        specs = []
        for j, s in enumerate(sigs):
            spec = _signal(c, stype, s, (*path, "signals", j))
            if spec is None:
                continue
            if spec.name in seen_signals:
                c.err((*path, "signals", j, "name"), f"signal {spec.name!r} already mapped at "
                                                     f"{key_path(seen_signals[spec.name])}")
            seen_signals[spec.name] = (*path, "signals", j)
            specs.append(spec)
        out.append(SourceConfig(name or "?", stype, float(interval), float(timeout), opts, tuple(specs)))
    if checker is None and c.problems:
        raise ConfigError([f"{key_path(p)}: {m}" for p, m in c.problems])
    return tuple(out)


def _broker(c: _Checker, raw: Any, device_id: str, base_dir: Path) -> BrokerConfig | None:
    path: Path_ = ("broker",)
    if not isinstance(raw, dict):
        c.err(path, "missing [broker] table (url, and password_file or password_env)")
        return None
    allowed = {"url", "ca_file", "client_cert", "client_key", "username", "password_file", "password_env"}
    if "password" in raw:
        c.err((*path, "password"), "the credential never goes in the config: use password_file or password_env")
    c.unknown({k: v for k, v in raw.items() if k != "password"}, path, allowed)
    url = c.take(raw, path, "url", "str", required=True) or ""
    parts = urlsplit(url)
    if url and (parts.scheme not in ("mqtt", "mqtts") or not parts.hostname):
        c.err((*path, "url"), f"must be mqtts://host:port (or mqtt:// on a trusted network); got {url!r}")
    sources = [k for k in ("password_file", "password_env") if k in raw]
    if len(sources) != 1:
        c.err(path, "exactly one of 'password_file' or 'password_env' must say where the credential is")
    for k in ("ca_file", "client_cert", "client_key", "password_file"):
        c.take(raw, path, k, "str")
    tls = parts.scheme == "mqtts"
    if not tls and parts.hostname and not _loopback(parts.hostname) and url:
        c.err((*path, "url"), "plain mqtt:// is only allowed to a loopback broker; use mqtts://")

    def resolved(key: str) -> str:
        v = raw.get(key)
        return str((base_dir / v).resolve()) if isinstance(v, str) and v else ""

    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        c.err((*path, "url"), f"bad port in {url!r}")
        port = 0
    return BrokerConfig(host=parts.hostname or "", port=port, tls=tls, ca_file=resolved("ca_file"),
                        client_cert=resolved("client_cert"), client_key=resolved("client_key"),
                        username=str(raw.get("username") or device_id), password_file=resolved("password_file"),
                        password_env=str(raw.get("password_env") or ""))


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse(text: str, filename: str = "<config>") -> GatewayConfig:
    """Parse and validate a gateway file's text; ConfigError lists every problem with its line and key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{filename}: TOML syntax error: {exc}"]) from exc
    c = _Checker()
    base_dir = Path(filename).resolve().parent if filename != "<config>" else Path.cwd()
    c.unknown(raw, (), {"device_id", "equipment_type", "sample_interval_s", "batch_interval_s", "state_dir",
                        "max_buffer_rows", "broker", "sources"})
    device_id = c.take(raw, (), "device_id", "str", required=True) or ""
    if device_id and not DEVICE_RE.fullmatch(device_id):
        c.err(("device_id",), f"{device_id!r} is not a valid device id (letters, digits, _ . -; max 64)")
    etype = c.take(raw, (), "equipment_type", "str", required=True) or ""
    if etype and not NAME_RE.fullmatch(etype):
        c.err(("equipment_type",), f"{etype!r} must match [a-z0-9_]{{1,48}}")
    sample = float(c.take(raw, (), "sample_interval_s", "num", default=1.0, low=0.01, high=3600))
    batch = float(c.take(raw, (), "batch_interval_s", "num", default=5.0, low=0.1, high=3600))
    state_dir = c.take(raw, (), "state_dir", "str", default=DEFAULT_STATE_DIR)
    rows = c.take(raw, (), "max_buffer_rows", "int", default=10_000, low=10)
    broker = _broker(c, raw.get("broker"), device_id, base_dir)
    sources = parse_sources(raw.get("sources"), default_interval_s=sample, base_dir=base_dir, checker=c)
    if c.problems:
        lines = KeyLines(text)
        msgs = []
        for p, m in c.problems:
            n = lines.line(p)
            msgs.append(f"{filename}:{n}: {key_path(p)}: {m}" if n else f"{filename}: {key_path(p)}: {m}")
        raise ConfigError(msgs)
    assert broker is not None
    return GatewayConfig(device_id=device_id, equipment_type=etype, broker=broker, sources=sources,
                         sample_interval_s=sample, batch_interval_s=batch,
                         state_dir=str((base_dir / state_dir).resolve()), max_buffer_rows=int(rows),
                         path=filename, raw_sources=tuple(raw.get("sources", ())))


def load(path: str | Path) -> GatewayConfig:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read: {exc}"]) from exc
    return parse(text, str(p))
