"""The edge agent installs on a gateway on its own: a small dependency list, no server package imported."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EDGE = ROOT / "packaging" / "edge"
SERVER_PACKAGES = {"core", "ingest", "diagnostics", "dispatch", "spares", "planning", "api", "quietfix", "bench",
                   "tests", "kpis", "administration"}
HEAVY = {"fastapi", "uvicorn", "ortools", "scikit-learn", "sklearn", "numpy", "psycopg", "pydantic",
         "pydantic-settings", "argon2-cffi", "prometheus-client"}
# what the agent itself may import beyond the standard library: paho, and per protocol its optional library
ALLOWED_THIRD_PARTY = {"paho", "pymodbus", "asyncua", "can", "cantools"}


def _name(requirement: str) -> str:
    for sep in "<>=!~;[ ":
        requirement = requirement.split(sep)[0]
    return requirement.lower()


def test_the_edge_distribution_depends_on_paho_only_plus_protocol_extras() -> None:
    project = tomllib.loads((EDGE / "pyproject.toml").read_text())["project"]
    assert [_name(r) for r in project["dependencies"]] == ["paho-mqtt"]
    extras = {k: {_name(r) for r in v} for k, v in project["optional-dependencies"].items()}
    assert extras == {"modbus": {"pymodbus", "pyserial"}, "opcua": {"asyncua"}, "can": {"python-can", "cantools"},
                      "all": {"quietfix-edge"}}
    assert not set().union(*extras.values()) & HEAVY


def test_the_edge_distribution_packages_the_repository_s_edge_agent() -> None:
    link = EDGE / "edge_agent"
    assert link.is_symlink() and link.resolve() == (ROOT / "edge_agent").resolve()


def test_the_server_s_edge_extra_installs_the_same_protocol_libraries() -> None:
    edge = tomllib.loads((EDGE / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["edge"]
    assert {_name(r) for r in root} == {_name(r) for k in ("modbus", "opcua", "can") for r in edge[k]}


def test_edge_agent_imports_only_stdlib_paho_and_protocol_libraries() -> None:
    offenders = []
    for path in sorted((ROOT / "edge_agent").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for name in names:
                top = name.split(".")[0]
                if top == "edge_agent" or top in sys.stdlib_module_names or top == "__future__":
                    continue
                if top in SERVER_PACKAGES or top not in ALLOWED_THIRD_PARTY:
                    offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def test_the_systemd_unit_runs_the_gateway_with_its_state_dir() -> None:
    import configparser

    from edge_agent.config import DEFAULT_STATE_DIR

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    unit.read(ROOT / "deploy" / "edge" / "quietfix-edge.service")
    service = unit["Service"]
    assert service["ExecStart"].endswith("quietfix-edge run --config /etc/quietfix-edge/gateway.toml")
    assert f"/var/lib/{service['StateDirectory']}" == DEFAULT_STATE_DIR
    assert service["Restart"] == "always" and service["KillSignal"] == "SIGTERM"
    assert service["User"] != "root" and "AF_CAN" in service["RestrictAddressFamilies"]
    scripts = tomllib.loads((EDGE / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["quietfix-edge"] == "edge_agent.__main__:main"
