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


# Subcommands that are not a long-running process of the product: one-shot administration, or the demo's own
# all-in-one run and simulated fleet. Every OTHER subcommand of `quietfix` must run in the compose file.
NOT_SERVICES = {"demo", "simulate", "provision", "revoke", "rotate-signing-key", "import", "seed-files"}


def test_every_long_running_process_of_the_cli_runs_in_compose() -> None:
    """A new daemon added to the CLI without a compose service would silently not run in a deployment."""
    import argparse

    from quietfix.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    processes = set(sub.choices) - NOT_SERVICES
    assert {"ingest", "diagnose", "dispatch", "notify", "plan", "train", "api", "migrate"} <= processes
    commands = {" ".join(s["command"]) for s in compose()["services"].values() if "command" in s}
    missing = sorted(p for p in processes if not any(re.search(rf"\bquietfix {p}\b", c) for c in commands))
    assert missing == []
    services = compose()["services"]
    assert services["diagnose"]["deploy"]["replicas"] >= 2 and "--worker-id" in " ".join(services["diagnose"]["command"])
    assert "--every" in services["plan"]["command"]  # the planner repeats; without it, it runs once and exits


def test_exactly_one_broker_profile_answers_to_broker() -> None:
    """Mosquitto and the EMQX cluster are alternative profiles; both are reached as `broker`, so every process
    keeps QUIETFIX_MQTT_URL=mqtts://broker:8883, and each process waits for whichever one runs."""
    services = compose()["services"]
    profiles = {name: tuple(s.get("profiles", ())) for name, s in services.items()}
    assert profiles["broker"] == ("mosquitto",)
    emqx = sorted(n for n, p in profiles.items() if p == ("emqx",))
    assert emqx == ["emqx1", "emqx2", "emqx3", "mqtt-lb"]
    assert all(p == () for n, p in profiles.items() if n not in {"broker", *emqx})  # the product runs under both
    assert services["mqtt-lb"]["networks"]["default"]["aliases"] == ["broker"]
    assert "8883:8893" in services["mqtt-lb"]["ports"]  # devices: the host's 8883, as with Mosquitto
    for name in ("ingest", "diagnose", "dispatch", "api", "notify", "plan", "train"):
        deps = services[name]["depends_on"]
        assert deps["broker"]["required"] is False and deps["mqtt-lb"]["required"] is False, name


def test_emqx_profile_clusters_three_nodes_with_shared_subscriptions_and_durable_device_sessions() -> None:
    services = compose()["services"]
    nodes = [services[f"emqx{i}"] for i in (1, 2, 3)]
    names = [n["environment"]["EMQX_NODE__NAME"] for n in nodes]
    assert len(set(names)) == 3 and all(n["image"].startswith("emqx/emqx:5.") for n in nodes)
    for node, name in zip(nodes, names, strict=True):
        env = node["environment"]
        assert env["EMQX_CLUSTER__DISCOVERY_STRATEGY"] == "static"
        assert env["EMQX_CLUSTER__STATIC__SEEDS"].strip("[]").split(",") == names  # every node seeds all
        host = name.split("@")[1]
        assert host in node["networks"]["default"]["aliases"]  # the FQDN in the node name resolves
        mounts = node["volumes"]
        assert "./emqx/base.hocon:/opt/emqx/etc/base.hocon:ro" in mounts
        assert any(m.endswith(":/opt/emqx/data") for m in mounts)  # durable storage survives re-creation
        assert "EMQX_NODE__COOKIE" not in env and node["env_file"] == ".env"  # a secret: deploy/.env only
    hocon = (PROJECT_ROOT / "deploy" / "emqx" / "base.hocon").read_text()
    settings = {k.strip(): v.split("#")[0].strip() for k, v in re.findall(r"^\s*([a-z_.]+)\s*=\s*(.+)$", hocon,
                                                                           re.MULTILINE)}
    assert settings["shared_subscription"] == "true"
    assert settings["shared_subscription_strategy"] in {"hash_clientid", "round_robin", "round_robin_per_group"}
    assert int(settings["max_mqueue_len"]) >= 1_000_000  # the stock 1000 drops QoS 1 messages
    assert settings["durable_sessions.enable"] == "false"  # no durable shared subscriptions in EMQX 5.8 ...
    assert settings["zones.devices.durable_sessions.enable"] == "true"  # ... so durable for the devices' listener
    assert re.search(r"listeners\.ssl\.default \{[^}]*zone = devices", hocon)
    assert 'bind = "0.0.0.0:8884"' in hocon  # the services' listener, outside the durable zone
    # The balancer maps broker:8883 (services) to 8884 and the devices' port to 8883 on every node.
    lb = (PROJECT_ROOT / "deploy" / "emqx" / "haproxy.cfg").read_text()
    for i in (1, 2, 3):
        assert f"emqx{i}.quietfix.internal:8884 check" in lb and f"emqx{i}.quietfix.internal:8883 check" in lb
    assert re.search(r"frontend services\s+bind :8883\s+default_backend emqx_internal", lb)
    assert re.search(r"frontend devices\s+bind :8893\s+default_backend emqx_devices", lb)


def test_emqx_acl_says_what_the_mosquitto_acl_says() -> None:
    """Both profiles must give a device the same rights: parse both rule sets into (who, access, topic)."""
    from core.broker import ACL_TEXT

    mosquitto: set[tuple[str, str, str]] = set()
    for line in ACL_TEXT.format(service_user="qf-service").splitlines():
        parts = line.split()
        if parts[:1] == ["topic"]:
            mosquitto.add(("qf-service", parts[1], parts[2]))
        elif parts[:1] == ["pattern"]:
            mosquitto.add(("device", parts[1], parts[2].replace("%u", "${username}")))
    access = {"all": "readwrite", "publish": "write", "subscribe": "read"}
    emqx: set[tuple[str, str, str]] = set()
    text = (PROJECT_ROOT / "deploy" / "emqx" / "acl.conf").read_text()
    for who, act, topics in re.findall(r'^\{allow, (\{username, "qf-service"\}|all), (\w+), \[(.*)\]\}\.$', text,
                                       re.MULTILINE):
        for topic in re.findall(r'"([^"]+)"', topics):
            emqx.add(("qf-service" if "qf-service" in who else "device", access[act], topic))
    assert mosquitto == emqx
    assert text.rstrip().endswith("{deny, all}.")  # nothing else is allowed
