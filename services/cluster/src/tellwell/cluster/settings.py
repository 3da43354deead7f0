from pydantic import Field

from tellwell.common.settings import QdrantSettings, ServiceSettings, service_config


class Settings(ServiceSettings):
    """Env prefix `CLUSTER_` (e.g. `CLUSTER_PORT`); stores by `KAFKA_*`, `MONGO_*`, `QDRANT_*`."""

    model_config = service_config("CLUSTER_")

    port: int = 8002
    qdrant: QdrantSettings = Field(default_factory=QdrantSettings)


settings = Settings()
