"""The example subscriber of docs/subscribing.md, against real Kafka: newest version wins, merges are
followed, tombstones delete, junk is skipped, and it stops once caught up."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
from types import ModuleType

import pytest
from aiokafka import AIOKafkaProducer

from tellwell.common.settings import KafkaSettings
from tellwell.common.testing import make_story_scored
from tests.fixtures.infra import REPO

pytestmark = pytest.mark.kafka

SCRIPT = REPO / "examples/subscriber/subscriber.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tellwell_example_subscriber", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scored(story_id: str, version: int, **fields: object) -> bytes:
    return make_story_scored(story_id=story_id, version=version, **fields).model_dump_json().encode()


# In publication order: an older version after a newer one, a redelivery, a merge, a tombstone, junk.
RECORDS: list[tuple[str, bytes | None]] = [
    ("quake", scored("quake", 1, title="Quake hits Chile")),
    ("quake", scored("quake", 3, title="Chile quake: 12 dead, aid arrives")),
    ("quake", scored("quake", 2, title="Chile quake: 5 dead")),
    ("quake", scored("quake", 3, title="Chile quake: 12 dead, aid arrives")),
    ("fragment", scored("fragment", 1, title="Santiago buildings damaged")),
    ("vote", scored("vote", 1, title="Parliament votes on budget")),
    ("fragment", scored("fragment", 2, title="Santiago buildings damaged", merged_into="vote")),
    ("vote", scored("vote", 2, title="Parliament passes budget", article_count=9)),
    ("retracted", scored("retracted", 1, title="Withdrawn story")),
    ("retracted", None),
    ("junk", b"{not json"),
]


async def publish(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key, value in RECORDS:
            await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


async def test_keeps_the_newest_view_per_story_and_follows_merges(topic: str, kafka_settings: KafkaSettings):
    example = load_example()
    await publish(kafka_settings.bootstrap_servers, topic)
    stories = example.Stories()
    changed: list[str] = []

    await asyncio.wait_for(
        example.run(
            kafka_settings.bootstrap_servers, stories, topic, until_caught_up=True, on_change=changed.append
        ),
        timeout=60,
    )

    assert set(stories.views) == {"quake", "vote"}
    assert stories.views["quake"]["version"] == 3
    assert stories.views["quake"]["title"] == "Chile quake: 12 dead, aid arrives"  # not the later v2
    assert stories.merged_into == {"fragment": "vote"}
    followed = stories.resolve("fragment")
    assert followed["story_id"] == "vote"
    assert followed["version"] == 2
    assert followed["article_count"] == 9
    assert stories.resolve("retracted") is None
    assert stories.skipped == 3  # the stale v2, the redelivered v3, the junk
    assert changed.count("quake") == 2  # v1 and v3 only


def test_the_script_prints_the_state_once_caught_up(topic: str, kafka_settings: KafkaSettings):
    asyncio.run(publish(kafka_settings.bootstrap_servers, topic))
    args = ["--bootstrap", kafka_settings.bootstrap_servers, "--topic", topic, "--until-caught-up"]
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[-1] == {"live": 2, "merged": 1, "skipped": 3}
    vote = [line for line in lines[:-1] if line["changed"] == "vote"][-1]
    assert vote["version"] == 2
    assert vote["title"] == "Parliament passes budget"
    # A change to an absorbed story shows the story it was merged into.
    assert [line["story_id"] for line in lines[:-1] if line["changed"] == "fragment"][-1] == "vote"
