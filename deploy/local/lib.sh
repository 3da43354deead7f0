# Shared helpers for the deploy/local scripts (sourced, not run).
# Downloads and builds live under $TELLWELL_LOCAL (default: <repo>/.local); a running stack's data,
# logs and pids under $TELLWELL_STATE (default: the same folder). A second, private stack (the
# end-to-end and fault tests start one) sets TELLWELL_STATE and its own ports and shares the builds.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL="${TELLWELL_LOCAL:-$REPO_ROOT/.local}"
STATE="${TELLWELL_STATE:-$LOCAL}"
LOGS="$STATE/logs"
RUN="$STATE/run"
mkdir -p "$LOCAL" "$LOGS" "$RUN"

die() { echo "error: $*" >&2; exit 1; }
info() { echo "[local] $*" >&2; }

need() {  # need CMD "what to install"
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found: install $2"
}

port_open() {  # port_open HOST PORT
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

pid_alive() {  # pid_alive PIDFILE
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

wait_for() {  # wait_for SECONDS DESCRIPTION CMD...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
  info "$what ready"
}

stop_pid() {  # stop_pid PIDFILE NAME: SIGTERM, wait up to 30 s, then SIGKILL
  local f=$1 name=$2 pid
  if ! pid_alive "$f"; then rm -f "$f"; info "$name not running"; return 0; fi
  pid=$(cat "$f")
  # Each server runs in its own session (setsid): signal its whole process group.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; info "$name killed"; fi
  rm -f "$f"
  info "$name stopped"
}

# Serialise concurrent callers (pytest workers, make targets) on one lock per component.
with_lock() {  # with_lock NAME CMD...
  local name=$1; shift
  exec {lockfd}>"$RUN/$name.lock"
  flock -w 600 "$lockfd" || die "timed out waiting for the $name lock"
  "$@"
  local rc=$?
  flock -u "$lockfd"
  return $rc
}

go_build_start() {  # go_build_start NAME VERSION GO_VERSION NOTE: Go is there; say what is built
  need go "Go $3+ (https://go.dev/doc/install or Debian: apt-get install golang)"
  info "building $1 $2 from its Go module (first time only; $4)"
}

pip_venv() {  # pip_venv VENV PACKAGE VERSION: PACKAGE==VERSION from PyPI in its own venv, once
  local venv=$1 package=$2 version=$3
  [ -f "$venv/.complete" ] && return 0
  need python3 "Python 3.11+"
  info "installing $package $version from PyPI (first time only)"
  rm -rf "$venv"
  { python3 -m venv "$venv" && "$venv/bin/pip" install -q "$package==$version"; } \
    >"$LOGS/$package-install.log" 2>&1 || {
    rm -rf "$venv"
    die "installing $package failed (see $LOGS/$package-install.log)"
  }
  touch "$venv/.complete"  # an interrupted install is redone, never half-used
}

# The start-up, status and commands that kafka.sh and ferretdb.sh share; each script defines
# install, up (which calls start_server), down and ready.

server_paths() {  # server_paths NAME: where the server keeps its data (DATA) and its pid (PIDFILE)
  DATA="$STATE/data/$1"
  PIDFILE="$RUN/$1.pid"
}

already_running() {  # already_running NAME PIDFILE PORT: says so, and is true, when it runs
  pid_alive "$2" || return 1
  info "$1 already running (pid $(cat "$2"), port $3)"
}

await_start() {  # await_start NAME PIDFILE PORT SECONDS LOGS: the server just started opens PORT
  local name=$1 pidfile=$2 port=$3 seconds=$4 logs=$5
  wait_for "$seconds" "$name" ready && return 0
  pid_alive "$pidfile" || die "$name exited during start-up (see $logs)"
  die "$name did not open port $port within $seconds s (see $logs)"
}

server_status() {  # server_status NAME PIDFILE ADDRESS: "NAME: up (pid, ADDRESS)", or "NAME: down" and false
  if pid_alive "$2" && ready; then echo "$1: up (pid $(cat "$2"), $3)"; return 0; fi
  echo "$1: down"; return 1
}

server_main() {  # server_main NAME PIDFILE ADDRESS COMMAND: install|up|down (one at a time) or status
  local name=$1 pidfile=$2 address=$3
  case "${4:-}" in
    install) with_lock "$name" install ;;
    up) with_lock "$name" up ;;
    down) with_lock "$name" down ;;
    status) server_status "$name" "$pidfile" "$address" ;;
    *) die "usage: $0 install|up|down|status" ;;
  esac
}
