"""Property-based API fuzzing (schemathesis) of the two HTTP APIs, each a real process on a private stack.

Whatever schemathesis generates from the OpenAPI documents, the services answer without a 5xx
and with responses that conform to their own schemas.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pymongo import MongoClient

from tellwell.cli.procs import LocalStack, Service, ServiceProcs
from tellwell.common.testing import make_story_scored
from tellwell.common.views import STORY_VIEWS, view_document
from tests.e2e.harness import private_stack, run_cli

pytestmark = [pytest.mark.kafka, pytest.mark.mongo, pytest.mark.e2e]


@pytest.fixture(scope="module")
def apis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Ingest and gateway on a private stack; seeded with the registry and a few story views."""
    with private_stack(tmp_path_factory.mktemp("fuzz")) as stack:
        env = stack.env(database="fuzz")
        run_cli(env, "sources", "import")
        key = run_cli(env, "apikeys", "create", "fuzz").strip().splitlines()[-1]
        seed_views(stack)
        with ServiceProcs(env=env, logs=stack.logs) as procs:
            procs.start(Service.ingest, extra={"INGEST_POLL_ENABLED": "false"})
            procs.start(Service.gateway)
            procs.wait_ready(120)
            yield {"ingest": procs.procs["ingest"].url, "gateway": procs.procs["gateway"].url, "key": key}
            assert not procs.dead()


def seed_views(stack: LocalStack) -> None:
    now = datetime.now(UTC)
    docs = [
        view_document(make_story_scored(story_id=f"story-{i}", version=i + 1), updated_at=now)
        for i in range(5)
    ]
    with MongoClient(stack.mongo_url) as client:
        client["fuzz"][STORY_VIEWS].insert_many(docs)


URL_HOOKS = Path(__file__).resolve().parents[1] / "ingest" / "schemathesis_hooks.py"


def schemathesis_run(
    url: str, *extra: str, hooks: Path | None = None, max_examples: int = 40
) -> subprocess.CompletedProcess[str]:
    """The schemathesis CLI (its pytest plugin does not support this pytest), deterministic, bounded.

    ``hooks`` is a schemathesis hooks file (``SCHEMATHESIS_HOOKS``), e.g. ``URL_HOOKS``.
    """
    env = dict(os.environ) | ({"SCHEMATHESIS_HOOKS": str(hooks)} if hooks else {})
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
        "--checks", "not_a_server_error,response_schema_conformance,content_type_conformance",
        "--max-examples", str(max_examples), "--generation-deterministic", "--continue-on-failure",
        "--phases", "examples,coverage,fuzzing", *extra,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)


def failures(output: str) -> str:
    """The FAILURES section of schemathesis' report (what failed and the curl to reproduce it)."""
    start = output.find("FAILURES")
    return output[start : start + 8000] if start >= 0 else output[-8000:]


def test_gateway_never_fails(apis: dict[str, str]) -> None:
    # /v1/stream is an endless event stream; the gateway's own tests cover it.
    done = schemathesis_run(apis["gateway"], "--exclude-path", "/v1/stream")
    assert done.returncode == 0, failures(done.stdout)


def test_ingest_never_fails(apis: dict[str, str]) -> None:
    done = schemathesis_run(apis["ingest"], "--header", f"X-API-Key: {apis['key']}")
    assert done.returncode == 0, failures(done.stdout)


def test_ingest_never_fails_on_hostile_urls(apis: dict[str, str]) -> None:
    # Issue 15: IPv6 literals answered 500. The hooks generate every host form a client may send
    # (IPv4 spellings, IPv6 literals good and broken, IDN, odd ports) for the url fields.
    done = schemathesis_run(
        apis["ingest"],
        "--header", f"X-API-Key: {apis['key']}",
        "--include-method", "POST",  # where URLs go in: articles, feeds (and pause/resume)
        hooks=URL_HOOKS, max_examples=150,
    )  # fmt: skip
    assert done.returncode == 0, failures(done.stdout)
