#!/usr/bin/env bash
# Idempotent setup for a fresh machine, quiet when everything is already in place. Called by ./af
# before every command:
#   scripts/bootstrap.sh base    the virtual environment with the package and RUN_EXTRAS
#   scripts/bootstrap.sh judge   base + the Docker engine + the sandbox image (commands that judge code)
#   scripts/bootstrap.sh test    TEST_EXTRAS and TEST_DEBIAN_PACKAGES too, then as judge (./af test, CI)
# Works unattended (CI=true, no stdin). ALPHAFLOW_NO_DOCKER=1 skips the engine and the image
# (alphaflow's `--sandbox auto` then means the local backend).
set -euo pipefail

# What each mode installs. Add an extra or a Debian package here, on its own line's list.
RUN_EXTRAS="dev"
TEST_EXTRAS="dev,local,ray"         # CI runs the heavy extras' tests on CPU
TEST_DEBIAN_PACKAGES="chromium"     # the trace viewer and report pages are loaded in a real browser

MODE="${1:-judge}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.alphaflow-install-stamp"
log() { printf 'bootstrap: %s\n' "$*" >&2; }
case "$MODE" in base | judge | test) ;; *) log "unknown mode '$MODE' (base, judge or test)"; exit 2 ;; esac

# 1. Virtual environment and the package with its extras. Reinstalled when pyproject.toml changes or
#    an extra is wanted that the stamp does not list; the stamp is "<pyproject hash> <extras,...>".
extras="$RUN_EXTRAS"
[ "$MODE" = test ] && extras="$TEST_EXTRAS"
want_hash="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
have_hash="" have_extras=""
if [ -f "$STAMP" ]; then read -r have_hash have_extras < "$STAMP" || true; fi
[ -n "$have_hash" ] && [ -z "$have_extras" ] && have_extras=dev  # a stamp from before extras were listed
missing=""
for extra in ${extras//,/ }; do
  case ",$have_extras," in *",$extra,"*) ;; *) missing="$missing $extra" ;; esac
done
if [ ! -x "$VENV/bin/python" ] || [ "$have_hash" != "$want_hash" ] || [ -n "$missing" ]; then
  [ "$have_hash" = "$want_hash" ] && extras="$(printf '%s\n' ${have_extras//,/ } ${extras//,/ } | sort -u | paste -sd, -)"
  log "installing alphaflow[$extras] into $VENV (the first time takes a few minutes)"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  pip_args=(-q --disable-pip-version-check)
  # torch only ever as the CPU wheel: from the local wheel folder when there is one (pinned to it),
  # else from PyTorch's CPU index, never PyPI's multi-GB CUDA build.
  wheels="${PIP_FIND_LINKS:-}"
  if [ -z "$wheels" ] && [ -d /opt/wheels ]; then wheels=/opt/wheels; pip_args+=(--find-links /opt/wheels); fi
  case ",$extras," in
    *,local,*)
      cpu_torch="$(ls "${wheels:-/nonexistent}"/torch-*+cpu-*.whl 2>/dev/null | head -n1 || true)"
      if [ -z "$cpu_torch" ] && ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
        log "no local CPU torch wheel: installing torch from https://download.pytorch.org/whl/cpu"
        "$VENV/bin/python" -m pip install "${pip_args[@]}" torch --index-url https://download.pytorch.org/whl/cpu
      fi
      constraint="$VENV/.alphaflow-torch-constraint.txt"
      if [ -n "$cpu_torch" ]; then
        basename "$cpu_torch" | sed -E 's/^torch-([^-]+)-.*/torch==\1/' > "$constraint"
      else
        "$VENV/bin/python" -c 'import torch; print("torch==" + torch.__version__)' > "$constraint"
      fi
      pip_args+=(--constraint "$constraint")
      ;;
  esac
  "$VENV/bin/python" -m pip install "${pip_args[@]}" -e "$ROOT[$extras]" \
    2> >(grep -v "is ignored: it is neither" >&2)
  echo "$want_hash $extras" > "$STAMP"
fi

# 2. Debian packages some tests need.
if [ "$MODE" = test ] && [ -n "$TEST_DEBIAN_PACKAGES" ]; then
  absent=""
  for package in $TEST_DEBIAN_PACKAGES; do
    dpkg -s "$package" >/dev/null 2>&1 || absent="$absent $package"
  done
  if [ -n "$absent" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      log "installing$absent (Debian packages the tests need)"
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $absent >/dev/null
    else
      log "the tests need Debian packages:$absent (apt-get install -y$absent as root)"
    fi
  fi
fi

[ "$MODE" = base ] && exit 0

# 3. Docker engine, for commands that judge code.
if [ "${ALPHAFLOW_NO_DOCKER:-0}" = 1 ]; then
  exit 0
fi
NO_ENGINE="judging with --sandbox auto needs it; judge on this host with weaker isolation with --sandbox local"
if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing docker.io and debootstrap (Debian packages)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
  elif ! docker info >/dev/null 2>&1; then
    log "no Docker engine and no root to install one: $NO_ENGINE"
    exit 0
  fi
fi
if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    log "the Docker engine is not running and needs root to start: $NO_ENGINE"
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

# 4. The sandbox image, tagged by the hash of sandbox/: a no-op when that image exists. -P: the
#    current folder (maybe the clone's parent, holding an `alphaflow` folder) must not shadow the package.
tag="$("$VENV/bin/python" -P -c 'from alphaflow.sandbox.image import image_tag; print(image_tag())')"
if ! docker image inspect "$tag" >/dev/null 2>&1; then
  log "building the sandbox image $tag (first run: about 1-2 minutes; progress follows)"
  "$VENV/bin/python" -P -m alphaflow.sandbox.image >/dev/null
else
  "$VENV/bin/python" -P -m alphaflow.sandbox.image --quiet  # points :latest at it
fi
