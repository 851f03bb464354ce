#!/usr/bin/env bash
# The project's two front doors, on a machine with only Python:
#   ./run_local.sh [pipeline flags]   set up .venv, start the local stack, run both branches, compare, stop the stack
#   ./run_local.sh test [pytest args] set up .venv with test extras, run the test suite
#   ./run_local.sh sweep [sweep flags] start the local stack, run both paths at a ladder of rates (comparison.sweep)
#   ./run_local.sh up | down | status start / stop / show the local stack in the background (.local/stack.env)
#   ./run_local.sh lock [uv pip compile flags] refresh requirements/*.lock, the pins .venv and the Dockerfile install
#   ./run_local.sh -h | --help        this usage, then python -m pipeline.run --help; starts nothing
#   ./run_local.sh --help_beam        the same with Beam's standard options too
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv
STATE=${LOCAL_STACK_DIR:-.local}
# Ports of the stack that ./run_local.sh and ./run_local.sh up start (override to run beside another stack).
UP_PORTS=(--oic-port "${LOCAL_OIC_PORT:-8088}" --oic-https-port "${LOCAL_OIC_HTTPS_PORT:-8443}" --bq-rest-port "${LOCAL_BQ_PORT:-9050}"
          --bq-grpc-port "${LOCAL_BQ_GRPC_PORT:-9060}")

log() { printf '==> %s\n' "$*" >&2; }

# The pins: requirements/dev.lock (the local stack and the tests, with every package's hashes) and
# requirements/bootstrap.lock (uv, the installer); ./run_local.sh lock refreshes them and requirements/worker.lock.
LOCKS=(requirements/dev.lock requirements/bootstrap.lock)
INSTALL_WAY=compiled-bytecode  # bump when install_into_venv changes what it leaves in .venv: existing ones install again

install_into_venv() {
  # The pinned, hash-checked packages, then the project itself (editable, no dependencies: nothing unpinned comes
  # in; setuptools to build it comes from the lock too). uv when its own pinned wheel installs, else pip.
  local py=$VENV/bin/python
  if "$py" -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/bootstrap.lock \
      >/dev/null 2>&1; then
    "$VENV/bin/uv" pip install --quiet --python "$py" --require-hashes -r requirements/dev.lock
    "$VENV/bin/uv" pip install --quiet --python "$py" --no-deps --no-build-isolation -e .
  else
    log "uv does not install here (requirements/bootstrap.lock); installing with pip"
    "$py" -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.lock
    "$py" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
  fi
  # The installed packages' bytecode, written now: with PYTHONDONTWRITEBYTECODE set (as on CI machines) no import
  # writes it, and every process compiled Beam afresh (its import 3.1 s instead of 1.1 s here; the suite 303 s
  # instead of 205 s). Some packages ship files that do not compile (templates, fixtures): not an error.
  log "compiling the installed packages' bytecode"
  "$py" -m compileall -q -j 0 "$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    >/dev/null 2>&1 || true
}

compile_project() {
  # The project's own modules' bytecode (into the checkout's __pycache__, ignored by git), for the same reason.
  "$VENV/bin/python" -m compileall -q pipeline transforms launcher comparison devstack benchmarks >/dev/null 2>&1 || true
}

ensure_venv() {
  # (Re)install when setup.py, a lock or the way of installing changed: .venv/.installed holds the checksum of
  # what it was installed from and INSTALL_WAY.
  local sum
  sum=$(cat setup.py "${LOCKS[@]}" | cksum | cut -d' ' -f1)
  if [ -x "$VENV/bin/python" ] && grep -qxF "lock $sum $INSTALL_WAY" "$VENV/.installed" 2>/dev/null; then
    return
  fi
  new_venv
  log "installing the locked packages (requirements/dev.lock) and the project into $VENV (about a minute the first time)"
  install_into_venv
  echo "lock $sum $INSTALL_WAY" > "$VENV/.installed"
}

new_venv() {
  # Creates $VENV when it is missing, with Python 3.11 or newer (the local stack's BigQuery emulator needs 3.11).
  if [ -x "$VENV/bin/python" ]; then
    return
  fi
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: Python 3.11 or newer is needed as '$PYTHON' (set PYTHON=/path/to/python3)" >&2
    exit 2
  fi
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
}

refresh_locks() {
  # Resolves setup.py again into the three locks, keeping every pin that still fits unless asked otherwise
  # (extra arguments go to `uv pip compile`, e.g. --upgrade or --upgrade-package aiohttp). The worker lock is
  # compiled against the dev lock, so the packages they share have the same pins.
  local uv=$VENV/bin/uv compile
  new_venv
  if [ ! -x "$uv" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/bootstrap.lock
  fi
  compile=("$uv" pip compile --quiet --universal --python-version 3.11 --generate-hashes
           --custom-compile-command './run_local.sh lock')
  log "resolving requirements/dev.lock (setup.py with extras local and test, and requirements/build.in)"
  "${compile[@]}" "$@" setup.py requirements/build.in --extra local --extra test -o requirements/dev.lock
  log "resolving requirements/worker.lock (setup.py's install_requires and requirements/build.in, at the dev lock's pins)"
  "${compile[@]}" "$@" setup.py requirements/build.in -c requirements/dev.lock -o requirements/worker.lock
  log "resolving requirements/bootstrap.lock (requirements/bootstrap.in)"
  "${compile[@]}" "$@" requirements/bootstrap.in -o requirements/bootstrap.lock
  git --no-pager diff --stat -- requirements/ 2>/dev/null || true
}

stack() { "$VENV/bin/python" -m devstack "$@" --state-dir "$STATE"; }

usage() {
  cat <<'USAGE'
usage: ./run_local.sh [pipeline flags]       start the local stack, run both paths, print the comparison, stop it
       ./run_local.sh up [devstack flags]    start the local stack in the background (writes .local/stack.env)
       ./run_local.sh down | status          stop / show the background stack
       ./run_local.sh test [pytest args]     type-check, then run the test suite
       ./run_local.sh sweep [sweep flags]    run the pipeline over a range of settings and compare (see its --help)
       ./run_local.sh lock [--upgrade]       resolve setup.py again into requirements/*.lock (pins with hashes)
       ./run_local.sh -h | --help            this text; starts nothing (--help_beam: with Beam's options too)

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
    case "$arg" in -h|--help|--help_beam) return 0 ;; esac
  done
  return 1
}

help_flag() {
  # --help_beam when asked for (every flag, Beam's standard options included), else --help (the project's flags).
  local arg
  for arg in "$@"; do
    if [ "$arg" = --help_beam ]; then echo --help_beam; return; fi
  done
  echo --help
}

wants_oauth() {
  # --oic_auth oauth / --oic_auth=oauth among the arguments.
  local arg prev=
  for arg in "$@"; do
    if [ "$arg" = --oic_auth=oauth ] || { [ "$prev" = --oic_auth ] && [ "$arg" = oauth ]; }; then
      return 0
    fi
    prev=$arg
  done
  return 1
}


case "${1:-}" in
  -h|--help|--help_beam)
    usage
    ensure_venv
    exec "$VENV/bin/python" -m pipeline.run "$(help_flag "$@")"
    ;;
  test)
    shift
    ensure_venv
    compile_project
    log "type-checking (mypy.ini)"
    "$VENV/bin/python" -m mypy --no-error-summary || { echo "error: the type check failed (above)" >&2; exit 1; }
    # Parallel workers, each with a stack of its own (tests/conftest.py); most live tests wait on real time
    # (retries, Retry-After, streams), so more workers than cores pays. TEST_WORKERS=0 runs in this process.
    exec "$VENV/bin/python" -m pytest -n "${TEST_WORKERS:-6}" --dist worksteal "$@"
    ;;
  lock)
    shift
    refresh_locks "$@"
    ;;
  up)
    shift
    ensure_venv
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
    ensure_venv
    if wants_help "$@"; then  # `./run_local.sh --records 5 --help`: the usage, and no stack for it.
      if [ "${command[1]}" != pipeline.run ]; then exec "$VENV/bin/python" "${command[@]}" --help; fi
      usage
      exec "$VENV/bin/python" -m pipeline.run "$(help_flag "$@")"
    fi
    # A mistyped flag or a value of the wrong type: one line and exit 2 at once, before anything else (no Beam import).
    if [ "${command[1]}" = pipeline.run ]; then "$VENV/bin/python" -m launcher.check_flags quick "$@" || exit $?; fi
    started_here=0
    if "$VENV/bin/python" -m devstack status --state-dir "$STATE" >/dev/null 2>&1; then
      reuse=1
      set -a
      # shellcheck disable=SC1091
      . "$STATE/stack.env"
      set +a
      if wants_oauth "$@"; then OIC_URL=$OIC_HTTPS_URL; fi
    else
      reuse=0
    fi
    # The flags first, with the pipeline's own parsing, before any stack starts: a mistyped flag or a bad value is
    # one line and exit 2 (without a stack up, against what the stack will put in stack.env).
    if [ "${command[1]}" = pipeline.run ]; then
      if [ $reuse = 1 ]; then env_from=stack.env; elif wants_oauth "$@"; then env_from=stand-in-https; else env_from=stand-in; fi
      "$VENV/bin/python" -m launcher.check_flags "$env_from" "$@" || exit $?
    fi
    if [ $reuse = 1 ]; then
      log "reusing the local stack that is already up (./run_local.sh down stops it)"
    else
      started_here=1
      trap 'log "stopping the local stack"; stack down >/dev/null || true' EXIT
      trap 'exit 130' INT
      trap 'exit 143' TERM
      stack up "${UP_PORTS[@]}"
      set -a
      # shellcheck disable=SC1091
      . "$STATE/stack.env"
      set +a
      # OAuth runs as on OIC 3: over HTTPS (the stand-in's per-stack CA is OIC_CA_BUNDLE); the plain-HTTP trigger
      # stays the default for Basic Auth, as in the lab.
      if wants_oauth "$@"; then OIC_URL=$OIC_HTTPS_URL; fi
    fi
    if [ $started_here = 0 ]; then
      exec "$VENV/bin/python" "${command[@]}" "$@"  # Nothing to clean up after: signals go straight to the run.
    fi
    run_forwarding_signals "$VENV/bin/python" "${command[@]}" "$@"
    ;;
esac
