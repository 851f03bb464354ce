#!/usr/bin/env bash
# The project's two front doors, on a machine with only Python:
#   ./run_local.sh [pipeline flags]   set up .venv, start the local stack, run both branches, compare, stop the stack
#   ./run_local.sh test [pytest args] set up .venv with test extras, run the test suite
#   ./run_local.sh sweep [sweep flags] start the local stack, run both paths at a ladder of rates (comparison.sweep)
#   ./run_local.sh up | down | status start / stop / show the local stack in the background (.local/stack.env)
#   ./run_local.sh -h | --help        this usage, then python -m pipeline.run --help; starts nothing
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv
STATE=${LOCAL_STACK_DIR:-.local}
# Ports of the stack that ./run_local.sh and ./run_local.sh up start (override to run beside another stack).
UP_PORTS=(--oic-port "${LOCAL_OIC_PORT:-8088}" --oic-https-port "${LOCAL_OIC_HTTPS_PORT:-8443}" --bq-rest-port "${LOCAL_BQ_PORT:-9050}"
          --bq-grpc-port "${LOCAL_BQ_GRPC_PORT:-9060}")

log() { printf '==> %s\n' "$*" >&2; }

ensure_venv() {
  # (Re)install when setup.py changed or a wanted extra is missing. .venv/.installed holds one "extra checksum"
  # line per installed extra, so the test suite's venv also serves the main command without reinstalling.
  local extras=$1 sum missing=0 extra
  sum=$(cksum < setup.py | cut -d' ' -f1)
  for extra in ${extras//,/ }; do
    grep -qxF "$extra $sum" "$VENV/.installed" 2>/dev/null || missing=1
  done
  if [ -x "$VENV/bin/python" ] && [ $missing = 0 ]; then
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
  # Keep what is installed already (same setup.py) and add what is wanted.
  extras=$( (echo "${extras//,/ }" | tr ' ' '\n'; { grep " $sum\$" "$VENV/.installed" 2>/dev/null || true; } | cut -d' ' -f1) \
            | sort -u | paste -sd, -)
  log "installing the project with extras [$extras] into $VENV (about 2 minutes the first time)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[$extras]"
  for extra in ${extras//,/ }; do echo "$extra $sum"; done > "$VENV/.installed"
}

stack() { "$VENV/bin/python" -m devstack "$@" --state-dir "$STATE"; }

usage() {
  cat <<'USAGE'
usage: ./run_local.sh [pipeline flags]       start the local stack, run both paths, print the comparison, stop it
       ./run_local.sh up [devstack flags]    start the local stack in the background (writes .local/stack.env)
       ./run_local.sh down | status          stop / show the background stack
       ./run_local.sh test [pytest args]     type-check, then run the test suite
       ./run_local.sh sweep [sweep flags]    run the pipeline over a range of settings and compare (see its --help)
       ./run_local.sh -h | --help            this text; starts nothing

Any other arguments go to `python -m pipeline.run`, whose flags follow. A stack that is already up
(./run_local.sh up) is reused and left running; otherwise one is started for the run and stopped after it.
Environment: PYTHON (python3), LOCAL_STACK_DIR (.local), LOCAL_OIC_PORT (8088), LOCAL_BQ_PORT (9050),
LOCAL_BQ_GRPC_PORT (9060).

USAGE
}

run_forwarding_signals() {
  # Runs "$@" and passes each Ctrl-C and SIGTERM this shell gets on to it exactly once, so that the run drains on
  # the first and is cancelled on the second (a shell waiting for a foreground command would hold SIGTERM until the
  # command ended by itself, i.e. never for a stream). The command gets a process group of its own (set -m): the
  # terminal's Ctrl-C reaches only this shell, which forwards it. Returns with the command's exit status.
  local child status again
  set -m
  "$@" &
  child=$!
  set +m
  trap 'kill -INT "$child" 2>/dev/null || true' INT
  trap 'kill -TERM "$child" 2>/dev/null || true' TERM
  while :; do
    if wait "$child"; then status=0; else status=$?; fi
    if ! kill -0 "$child" 2>/dev/null; then
      # `wait` may have been cut short by a forwarded signal just as the command ended: ask for its status again.
      if [ "$status" -gt 128 ]; then
        if wait "$child" 2>/dev/null; then again=0; else again=$?; fi
        [ "$again" = 127 ] || status=$again
      fi
      break
    fi
  done
  trap - INT TERM
  return "$status"
}

wants_help() {
  local arg
  for arg in "$@"; do
    case "$arg" in -h|--help) return 0 ;; esac
  done
  return 1
}

case "${1:-}" in
  -h|--help)
    usage
    ensure_venv local
    exec "$VENV/bin/python" -m pipeline.run --help
    ;;
  test)
    shift
    ensure_venv local,test
    log "type-checking (mypy.ini)"
    "$VENV/bin/python" -m mypy --no-error-summary || { echo "error: the type check failed (above)" >&2; exit 1; }
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  up)
    shift
    ensure_venv local
    stack up "${UP_PORTS[@]}" "$@"
    ;;
  down|status)
    if [ ! -x "$VENV/bin/python" ]; then echo "no local stack (no $VENV yet)"; exit 0; fi
    stack "$1"
    ;;
  *)
    command=(-m pipeline.run)
    if [ "${1:-}" = sweep ]; then
      shift
      command=(-m comparison.sweep)
    fi
    ensure_venv local
    if wants_help "$@"; then  # `./run_local.sh --records 5 --help`: the usage, and no stack for it.
      if [ "${command[1]}" != pipeline.run ]; then exec "$VENV/bin/python" "${command[@]}" --help; fi
      usage
      exec "$VENV/bin/python" -m pipeline.run --help
    fi
    started_here=0
    if "$VENV/bin/python" -m devstack status --state-dir "$STATE" >/dev/null 2>&1; then
      log "reusing the local stack that is already up (./run_local.sh down stops it)"
    else
      started_here=1
      trap 'log "stopping the local stack"; stack down >/dev/null || true' EXIT
      trap 'exit 130' INT
      trap 'exit 143' TERM
      stack up "${UP_PORTS[@]}"
    fi
    set -a
    # shellcheck disable=SC1091
    . "$STATE/stack.env"
    set +a
    # OAuth runs as on OIC 3: over HTTPS (the stand-in's per-stack CA is OIC_CA_BUNDLE); the plain-HTTP trigger
    # stays the default for Basic Auth, as in the lab.
    prev=
    for arg in "$@"; do
      if [ "$arg" = --oic_auth=oauth ] || { [ "$prev" = --oic_auth ] && [ "$arg" = oauth ]; }; then
        OIC_URL=$OIC_HTTPS_URL
      fi
      prev=$arg
    done
    if [ $started_here = 0 ]; then
      exec "$VENV/bin/python" "${command[@]}" "$@"  # Nothing to clean up after: signals go straight to the run.
    fi
    run_forwarding_signals "$VENV/bin/python" "${command[@]}" "$@"
    ;;
esac
