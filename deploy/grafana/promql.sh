#!/usr/bin/env bash
# What the dashboard's queries read, by Prometheus' own grammar: parses every PromQL expression of a
# Grafana dashboard with promql-parser (PyPI; installed once into its own venv under .local/) and
# prints, per expression, the metric names, matcher labels and grouping labels it uses (JSON).
# Usage: promql.sh refs DASHBOARD.json        Env: PROMQL_PARSER_VERSION (0.12.0)
# tests/deploy/test_grafana.py compares that with the metrics the services really export.
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../local" && pwd)/lib.sh"

PROMQL_PARSER_VERSION="${PROMQL_PARSER_VERSION:-0.12.0}"
VENV="$LOCAL/tools/promql-parser-$PROMQL_PARSER_VERSION"

install() {
  [ -f "$VENV/.complete" ] && return 0
  need python3 "Python 3.11+"
  info "installing promql-parser $PROMQL_PARSER_VERSION from PyPI (first time only)"
  rm -rf "$VENV"
  { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q "promql-parser==$PROMQL_PARSER_VERSION"; } \
    >"$LOGS/promql-parser-install.log" 2>&1 || {
    rm -rf "$VENV"
    die "installing promql-parser failed (see $LOGS/promql-parser-install.log)"
  }
  touch "$VENV/.complete"  # an interrupted install is redone, never half-used
}

case "${1:-}" in
  install) with_lock promql-parser install ;;
  refs) shift; with_lock promql-parser install; exec "$VENV/bin/python" "$(dirname "${BASH_SOURCE[0]}")/promql_refs.py" "$@" ;;
  *) die "usage: $0 install | refs DASHBOARD.json" ;;
esac
