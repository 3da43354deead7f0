#!/usr/bin/env bash
# What the dashboard's queries read, by Prometheus' own grammar: parses every PromQL expression of a
# Grafana dashboard with promql-parser (PyPI; installed once into its own venv under .local/) and
# prints, per expression, the metric names, matcher labels and grouping labels it uses (JSON).
# Usage: promql.sh refs DASHBOARD.json        Env: PROMQL_PARSER_VERSION (0.12.0)
# tests/deploy/test_grafana.py compares that with the metrics the services really export.
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../local" && pwd)/lib.sh"

PROMQL_PARSER_VERSION="${PROMQL_PARSER_VERSION:-0.12.0}"
VENV="$LOCAL/tools/promql-parser-$PROMQL_PARSER_VERSION"

install() { pip_venv "$VENV" promql-parser "$PROMQL_PARSER_VERSION"; }

case "${1:-}" in
  install) with_lock promql-parser install ;;
  refs) shift; with_lock promql-parser install; exec "$VENV/bin/python" "$(dirname "${BASH_SOURCE[0]}")/promql_refs.py" "$@" ;;
  *) die "usage: $0 install | refs DASHBOARD.json" ;;
esac
