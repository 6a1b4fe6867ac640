#!/usr/bin/env bash
# Idempotent set-up used by both README commands: virtual environment, PostgreSQL, quietfix's own Mosquitto,
# the database and its migrations. Safe to run again and again; it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STATE="${XDG_STATE_HOME:-$HOME/.local/state}/quietfix"
BROKER_DIR="${QUIETFIX_BROKER_DIR:-$STATE/mosquitto}"
VENV="$ROOT/.venv"
MQTT_PORT="${QUIETFIX_BROKER_PORT:-18830}"
SERVICE_USER="${QUIETFIX_MQTT_USERNAME:-qf-service}"
SERVICE_PASSWORD="${QUIETFIX_MQTT_PASSWORD:-qf-service-dev}"
say() { echo "[setup] $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_ready=0
apt_install() {
  if [ "$apt_ready" = 0 ]; then as_root apt-get update -qq >/dev/null; apt_ready=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# 1. Python environment (re-installs only when pyproject.toml changed).
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then say "creating the Python virtual environment in .venv"; "$PY" -m venv "$VENV"; fi
stamp="$VENV/.quietfix-installed"
if [ ! -f "$stamp" ] || ! cmp -s pyproject.toml "$stamp"; then
  say "installing Python dependencies into .venv (pip install -e '.[dev,edge]': a minute or two the first time, only again when pyproject.toml changes)"
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q -e '.[dev,edge]'
  cp pyproject.toml "$stamp"
fi

# 2. PostgreSQL (15+): start it if it is installed but down, install it if missing.
if ! command -v pg_ctlcluster >/dev/null 2>&1 && ! command -v postgres >/dev/null 2>&1; then
  say "installing PostgreSQL with apt-get (a few minutes, once)"; apt_install postgresql postgresql-contrib
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  say "starting PostgreSQL on 127.0.0.1:5432"
  ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

# 3. Mosquitto with quietfix's own configuration on its own port (not the machine's default broker).
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  say "installing Mosquitto (the MQTT broker) with apt-get, once"; apt_install mosquitto mosquitto-clients
fi
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
mkdir -p "$BROKER_DIR/data"
sed -e "s#@RUN@#$BROKER_DIR#g" -e "s#@PORT@#$MQTT_PORT#g" deploy/mosquitto/quietfix.conf.in > "$BROKER_DIR/mosquitto.conf"
"$VENV/bin/python" - "$BROKER_DIR" "$SERVICE_USER" "$SERVICE_PASSWORD" <<'PYEOF'
import sys
from pathlib import Path
from core import broker
run, user, password = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
broker.write_acl(run / "acl", user)
entries = broker.read_passwd(run / "passwd")
if user not in entries:
    broker.upsert_credentials(run / "passwd", [(user, password)])
PYEOF
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! port_open "$MQTT_PORT"; then
  say "starting mosquitto on port $MQTT_PORT"
  # Running as root, Mosquitto drops to user 'mosquitto' unless told otherwise; keep files readable for it.
  if [ "$(id -u)" = 0 ]; then echo "user root" >> "$BROKER_DIR/mosquitto.conf"; fi
  "$MOSQUITTO" -d -c "$BROKER_DIR/mosquitto.conf"
  for _ in $(seq 1 30); do port_open "$MQTT_PORT" && break; sleep 0.2; done
else
  kill -HUP "$(cat "$BROKER_DIR/mosquitto.pid" 2>/dev/null)" 2>/dev/null || true
fi

# 4. Database and migrations.
say "database: creating it if missing and applying migrations (quietfix migrate)"
QUIETFIX_LOG_LEVEL=WARNING "$VENV/bin/quietfix" migrate  # one JSON summary line, not one log line per migration

# 5. Web views: front-end libraries from npm and Chromium for the browser tests (each only when missing).
bash scripts/setup-web.sh
