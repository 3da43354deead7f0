"""Real broker: an event crosses from one app to another; poison goes to the DLQ, flow goes on."""

import asyncio

import pytest
from faststream.kafka.annotations import KafkaMessage

from tellwell.common.events import RawArticle
from tellwell.common.kafka import consumer_options
from tellwell.common.testing import make_raw_article
from tellwell.common.topics import dlq_name
from tests.fixtures.kafka import group_id

pytestmark = pytest.mark.kafka


class TestRealBroker:
    async def test_event_published_by_one_app_is_consumed_by_another(self, broker_factory, topic):
        producer_app, consumer_app = (
            broker_factory(service="producer"),
            broker_factory(service="consumer"),
        )
        publish = producer_app.publisher(topic)
        received: asyncio.Future[RawArticle] = asyncio.get_running_loop().create_future()

        @consumer_app.subscriber(topic, **consumer_options(group_id()))
        async def on_article(event: RawArticle) -> None:
            received.set_result(event)

        sent = make_raw_article(title="Quake hits Chile")
        async with producer_app, consumer_app:
            await consumer_app.start()
            await producer_app.start()
            await publish.publish(sent, key=sent.article_id.encode())
            got = await asyncio.wait_for(received, 30)

        assert got == sent

    async def test_malformed_message_lands_in_dlq_and_next_good_one_is_processed(self, broker_factory, topic):
        app = broker_factory(service="svc")
        good: asyncio.Future[RawArticle] = asyncio.get_running_loop().create_future()
        dead: asyncio.Future[tuple[bytes, dict[str, str]]] = asyncio.get_running_loop().create_future()

        @app.subscriber(topic, **consumer_options(group_id()))
        async def on_article(event: RawArticle) -> None:
            good.set_result(event)

        @app.subscriber(dlq_name(topic), **consumer_options(group_id()))
        async def on_dead(message: KafkaMessage) -> None:
            dead.set_result((message.body, dict(message.headers)))

        ok = make_raw_article()
        async with app:
            await app.start()
            await app.publish(b'{"type": "raw.article", "title": ', topic, key=b"k1", partition=0)
            await app.publish(ok, topic, key=b"k1", partition=0)
            body, headers = await asyncio.wait_for(dead, 30)
            got = await asyncio.wait_for(good, 30)

        assert body == b'{"type": "raw.article", "title": '
        assert headers["x-dlq-topic"] == topic
        assert headers["x-dlq-offset"] == "0"
        assert headers["x-dlq-error-type"] == "ValidationError"
        assert got == ok
