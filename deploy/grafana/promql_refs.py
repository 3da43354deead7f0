"""Print what each PromQL expression of a Grafana dashboard reads, as parsed by promql-parser.

Run by promql.sh in promql-parser's own venv (this file imports nothing from TellWell). Output: a
JSON list, one entry per expression: its panel, the metric names it selects with the labels it
matches on, and each aggregation's grouping labels with the metrics under that aggregation.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import promql_parser

# Grafana's own variables are not PromQL; give them values of the right kind before parsing.
GRAFANA_RANGES = re.compile(r"\$__(rate_interval|interval|range)\b")


def selectors(expr: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            labels = [m.name for m in node.matchers.matchers]
            found.append({"name": node.name, "labels": labels})

    promql_parser.walk(expr, visit)
    return found


def references(text: str) -> dict[str, Any]:
    expr = promql_parser.parse(GRAFANA_RANGES.sub("5m", text))
    groupings: list[dict[str, Any]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            groupings.append(
                {
                    "type": str(node.modifier.type).rsplit(".", 1)[-1].lower(),
                    "labels": list(node.modifier.labels),
                    "metrics": [s["name"] for s in selectors(node.expr)],
                }
            )

    promql_parser.walk(expr, visit)
    return {"selectors": selectors(expr), "groupings": groupings}


def main() -> None:
    dashboard = json.loads(open(sys.argv[1], encoding="utf-8").read())
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            out.append({"panel": panel["title"], "expr": target["expr"], **references(target["expr"])})
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
