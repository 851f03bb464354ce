#!/usr/bin/env bash
# The project's two front doors, on a machine with only Python:
#   ./run_local.sh [pipeline flags]   set up .venv, start the local stack, run both branches, compare, stop the stack
#   ./run_local.sh test [pytest args] set up .venv with test extras, run the test suite
#   ./run_local.sh up | down | status start / stop / show the local stack in the background (.local/stack.env)
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv
STATE=.local

log() { printf '==> %s\n' "$*" >&2; }

ensure_venv() {
  # (Re)install when setup.py changed or the wanted extras are missing; a stamp file remembers what is installed.
  local extras=$1
  local want
  want="$extras $(cksum < setup.py | cut -d' ' -f1)"
  if [ -x "$VENV/bin/python" ] && [ -f "$VENV/.installed" ] && grep -qxF "$want" "$VENV/.installed"; then
    return
  fi
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "error: Python 3.10 or newer is needed as '$PYTHON' (set PYTHON=/path/to/python3)" >&2
    exit 2
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  log "installing the project with extras [$extras] into $VENV (about 2 minutes the first time)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[$extras]"
  echo "$want" > "$VENV/.installed"
}

stack() { "$VENV/bin/python" -m devstack "$@" --state-dir "$STATE"; }

case "${1:-}" in
  test)
    shift
    ensure_venv local,test
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  up)
    shift
    ensure_venv local
    stack up "$@"
    ;;
  down|status)
    if [ ! -x "$VENV/bin/python" ]; then echo "no local stack (no $VENV yet)"; exit 0; fi
    stack "$1"
    ;;
  *)
    ensure_venv local
    started_here=0
    if "$VENV/bin/python" -m devstack status --state-dir "$STATE" >/dev/null 2>&1; then
      log "reusing the local stack that is already up (./run_local.sh down stops it)"
    else
      started_here=1
      trap 'log "stopping the local stack"; stack down >/dev/null || true' EXIT
      trap 'exit 130' INT TERM
      stack up
    fi
    set -a
    # shellcheck disable=SC1091
    . "$STATE/stack.env"
    set +a
    "$VENV/bin/python" -m pipeline.run "$@"
    ;;
esac
