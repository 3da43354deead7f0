from tellwell.common.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    """Env prefix `INGEST_` (e.g. `INGEST_PORT`); stores by `KAFKA_*`, `MONGO_*`."""

    model_config = service_config("INGEST_")

    port: int = 8001


settings = Settings()
