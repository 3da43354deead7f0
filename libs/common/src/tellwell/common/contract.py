"""The published contract: JSON Schema per event, an AsyncAPI document, and compatibility rules.

``tellwell contract export`` writes both under ``docs/``; the snapshot committed there is what
other teams read, and ``compatibility_problems`` decides whether a change to the models may ship:

* adding an optional field, a new enum value or a new event is compatible;
* removing a field, changing its type, making an optional field required, adding a required
  field, or removing an enum value is not (it needs a new ``.v2`` topic).

Example::

    problems = compatibility_problems(old_schema, event_json_schema(RawArticle))
    assert not problems, problems
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from tellwell.common.events import EVENT_BY_TOPIC, Event
from tellwell.common.topics import Topic

JSON = dict[str, Any]
PRODUCERS = {
    Topic.raw_article: "ingest",
    Topic.story_cluster: "cluster",
    Topic.story_summary: "summarize",
    Topic.story_scored: "score",
}


def event_json_schema(model: type[Event]) -> JSON:
    """The JSON Schema of an event as consumers validate it."""
    return model.model_json_schema(mode="serialization")


def json_schemas() -> dict[str, JSON]:
    """One schema per main topic, keyed by topic name."""
    return {topic.value: event_json_schema(model) for topic, model in EVENT_BY_TOPIC.items()}


def asyncapi_document(version: str = "1.0.0") -> JSON:
    """An AsyncAPI 3.0 document of the four topics, their payloads and their owners."""
    broker = KafkaBroker("kafka:9092")
    for topic, model in EVENT_BY_TOPIC.items():
        broker.publisher(
            topic.value,
            title=f"{topic.value}:{PRODUCERS[topic]}",
            description=inspect.cleandoc(model.__doc__ or ""),
            schema=model,
        )
    spec = AsyncAPI(
        broker,
        title="TellWell events",
        version=version,
        description=(
            "Topics TellWell publishes. Every message is JSON with the common envelope "
            "(event_id, type, schema_version, occurred_at, producer, trace_id). story.* topics are "
            "log-compacted and keyed by story_id; raw.article is keyed by article_id. "
            "Failed messages go to <topic>.dlq with the error in headers."
        ),
    )
    document: JSON = json.loads(spec.to_specification().to_json())
    return document


# ------------------------------------------------------------------ compatibility


def _resolve(schema: JSON, root: JSON) -> JSON:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = root.get("$defs", {}).get(name, {})
    return schema


def _variants(schema: JSON, root: JSON) -> list[JSON]:
    schema = _resolve(schema, root)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return [v for sub in schema[key] for v in _variants(sub, root)]
    return [schema]


def _type_of(schema: JSON) -> str:
    if "const" in schema:
        return "const"
    if "enum" in schema:
        return "enum"
    t = schema.get("type")
    if isinstance(t, list):
        return "|".join(sorted(t))
    if t is None:
        return "any"
    return f"{t}:{schema['format']}" if "format" in schema else str(t)


def compatibility_problems(
    old: JSON, new: JSON, *, _path: str = "", _roots: tuple[JSON, JSON] | None = None
) -> list[str]:
    """Why ``new`` cannot replace ``old`` for existing producers and consumers (empty: it can)."""
    old_root, new_root = _roots or (old, new)
    old_s, new_s = _resolve(old, old_root), _resolve(new, new_root)
    where = _path or "<root>"
    problems: list[str] = []

    old_vars, new_vars = _variants(old_s, old_root), _variants(new_s, new_root)
    if len(old_vars) > 1 or len(new_vars) > 1:
        new_types = {_type_of(v) for v in new_vars}
        for v in old_vars:
            if _type_of(v) not in new_types and "any" not in new_types:
                problems.append(f"{where}: type {_type_of(v)} no longer accepted")
        if len(old_vars) == 1 and len(new_vars) > 1:
            # widening a field to nullable/union breaks consumers that expect the old type
            problems.append(f"{where}: type widened from {_type_of(old_vars[0])} to {sorted(new_types)}")
        for ov in old_vars:
            for nv in new_vars:
                if _type_of(ov) == _type_of(nv) and ov.get("type") in ("object", "array"):
                    problems += compatibility_problems(ov, nv, _path=_path, _roots=(old_root, new_root))
        return problems

    old_t, new_t = _type_of(old_s), _type_of(new_s)
    if old_t != new_t and new_t != "any":
        if not (old_t == "const" and new_t == "enum"):
            return [f"{where}: type changed from {old_t} to {new_t}"]
    if old_t == "const" and new_s.get("const", old_s["const"]) != old_s["const"]:
        problems.append(f"{where}: constant changed from {old_s['const']!r}")
    if old_t == "enum":
        removed = set(old_s["enum"]) - set(new_s.get("enum") or old_s["enum"])
        if removed:
            problems.append(f"{where}: enum values removed: {sorted(removed)}")

    if old_s.get("type") == "object":
        old_props, new_props = old_s.get("properties", {}), new_s.get("properties", {})
        old_req, new_req = set(old_s.get("required", [])), set(new_s.get("required", []))
        for name in old_props:
            if name not in new_props:
                problems.append(f"{_path}.{name}: removed")
        for name in sorted(new_req - old_req):
            what = "made required" if name in old_props else "added as required"
            problems.append(f"{_path}.{name}: {what}")
        for name, sub in old_props.items():
            if name in new_props:
                problems += compatibility_problems(
                    sub, new_props[name], _path=f"{_path}.{name}", _roots=(old_root, new_root)
                )
        if "additionalProperties" in old_s and isinstance(old_s["additionalProperties"], dict):
            new_ap = new_s.get("additionalProperties")
            if isinstance(new_ap, dict):
                problems += compatibility_problems(
                    old_s["additionalProperties"],
                    new_ap,
                    _path=f"{_path}.*",
                    _roots=(old_root, new_root),
                )
    if old_s.get("type") == "array" and isinstance(old_s.get("items"), dict):
        problems += compatibility_problems(
            old_s["items"], new_s.get("items", {}), _path=f"{_path}[]", _roots=(old_root, new_root)
        )
    return problems


def snapshot_problems(committed: dict[str, JSON], current: dict[str, JSON]) -> list[str]:
    """Compare every committed topic schema with the current one; a missing topic is a problem."""
    problems: list[str] = []
    for topic, old in committed.items():
        if topic not in current:
            problems.append(f"{topic}: event removed")
            continue
        problems += [f"{topic}: {p}" for p in compatibility_problems(old, current[topic])]
    return problems
