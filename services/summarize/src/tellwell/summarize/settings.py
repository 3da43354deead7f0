from tellwell.common.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    """Env prefix `SUMMARIZE_` (e.g. `SUMMARIZE_PORT`); stores by `KAFKA_*`, `MONGO_*`."""

    model_config = service_config("SUMMARIZE_")

    port: int = 8003


settings = Settings()
