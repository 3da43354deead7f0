"""Settings read from environment variables (pydantic-settings), composed by each service.

The same code runs on the local stack, in compose and in Kubernetes: only these change.

Example::

    class Settings(ServiceSettings):
        model_config = service_config("CLUSTER_")

    settings = Settings()          # CLUSTER_PORT=8002, KAFKA_BOOTSTRAP_SERVERS=..., MONGO_URL=...
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """Broker connection. Env prefix ``KAFKA_``."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", frozen=True, extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    client_id_prefix: str = "tellwell"
    partitions: int = Field(default=6, ge=1, description="Partitions of each main topic when created.")
    # A handler error that is not transient is retried this many times before the DLQ.
    max_attempts: int = Field(default=3, ge=1)
    retry_backoff_s: float = Field(default=0.2, ge=0.0)


class MongoSettings(BaseSettings):
    """Document store connection (any MongoDB-wire server). Env prefix ``MONGO_``."""

    model_config = SettingsConfigDict(env_prefix="MONGO_", frozen=True, extra="ignore")

    url: str = "mongodb://127.0.0.1:27017"
    database: str = "tellwell"
    server_selection_timeout_ms: int = 5000


class QdrantSettings(BaseSettings):
    """Vector index. Env prefix ``QDRANT_``. Without ``url`` the embedded Qdrant Edge is used."""

    model_config = SettingsConfigDict(env_prefix="QDRANT_", frozen=True, extra="ignore")

    url: str | None = None
    api_key: str | None = None
    path: Path = Path(".local/data/qdrant-edge")


class ServiceSettings(BaseSettings):
    """What every service has: where its HTTP side listens, how it logs, and its stores."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    mongo: MongoSettings = Field(default_factory=MongoSettings)


def service_config(env_prefix: str) -> SettingsConfigDict:
    """The settings config of one service: its own prefix, shared store settings by their own."""
    return SettingsConfigDict(env_prefix=env_prefix, frozen=True, extra="ignore")
