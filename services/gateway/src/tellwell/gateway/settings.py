from tellwell.common.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    """Env prefix `GATEWAY_` (e.g. `GATEWAY_PORT`); store by `MONGO_*`."""

    model_config = service_config("GATEWAY_")

    port: int = 8000


settings = Settings()
