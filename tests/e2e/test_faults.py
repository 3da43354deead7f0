"""Faults, bounded in time: crashes, a broker and a database outage, poison messages.

Each scenario runs the five services as separate processes on a private local stack, so stopping
its broker or database disturbs nothing else.
"""

import json
import threading
import time
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tellwell.cli.pipeline import PipelineWatch
from tellwell.cli.procs import LocalStack, Service
from tellwell.common.topics import MAIN_TOPICS
from tests.e2e.harness import (
    Pipeline,
    corpus_rows,
    one_process_agreement,
    pipeline,
    private_stack,
    wait_for_views,
)

pytestmark = [pytest.mark.kafka, pytest.mark.mongo, pytest.mark.e2e]

ONE_EACH = dict.fromkeys(Service, 1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with private_stack(tmp_path_factory.mktemp("faults")) as s:
        yield s


def assert_exactly_once(p: Pipeline, ids: set[str]) -> dict[str, str]:
    views = [v for v in p.views() if not v.merged_into]
    for view in views:
        members = [a.article_id for a in view.articles]
        assert len(members) == len(set(members)), f"{view.story_id} lists an article twice"
    partition = {a.article_id: v.story_id for v in views for a in v.articles}
    assert ids <= partition.keys()
    return partition


class TestCrashesAndOutages:
    def test_nothing_lost_nothing_duplicated_same_stories(self, stack: LocalStack) -> None:
        rows = corpus_rows(300)
        with pipeline(stack, "faults", ONE_EACH) as p, PipelineWatch(stack.bootstrap) as watch:
            pushed: list[str] = []
            feeder = threading.Thread(target=lambda: pushed.extend(p.push(rows, rate=8)))
            feeder.start()
            # Stop and restart the broker, then the database, while articles keep arriving.
            for component in ("kafka", "ferretdb"):
                time.sleep(2)
                assert stack.run("down", component) == 0
                time.sleep(3)
                assert stack.run("up", component) == 0
            # Crash every service in turn mid-stream (SIGKILL: no drain), then restart it.
            for service in (
                Service.cluster,
                Service.summarize,
                Service.score,
                Service.ingest,
                Service.gateway,
            ):
                time.sleep(1)
                p.procs.restart(service.value)
                p.procs.wait_ready(180)
            feeder.join(timeout=300)
            assert not feeder.is_alive()
            ids = set(pushed)
            assert len(ids) >= 290  # a few corpus rows repeat a URL: the same article
            wait_for_views(p, watch, ids, timeout_s=300)
            partition = assert_exactly_once(p, ids)
            assert all(p.procs.procs[s.value].restarts == 1 for s in Service)

        # The stories converge to what an uninterrupted run of the same stream gives.
        assert one_process_agreement(partition, rows, pushed) >= 0.9


class TestPoisonMessages:
    async def _publish_poison(self, bootstrap: str) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for topic in MAIN_TOPICS:
                await producer.send_and_wait(topic.value, b"\x00not json{", key=b"poison")
                await producer.send_and_wait(
                    topic.value, json.dumps({"type": topic.value}).encode(), key=b"poison"
                )
        finally:
            await producer.stop()

    async def _dead_letters(self, bootstrap: str, topic: str, timeout_s: float = 60) -> list[bytes]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        found: list[bytes] = []
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and len(found) < 2:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    found += [r.value for r in records if r.key == b"poison"]
        finally:
            await consumer.stop()
        return found

    def test_poison_goes_to_the_dlqs_and_good_messages_keep_flowing(self, stack: LocalStack) -> None:
        import asyncio

        asyncio.run(self._publish_poison(stack.bootstrap))
        rows = corpus_rows(400)[300:340]
        with pipeline(stack, "poison", ONE_EACH) as p, PipelineWatch(stack.bootstrap) as watch:
            ids = set(p.push(rows, rate=40))
            wait_for_views(p, watch, ids, timeout_s=180)
            # Each consuming service dead-lettered both poison records of its input topic.
            for topic in ("raw.article", "story.cluster", "story.summary"):
                assert len(asyncio.run(self._dead_letters(stack.bootstrap, topic + ".dlq"))) == 2, topic
            assert not p.procs.dead()
