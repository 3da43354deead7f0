"""Schemathesis hooks (``SCHEMATHESIS_HOOKS=<this file>``): hostile URLs for ingest's ``url`` fields.

From the schema alone schemathesis generates ``url`` values that are random text, which never get
past ``urlsplit``. These hooks mark every ``url`` property of the loaded schema with a private format
and generate it from ``tests.ingest.urls``: IPv4 in every spelling, IPv6 literals (good and
broken), international names, odd hosts and ports. The service's own document is unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # loaded by path, from a subprocess

from tests.ingest.urls import urls

URL_FORMAT = "tellwell-hostile-url"
URL_MODELS = ("ArticleIn", "FeedIn")

# Mostly hostile URLs, and some plain public ones so that requests also get past validation.
schemathesis.openapi.format(
    URL_FORMAT, st.one_of(urls(), st.sampled_from(["https://www.reuters.com/world/x", "http://8.8.8.8/rss"]))
)


@schemathesis.hook
def before_load_schema(context: Any, raw_schema: dict[str, Any]) -> None:
    schemas = raw_schema.get("components", {}).get("schemas", {})
    for name in URL_MODELS:
        url = schemas.get(name, {}).get("properties", {}).get("url")
        if url is None:
            continue
        for option in [url, *url.get("anyOf", [])]:
            if option.get("type") == "string":
                option["format"] = URL_FORMAT
