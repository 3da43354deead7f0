"""Kafka plumbing: the FastStream broker factory, the dead-letter path, topic creation.

Example::

    broker = make_broker(settings.kafka, service="cluster")

    @broker.subscriber(Topic.raw_article, **consumer_options("cluster"))
    async def on_article(event: RawArticle) -> None: ...

Delivery is at-least-once: offsets are committed after the handler returns. A message that cannot
be decoded, or whose handler keeps failing, is copied with its original bytes to ``<topic>.dlq``
(the error in headers) and the partition moves on. Errors that mean "a store is unreachable" are
not the message's fault: those are retried from the same offset until the store is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar, cast

import aiokafka.errors
import pymongo.errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream import AckPolicy, BaseMiddleware, Context
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.message import StreamMessage
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge
from pydantic import BaseModel, ValidationError

from tellwell.common.observability import Check
from tellwell.common.settings import KafkaSettings
from tellwell.common.topics import DLQ_SUFFIX, TopicSpec, dlq_name, topic_specs

M = TypeVar("M", bound=BaseModel)

log = logging.getLogger(__name__)

DEAD_LETTERS = Counter(
    "tellwell_dead_letters_total", "Messages sent to a dead-letter topic", ["topic", "reason"]
)
CONSUMER_LAG = Gauge(
    "tellwell_consumer_lag",
    "Messages behind the partition's end after the last one handled",
    ["topic", "partition"],
)
TRANSIENT_FAILURES = Counter(
    "tellwell_transient_failures_total",
    "Handler failures left for redelivery (a store was unreachable)",
    ["topic"],
)

# Failures of infrastructure, not of the message: never dead-lettered, redelivered instead.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    pymongo.errors.ConnectionFailure,
    aiokafka.errors.KafkaConnectionError,
    aiokafka.errors.KafkaTimeoutError,
    aiokafka.errors.NodeNotReadyError,
    aiokafka.errors.RequestTimedOutError,
    ConnectionError,
    TimeoutError,
)
# Failures that retrying cannot fix: dead-lettered at once.
POISON_ERRORS: tuple[type[BaseException], ...] = (ValidationError, ValueError, UnicodeDecodeError)

MAX_ERROR_HEADER = 2000


def dead_letter_headers(record: Any, exc: BaseException, attempts: int, group: str | None) -> dict[str, str]:
    """The original headers plus what went wrong and where the message came from."""
    headers = {k: v.decode("utf-8", "replace") for k, v in (record.headers or ())}
    headers.update(
        {
            "x-dlq-error-type": type(exc).__name__,
            "x-dlq-error": str(exc)[:MAX_ERROR_HEADER],
            "x-dlq-topic": record.topic,
            "x-dlq-partition": str(record.partition),
            "x-dlq-offset": str(record.offset),
            "x-dlq-attempts": str(attempts),
            "x-dlq-failed-at": datetime.now(UTC).isoformat(),
        }
    )
    if group:
        headers["x-dlq-group"] = group
    return headers


class DeadLetterMiddleware(BaseMiddleware):
    """Retries a failing handler, then parks the message in ``<topic>.dlq`` and moves on.

    Configured by class attributes (``make_broker`` sets them from ``KafkaSettings``).
    """

    max_attempts: int = 3
    backoff_s: float = 0.2
    transient_backoff_s: float = 1.0

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        records = records_of(msg)
        if not records:
            return await call_next(msg)
        first = records[0]
        topic: str = first.topic
        if topic.endswith(DLQ_SUFFIX):  # a DLQ reader's own failure must not loop into .dlq.dlq
            return await call_next(msg)
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await call_next(msg)
            except TRANSIENT_ERRORS:
                TRANSIENT_FAILURES.labels(topic).inc()
                log.warning(
                    "transient failure on %s[%s]@%s, will redeliver", topic, first.partition, first.offset
                )
                await asyncio.sleep(self.transient_backoff_s)
                raise  # NACK: the consumer seeks back to this offset
            except Exception as exc:
                if isinstance(exc, POISON_ERRORS) or attempt >= self.max_attempts:
                    broker: KafkaBroker = self.context.get("broker")
                    group = getattr(getattr(msg, "consumer", None), "_group_id", None)
                    for record in records:
                        await dead_letter(broker, record, exc, attempt, group)
                    return None
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            else:
                record_lag(msg, records[-1])
                return result


def records_of(msg: StreamMessage[Any]) -> tuple[Any, ...]:
    """The Kafka records behind a message: one, or several for a batch subscriber."""
    raw = msg.raw_message
    records = tuple(raw) if isinstance(raw, tuple | list) else (raw,)  # the real broker gives a tuple
    return tuple(r for r in records if hasattr(r, "topic"))


async def dead_letter(
    broker: KafkaBroker, record: Any, exc: BaseException, attempts: int = 1, group: str | None = None
) -> None:
    """Park one record in ``<topic>.dlq``: original key and bytes, the error in ``x-dlq-*`` headers.

    Batch handlers call it for the records of a batch they cannot decode, then go on with the rest.
    """
    await broker.publish(
        record.value,
        dlq_name(record.topic),
        key=record.key,
        headers=dead_letter_headers(record, exc, attempts, group),
    )
    reason = "undecodable" if isinstance(exc, ValidationError | UnicodeDecodeError) else "handler_error"
    DEAD_LETTERS.labels(record.topic, reason).inc()
    log.error(
        "dead-lettered %s[%s]@%s after %d attempt(s): %s: %s",
        record.topic,
        record.partition,
        record.offset,
        attempts,
        type(exc).__name__,
        str(exc)[:500],
    )


async def decode_batch(
    broker: KafkaBroker, msg: StreamMessage[Any], model: type[M], *, group: str
) -> list[tuple[Any, M]]:
    """Each record of a batch message decoded as ``model``, with its record; a record that does not
    decode goes to the DLQ alone and the rest of the batch goes on."""
    decoded: list[tuple[Any, M]] = []
    for record in records_of(msg):
        try:
            decoded.append((record, model.model_validate_json(record.value)))
        except (ValidationError, UnicodeDecodeError, TypeError) as exc:
            await dead_letter(broker, record, exc, group=group)
    return decoded


def story_publisher(broker: KafkaBroker, topic: str) -> Callable[[Sequence[Any]], Awaitable[None]]:
    """Publish story events (anything with a ``story_id``) to ``topic``, keyed by story id."""

    async def publish(events: Sequence[Any]) -> None:
        await publish_keyed(broker, topic, events, key=lambda e: e.story_id)

    return publish


def record_lag(msg: StreamMessage[Any], record: Any) -> None:
    consumer = getattr(msg, "consumer", None)
    highwater = getattr(consumer, "highwater", None)
    if highwater is None:  # the in-memory test broker has no real consumer
        return
    end = highwater(aiokafka.TopicPartition(record.topic, record.partition))
    if end is not None:
        CONSUMER_LAG.labels(record.topic, str(record.partition)).set(max(end - record.offset - 1, 0))


def make_broker(
    settings: KafkaSettings,
    service: str,
    *,
    registry: CollectorRegistry = REGISTRY,
    **kwargs: Any,
) -> KafkaBroker:
    """A ``KafkaBroker`` with the dead-letter path and Prometheus metrics installed."""

    class DeadLetter(DeadLetterMiddleware):
        max_attempts = settings.max_attempts
        backoff_s = settings.retry_backoff_s

    return KafkaBroker(
        settings.bootstrap_servers,
        client_id=f"{settings.client_id_prefix}-{service}",
        middlewares=[
            KafkaPrometheusMiddleware(registry=registry, app_name=service, metrics_prefix="tellwell"),
            cast(Any, DeadLetter),  # FastStream types middlewares as factories; a subclass is one
        ],
        **kwargs,
    )


async def publish_keyed(
    broker: KafkaBroker, topic: str, events: Sequence[BaseModel], key: Callable[[Any], str]
) -> None:
    """Publish a batch keyed per event (so each key keeps its order) without waiting message by
    message, then wait until Kafka has acknowledged every one."""
    pending = [await broker.publish(e, topic, key=key(e).encode(), no_confirm=True) for e in events]
    await asyncio.gather(*pending)


BrokerDep = Annotated[KafkaBroker, Context("broker")]
"""The running broker, for handlers that dead-letter records themselves."""


IDLE_POLL_MS = 100
"""The consumers' ``batch_wait_ms``: an idle consumer wakes 5 times a second (at 20 ms, 25 times: a
percent of a core each, idle), and a record that arrives after an idle spell waits at most 0.1 s
more; one that arrives while the consumer is busy is taken at once (``getmany`` returns as soon as
records are buffered)."""

FETCH_MAX_WAIT_MS = 2000
"""How long the broker holds a fetch that finds no records (aiokafka's ``fetch_max_wait_ms``, 500 by
default). A fetch returns as soon as one record arrives, so this costs no latency; idle, each
consumer sends one fetch per 2 s instead of two a second."""


def batch_subscriber(
    router: KafkaRouter,
    source: str,
    *,
    group: str,
    batch_max: int,
    batch_wait_ms: int,
    partition_fetch_bytes: int | None = None,
) -> Callable[[Any], Any]:
    """The subscriber decorator every TellWell consumer uses: batches of up to ``batch_max``
    records, with ``consumer_options``.

    ``batch_wait_ms`` does not gather records: FastStream's loop asks aiokafka's ``getmany`` for up
    to ``batch_max`` with that timeout, which returns what is buffered at once, and after an empty
    poll it sleeps ``batch_wait_ms`` more. Batches form from what arrived while the previous one was
    handled; the wait only adds latency for a consumer that was idle (up to twice the value), so
    keep it small.

    ``partition_fetch_bytes`` caps what one fetch brings of each partition (aiokafka's
    ``max_partition_fetch_bytes``, 1 MiB by default). ``getmany`` drains the buffered fetches one
    partition after another, and aiokafka fetches a partition again only once its buffer is drained,
    so with the default a backlog arrives partition by partition: first minutes of one partition,
    then the same minutes of the next. A small cap interleaves the partitions: each batch then holds
    the next few records of every partition, about the same stretch of time (the cluster service
    needs that; see ``tellwell.cluster.handlers``)."""
    extra: dict[str, Any] = {"fetch_max_wait_ms": FETCH_MAX_WAIT_MS}
    if partition_fetch_bytes is not None:
        extra["max_partition_fetch_bytes"] = partition_fetch_bytes
    return cast(
        Callable[[Any], Any],
        router.subscriber(
            source,
            batch=True,
            max_records=batch_max,
            batch_timeout_ms=batch_wait_ms,
            **consumer_options(group),
            **extra,
        ),
    )


Decoded = list[tuple[Any, M]]
"""A decoded batch: each record with its event."""


DeadLetters = Iterable[tuple[Any, BaseException]]
"""What a batch handler could not handle: each record with the error it goes to the DLQ with."""


@dataclass(frozen=True)
class BatchConsumer(Generic[M]):
    """A service's batch subscriber: the records of ``source`` decoded as ``model`` (one that does
    not decode goes to the DLQ alone), then ``handle(worker, decoded)`` with the context object
    named ``context``; each record ``handle`` returns goes to the DLQ with its error.

    The handler returns once the batch is durable, so the offsets commit after that. Tests build the
    router on their own topic and group.

    Example Snippet::

        async def cluster_articles(pipeline: ClusterPipeline, decoded: Decoded[RawArticle]) -> DeadLetters:
            await pipeline.process([event for _, event in decoded])
            return ()

        CONSUMER = BatchConsumer(RawArticle, cluster_articles, context="pipeline",
                                 source=Topic.raw_article, group="cluster", batch_max=256)
        broker.include_router(CONSUMER.router(batch_wait_ms=50))
    """

    model: type[M]
    handle: Callable[[Any, Decoded[M]], Awaitable[DeadLetters]]
    context: str
    source: str
    group: str
    batch_max: int
    batch_wait_ms: int = IDLE_POLL_MS
    partition_fetch_bytes: int | None = None

    def router(self, **changes: Any) -> KafkaRouter:
        """The subscriber as a router, with ``changes`` to the fields (``source``, ``group``, ...)."""
        spec = replace(self, **changes)
        router = KafkaRouter()

        @batch_subscriber(
            router,
            spec.source,
            group=spec.group,
            batch_max=spec.batch_max,
            batch_wait_ms=spec.batch_wait_ms,
            partition_fetch_bytes=spec.partition_fetch_bytes,
        )
        async def consume(
            message: KafkaMessage, broker: BrokerDep, worker: Any = Context(spec.context)
        ) -> None:
            decoded = await decode_batch(broker, message, spec.model, group=spec.group)
            if decoded:
                for record, exc in await spec.handle(worker, decoded):
                    await dead_letter(broker, record, exc, group=spec.group)

        return router


def consumer_options(group_id: str) -> dict[str, Any]:
    """Subscriber settings shared by every TellWell consumer: commit after handling, from the start."""
    return {
        "group_id": group_id,
        "auto_offset_reset": "earliest",
        "ack_policy": AckPolicy.NACK_ON_ERROR,
    }


def broker_check(broker: KafkaBroker, timeout_s: float = 2.0) -> Check:
    """A readiness check that the broker answers."""

    async def check() -> None:
        if not await broker.ping(timeout_s):
            raise ConnectionError("Kafka broker did not answer")

    return check


async def ensure_topics(
    bootstrap_servers: str,
    specs: Iterable[TopicSpec] | None = None,
    *,
    timeout_s: float = 60.0,
) -> list[str]:
    """Create the missing topics (idempotent); wait for the broker up to ``timeout_s``.

    Returns the names that were created.
    """
    wanted = list(specs if specs is not None else topic_specs())
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [s for s in wanted if s.name not in existing]
            if missing:
                await admin.create_topics(
                    [NewTopic(s.name, s.partitions, 1, topic_configs=s.config) for s in missing]
                )
            return [s.name for s in missing]
        except aiokafka.errors.TopicAlreadyExistsError:
            return []
        except (aiokafka.errors.KafkaError, OSError) as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"Kafka at {bootstrap_servers} not ready: {exc}") from exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
