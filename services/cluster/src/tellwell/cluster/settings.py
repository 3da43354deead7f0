from pydantic import Field

from tellwell.cluster.engine import EMBED_MAX_TOKENS
from tellwell.cluster.handlers import BATCH_MAX, FETCH_PARTITION_BYTES
from tellwell.common.kafka import IDLE_POLL_MS
from tellwell.common.settings import QdrantSettings, ServiceSettings, service_config


class Settings(ServiceSettings):
    """Env prefix `CLUSTER_` (e.g. `CLUSTER_PORT`); stores by `KAFKA_*`, `MONGO_*`, `QDRANT_*`."""

    model_config = service_config("CLUSTER_")

    port: int = 8002
    qdrant: QdrantSettings = Field(default_factory=QdrantSettings)
    collection: str = "stories"
    # Batching: embeddings and index queries run per batch of what arrived meanwhile; an idle
    # consumer polls every batch_wait_ms (see common.kafka.batch_subscriber): a record that arrives
    # while a busy consumer works is taken at once, one after an idle spell waits at most this long.
    # A backlog comes a few records per partition at a time, in time order (see handlers.BATCH_MAX).
    batch_max: int = Field(default=BATCH_MAX, ge=1, le=1000)
    batch_wait_ms: int = Field(default=IDLE_POLL_MS, ge=0, le=5000)
    fetch_partition_bytes: int = Field(default=FETCH_PARTITION_BYTES, ge=1024, le=16 * 1024 * 1024)
    # Word pieces of each article's text the encoder reads (see engine.EMBED_MAX_TOKENS).
    encoder_max_tokens: int = Field(default=EMBED_MAX_TOKENS, ge=8, le=256)
    # Threads of one encoder call (default: the runtime's own, one per core). Where other
    # processes share the cores, one thread can be faster: a parallel step waits for its slowest
    # thread, and a thread that lost its core stalls every step.
    encoder_threads: int | None = Field(default=None, ge=1, le=64)


settings = Settings()
