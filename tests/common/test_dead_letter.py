"""The dead-letter path on FastStream's in-memory broker: retries, poison, transient errors."""

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import CollectorRegistry
from pymongo.errors import AutoReconnect

from tellwell.common.events import RawArticle
from tellwell.common.kafka import DeadLetterMiddleware, consumer_options, make_broker
from tellwell.common.settings import KafkaSettings
from tellwell.common.testing import make_raw_article

TOPIC = "raw.article"


@pytest.fixture
def broker() -> KafkaBroker:
    return make_broker(
        KafkaSettings(max_attempts=3, retry_backoff_s=0.0),
        service="t",
        registry=CollectorRegistry(),
    )


def dead_letters(broker: KafkaBroker) -> list[tuple[bytes, dict[str, str]]]:
    received: list[tuple[bytes, dict[str, str]]] = []

    @broker.subscriber(TOPIC + ".dlq")
    async def dlq(message: KafkaMessage) -> None:
        received.append((message.body, dict(message.headers)))

    return received


@pytest.fixture(autouse=True)
def no_transient_sleep(monkeypatch):
    monkeypatch.setattr(DeadLetterMiddleware, "transient_backoff_s", 0.0)


class TestDeadLetter:
    async def test_undecodable_message_goes_to_dlq_once_with_error_headers(self, broker):
        calls = []

        @broker.subscriber(TOPIC, **consumer_options("g"))
        async def handle(event: RawArticle) -> None:
            calls.append(event)

        dead = dead_letters(broker)

        async with TestKafkaBroker(broker) as br:
            await br.publish(b"\xff not json", TOPIC, key=b"k")

        [(body, headers)] = dead
        assert body == b"\xff not json"
        assert headers["x-dlq-error-type"] == "ValidationError"
        assert headers["x-dlq-topic"] == TOPIC
        assert headers["x-dlq-attempts"] == "1"
        assert calls == []

    async def test_failing_handler_is_retried_then_dead_lettered(self, broker):
        attempts = []

        @broker.subscriber(TOPIC, **consumer_options("g"))
        async def handle(event: RawArticle) -> None:
            attempts.append(event.article_id)
            raise RuntimeError("summariser exploded")

        dead = dead_letters(broker)

        article = make_raw_article()
        async with TestKafkaBroker(broker) as br:
            await br.publish(article, TOPIC)

        assert len(attempts) == 3
        [(body, headers)] = dead
        assert RawArticle.model_validate_json(body) == article
        assert headers["x-dlq-error"] == "summariser exploded"
        assert headers["x-dlq-attempts"] == "3"

    async def test_handler_that_recovers_on_retry_is_not_dead_lettered(self, broker):
        attempts = []

        @broker.subscriber(TOPIC, **consumer_options("g"))
        async def handle(event: RawArticle) -> None:
            attempts.append(1)
            if len(attempts) < 2:
                raise RuntimeError("flaky")

        dead = dead_letters(broker)

        async with TestKafkaBroker(broker) as br:
            await br.publish(make_raw_article(), TOPIC)

        assert len(attempts) == 2
        assert dead == []

    async def test_unreachable_store_is_not_the_message_fault(self, broker):
        @broker.subscriber(TOPIC, **consumer_options("g"))
        async def handle(event: RawArticle) -> None:
            raise AutoReconnect("mongo is down")

        dead = dead_letters(broker)

        async with TestKafkaBroker(broker) as br:
            with pytest.raises(AutoReconnect):
                await br.publish(make_raw_article(), TOPIC)

        assert dead == []  # left for redelivery from the same offset instead


class TestBatchSubscribers:
    async def test_a_failing_batch_dead_letters_every_record_once(self, broker):
        @broker.subscriber(TOPIC, batch=True, **consumer_options("g"))
        async def handle(events: list[RawArticle]) -> None:
            raise RuntimeError("index unavailable")

        dead = dead_letters(broker)
        a, b = make_raw_article(url="https://example.com/a"), make_raw_article(url="https://example.com/b")
        async with TestKafkaBroker(broker) as br:
            await br.publish_batch(a, b, topic=TOPIC)

        parked = [RawArticle.model_validate_json(body).article_id for body, _ in dead]
        assert parked == [a.article_id, b.article_id]
        assert all(headers["x-dlq-attempts"] == "3" for _, headers in dead)
