#!/usr/bin/env bash
# Front-end set-up for the web views, idempotent and quick: npm ci only when package-lock.json changed since
# the last install; Debian's Chromium (for the browser tests) only when it is missing. `playwright install`
# is never run: the tests drive /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "[setup-web] $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ -f package-lock.json ]; then
  stamp=node_modules/.quietfix-lock
  if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
    if command -v npm >/dev/null 2>&1; then
      say "installing front-end libraries with npm ci into node_modules (Leaflet, Natural Earth map data; once per package-lock.json change)"
      npm ci --no-audit --no-fund --loglevel=error >/dev/null
      cp package-lock.json "$stamp"
    else
      say "npm not found: the board will run without its map library (apt-get install npm to add it)"
    fi
  fi
fi

if [ ! -x /usr/bin/chromium ] || ! command -v chromedriver >/dev/null 2>&1; then
  say "installing Chromium with apt-get for the browser tests (a few minutes, once)"
  as_root apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# A Chinese font: pages in zh-CN (and the README's screenshots) draw boxes without one. WenQuanYi Micro Hei is
# small (a few MB) and in Debian; people's own machines have their system's CJK fonts.
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
  say "installing a Chinese font (fonts-wqy-microhei) with apt-get for the zh-CN pages in the browser tests"
  as_root apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei fontconfig >/dev/null
fi
