#!/usr/bin/env bash
# FerretDB (a MongoDB wire-protocol server) on an embedded SQLite directory, built from its Go module.
# Usage: ferretdb.sh install|up|down|status     Env: MONGO_PORT (27017), FERRETDB_VERSION (v1.24.2),
#   FERRETDB_DEBUG_ADDR (- = off; e.g. 127.0.0.1:8088 serves /debug/pprof), FERRETDB_LOG_LEVEL (warn),
#   FERRETDB_GOGC (400: Go's garbage collector runs when the heap grew by this %; Go's default 100
#   spent 14% of FerretDB's CPU on collection in the pipeline benchmark, and memory is not short here)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FERRETDB_VERSION="${FERRETDB_VERSION:-v1.24.2}"
MONGO_PORT="${MONGO_PORT:-27017}"
# ".tw2": built with our two _id lookup fixes below (patch level 2: a new level gets a new name,
# so an older build is replaced rather than reused).
BIN="$LOCAL/bin/ferretdb-$FERRETDB_VERSION.tw2"
server_paths ferretdb

install() {
  [ -x "$BIN" ] && return 0
  go_build_start FerretDB "$FERRETDB_VERSION" 1.22 "about 2 minutes"
  local src="$LOCAL/src/ferretdb-$FERRETDB_VERSION" modcache
  {
    # The module zip lacks the generated build/version/version.txt that `go install` would need,
    # so build from a writable copy of the module with that file written.
    modcache=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
    [ -n "$modcache" ] || exit 1
    rm -rf "$src" && mkdir -p "$(dirname "$src")" && cp -r "$modcache" "$src" && chmod -R u+w "$src"
    echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
    echo "tellwell-local" >"$src/build/version/package.txt"
    # Two fixes to FerretDB 1.x's SQLite backend, both about finding a document by `_id` (profiled
    # with pprof under the pipeline benchmark, where they were most of FerretDB's CPU):
    # 1. It indexes `_id` as `_ferretdb_sjson->"_id"` but looks it up as `_ferretdb_sjson->'$._id'`,
    #    a different expression, so SQLite never used the index (EXPLAIN QUERY PLAN: SCAN): every
    #    find, update, replace and delete by `_id` parsed every row's JSON. Both expressions return
    #    the same value; spelling the lookup like the index makes it a SEARCH.
    # 2. It narrows by `_id` only when the filter is `{_id: <string>}` alone, so `{_id: x, version: v}`
    #    (a conditional replace) read the whole table. The handler applies the full filter to what
    #    the backend returns anyway, so narrowing by a top-level `_id` whatever else the filter says
    #    returns the same documents.
    local go="$src/internal/backends/sqlite"
    sed -i "s|IDColumn = DefaultColumn + \"->'\$._id'\"|IDColumn = DefaultColumn + \`->\"_id\"\`|" \
      "$go/metadata/metadata.go"
    sed -i 's|if params.Filter.Len() == 1 {|if params.Filter.Len() >= 1 {|' "$go/collection.go"
    if ! grep -q 'IDColumn = DefaultColumn + `->"_id"`' "$go/metadata/metadata.go" \
      || [ "$(grep -c 'if params.Filter.Len() >= 1 {' "$go/collection.go")" != 2 ]; then
      echo "the _id lookup fixes did not apply to FerretDB $FERRETDB_VERSION"; exit 1
    fi
    mkdir -p "$LOCAL/bin"
    (cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$BIN.tmp" ./cmd/ferretdb) && mv "$BIN.tmp" "$BIN"
  } >"$LOGS/ferretdb-install.log" 2>&1 || die "building FerretDB failed (see $LOGS/ferretdb-install.log)"
  rm -rf "$src"
  info "FerretDB $FERRETDB_VERSION built: $BIN"
}

ready() {
  port_open 127.0.0.1 "$MONGO_PORT"
}

up() {
  already_running FerretDB "$PIDFILE" "$MONGO_PORT" && return 0
  install
  port_open 127.0.0.1 "$MONGO_PORT" && die "port $MONGO_PORT is taken by another process: set MONGO_PORT"
  mkdir -p "$DATA" "$STATE/data/ferretdb-state"
  info "starting FerretDB $FERRETDB_VERSION (SQLite) on 127.0.0.1:$MONGO_PORT"
  GOGC="${FERRETDB_GOGC:-400}" setsid "$BIN" --handler=sqlite --sqlite-url="file:$DATA/" --listen-addr="127.0.0.1:$MONGO_PORT" \
    --state-dir="$STATE/data/ferretdb-state" --telemetry=disable \
    --debug-addr="${FERRETDB_DEBUG_ADDR:--}" --log-level="${FERRETDB_LOG_LEVEL:-warn}" \
    >"$LOGS/ferretdb.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  await_start FerretDB "$PIDFILE" "$MONGO_PORT" 30 "$LOGS/ferretdb.log"
}

down() { stop_pid "$PIDFILE" FerretDB; }

server_main ferretdb "$PIDFILE" "127.0.0.1:$MONGO_PORT" "$@"
