#!/usr/bin/env bash
# Idempotent setup for a fresh machine: virtual environment with the package, Docker engine, sandbox image.
# Quiet when everything is already in place. Called by ./af before every command.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.alphaflow-install-stamp"
log() { printf 'bootstrap: %s\n' "$*" >&2; }

# 1. Virtual environment and the package (reinstalled when pyproject.toml changes).
want="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  log "installing alphaflow into $VENV"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT[dev]" 2> >(grep -v "is ignored: it is neither" >&2)
  echo "$want" > "$STAMP"
fi

# 2. Docker engine. Skipped with ALPHAFLOW_NO_DOCKER=1 (the local backend is then used).
if [ "${ALPHAFLOW_NO_DOCKER:-0}" = 1 ]; then
  exit 0
fi
if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing docker.io and debootstrap (Debian packages)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
  else
    log "no Docker engine and no root to install one: judging falls back to the local backend"
    exit 0
  fi
fi
if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    log "the Docker engine is not running and needs root to start: judging falls back to the local backend"
    exit 0
  fi
  log "starting dockerd (--bridge=none --iptables=false; sandboxes use --network none)"
  setsid nohup dockerd --bridge=none --iptables=false >/var/log/alphaflow-dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/alphaflow-dockerd.log"; exit 1; }
fi

# 3. The sandbox image (no-op when the image for this sandbox/ content already exists).
"$VENV/bin/python" -m alphaflow.sandbox.image --quiet
