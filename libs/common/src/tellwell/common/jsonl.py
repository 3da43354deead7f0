"""One reader for the JSON Lines files TellWell commands take (streams, corpora, pairs).

A bad line stops the read with a ``JsonlError`` naming the file, the line and what is wrong with
it, so a command can print one line (``error: stream.jsonl:17: missing field 'published_at'``)
instead of a ``KeyError`` traceback. The ``tellwell`` CLI prints it that way and exits 2.

Fields are declared with the kind their value must have: ``str``, ``int``, ``float``, ``bool``,
``list``, ``dict``, ``datetime`` (an ISO 8601 string, returned as an aware ``datetime``; one
without an offset is taken as UTC), or a tuple of them. Required fields must be there and not
null; optional ones are checked when present and not null. Other fields pass through unchecked.

Example Snippet::

    from tellwell.common.jsonl import JsonlError, read_jsonl

    for row in read_jsonl(path, required={"id": (str, int), "published_at": datetime},
                          optional={"title": str}):
        row["published_at"]          # a datetime, with a time zone
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Kind = type | tuple[type, ...]
Fields = Mapping[str, Kind] | Iterable[str]

_JSON_NAMES: dict[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "an object",
    datetime: "an ISO 8601 date-time string",
    type(None): "null",
}


class JsonlError(ValueError):
    """A line of a JSONL file that cannot be used: ``str()`` is ``"<path>:<line>: <message>"``."""

    def __init__(self, path: Path | str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = str(path)
        self.line = line
        self.message = message


def parse_datetime(value: str) -> datetime:
    """An ISO 8601 date-time (``Z`` accepted) as an aware datetime; naive ones are taken as UTC."""
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _expected(kind: Kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_JSON_NAMES.get(k, k.__name__) for k in kinds)


def _check(name: str, value: Any, kind: Kind) -> Any:
    """The value, converted if its kind asks for it; raises ValueError with the message to show."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for k in kinds:
        if k is datetime:
            if isinstance(value, str):
                try:
                    return parse_datetime(value)
                except ValueError:
                    continue
        elif k is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        elif k is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif isinstance(value, k):
            return value
    shown = json.dumps(value, ensure_ascii=False)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise ValueError(f"field {name!r} should be {_expected(kind)}, not {_json_kind(value)}: {shown}")


def _as_mapping(fields: Fields) -> Mapping[str, Kind]:
    if isinstance(fields, Mapping):
        return fields
    return dict.fromkeys(fields, object)


def read_jsonl(
    path: Path | str,
    required: Fields = (),
    optional: Mapping[str, Kind] | None = None,
    *,
    skipped: list[JsonlError] | None = None,
) -> Iterator[dict[str, Any]]:
    """The objects of a JSONL file, one per non-blank line, with the declared fields checked.

    ``required`` is a mapping field -> kind, or just names (any non-null value). Raises
    ``JsonlError`` at the first line that is not UTF-8, not JSON, not an object, lacks a required
    field or has a field of the wrong kind; with ``skipped`` (an importer that goes on), each such
    line is appended there instead and the read goes on. ``FileNotFoundError`` and other
    ``OSError`` pass through.
    """
    for _, row in numbered_jsonl(path, required, optional, skipped=skipped):
        yield row


def numbered_jsonl(
    path: Path | str,
    required: Fields = (),
    optional: Mapping[str, Kind] | None = None,
    *,
    skipped: list[JsonlError] | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """As ``read_jsonl``, each object with its line number (for a caller that checks more)."""
    need = _as_mapping(required)
    may = optional or {}
    with Path(path).open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                row = _parse_line(raw, need, may)
            except ValueError as exc:
                error = JsonlError(path, number, str(exc))
                if skipped is None:
                    raise error from None
                skipped.append(error)
                continue
            if row is not None:
                yield number, row


def _parse_line(raw: bytes, need: Mapping[str, Kind], may: Mapping[str, Kind]) -> dict[str, Any] | None:
    """The checked object of one line (None if blank); raises ValueError with the message to show."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.start + 1})") from None
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(row, dict):
        raise ValueError(f"not a JSON object but {_json_kind(row)}")
    for name, kind in need.items():
        if name not in row:
            raise ValueError(f"missing field {name!r}")
        if row[name] is None:
            raise ValueError(f"field {name!r} is null")
        row[name] = _check(name, row[name], kind)
    for name, kind in may.items():
        if row.get(name) is not None:
            row[name] = _check(name, row[name], kind)
    return row
