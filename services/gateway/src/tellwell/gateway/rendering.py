"""Server-side HTML: Jinja2 with autoescaping on, so every article-supplied string is text."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from tellwell.common.views import prose
from tellwell.gateway import domain


def make_templates() -> Environment:
    env = Environment(
        loader=PackageLoader("tellwell.gateway", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        category_label=domain.category_label,
        safe_url=domain.safe_url,
        iso=domain.iso,
        pct=lambda v: f"{round(v or 0)}",
        lean_side=domain.lean_side,
        prose=prose,
    )
    env.globals.update(
        lean_segments=domain.lean_segments,
        lean_summary=domain.lean_summary,
        group_perspectives=domain.group_perspectives,
        CONFIDENCE_MEANING=domain.CONFIDENCE_MEANING,
    )
    return env


def render(env: Environment, template: str, now: datetime, **context: Any) -> bytes:
    """Render a template to bytes; ``age`` labels are relative to ``now``."""

    def age(when: datetime | str | None) -> str:
        if isinstance(when, str):
            when = datetime.fromisoformat(when.replace("Z", "+00:00"))
        return domain.age_label(when, now)

    return env.get_template(template).render(now=now, age=age, **context).encode()
