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
