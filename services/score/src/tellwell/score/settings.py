from tellwell.common.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    """Env prefix `SCORE_` (e.g. `SCORE_PORT`); stores by `KAFKA_*`, `MONGO_*`."""

    model_config = service_config("SCORE_")

    port: int = 8004


settings = Settings()
