"""deploy/compose.yaml cannot be run here (no container engine), so its structure is checked instead: the services
the issue names, TimescaleDB, N ingest workers in one shared-subscription group, migrations before everything,
and every QUIETFIX_* variable it sets being a real field of core/settings.py (a misspelt one would be silently
ignored by pydantic-settings and the service would run on its default)."""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import BaseModel

from core.settings import PROJECT_ROOT, Settings

COMPOSE = PROJECT_ROOT / "deploy" / "compose.yaml"
PROCESS_COMMANDS = {"migrate": "migrate", "ingest": "ingest", "diagnose": "diagnose", "dispatch": "dispatch",
                    "api": "api", "notify": "notify", "plan": "plan", "train": "train"}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def settings_field(name: str) -> bool:
    """Whether QUIETFIX_<name> (nested groups joined by ``__``) names a field of :class:`Settings`."""
    model: type[BaseModel] = Settings
    parts = name.lower().split("__")
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        if i < len(parts) - 1:
            if not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
                return False
            model = field.annotation
    return True


def test_settings_field_lookup_knows_real_and_misspelt_names() -> None:
    assert settings_field("DATABASE_URL") and settings_field("INGEST__SHARED_GROUP")
    assert settings_field("API__SECRET_KEY") and settings_field("METRICS_HOST")
    assert not settings_field("INGEST__SHARED_GRUOP") and not settings_field("DATABASE")
    assert not settings_field("DATABASE_URL__X")


def test_every_quietfix_variable_in_the_compose_file_is_a_settings_field() -> None:
    names: set[str] = set()
    for service in compose()["services"].values():
        names |= {k for k in (service.get("environment") or {}) if k.startswith("QUIETFIX_")}
    # .env is documented in the file's header; its QUIETFIX_ names must be real fields too.
    header = COMPOSE.read_text().split("\nname:", 1)[0]
    names |= set(re.findall(r"QUIETFIX_[A-Z0-9_]+", header))
    assert len(names) >= 8
    unknown = sorted(n for n in names if not settings_field(n.removeprefix("QUIETFIX_")))
    assert unknown == []


def test_services_timescaledb_broker_migrations_and_scaled_ingest() -> None:
    services = compose()["services"]
    assert {"db", "broker", "migrate", "ingest", "diagnose", "dispatch", "api"} <= services.keys()
    assert services["db"]["image"].startswith("timescale/timescaledb")
    assert "mosquitto" in services["broker"]["image"] and "8883:8883" in services["broker"]["ports"]
    for name, sub in PROCESS_COMMANDS.items():
        command = " ".join(services[name]["command"])
        assert re.search(rf"\bquietfix {sub}\b", command), (name, command)
    ingest = services["ingest"]
    assert ingest["deploy"]["replicas"] >= 2  # N workers (`--scale ingest=N` overrides)
    assert ingest["environment"]["QUIETFIX_INGEST__SHARED_GROUP"]  # one group: the broker splits the stream
    assert "--worker-id" in " ".join(ingest["command"])  # a stable, distinct session per replica
    assert "container_name" not in ingest  # a fixed name would forbid scaling
    for name in ("ingest", "diagnose", "dispatch", "api", "notify", "plan"):  # nothing starts before the schema is migrated
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
        env = services[name]["environment"]
        assert env["QUIETFIX_DATABASE_URL"].split("@")[1].startswith("db:")
        assert env["QUIETFIX_MQTT_URL"] == "mqtts://broker:8883"  # TLS only between containers too
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert "readyz" in " ".join(services["api"]["healthcheck"]["test"])


def test_the_image_installs_every_package_the_processes_import() -> None:
    dockerfile = (PROJECT_ROOT / "deploy" / "Dockerfile").read_text()
    packages = {p.parent.name for p in PROJECT_ROOT.glob("*/__init__.py")} - {"tests", "bench", "scripts"}
    copied = set(re.findall(r"^COPY (\w+) \1$", dockerfile, re.MULTILINE))
    assert packages <= copied, packages - copied
    assert compose()["x-quietfix"]["build"]["dockerfile"] == "deploy/Dockerfile"


def test_every_setting_is_in_the_configuration_reference() -> None:
    """"Documented configuration": each settings field appears in docs/operations.md under its variable name
    (regenerate the table with ``python scripts/settings_reference.py``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("settings_reference", PROJECT_ROOT / "scripts/settings_reference.py")
    assert spec is not None and spec.loader is not None
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    doc = (PROJECT_ROOT / "docs" / "operations.md").read_text()
    names = [env for env, _, _ in reference.env_names()]
    assert len(names) >= 60
    assert [n for n in names if f"`{n}`" not in doc] == []
    assert all(settings_field(n.removeprefix("QUIETFIX_")) for n in names)
