"""The ingest service process: `tellwell serve ingest` or `uvicorn tellwell.ingest.app:app`."""

from faststream.asgi import AsgiFastStream

from tellwell.common.service import build_service
from tellwell.ingest.settings import Settings, settings


def create_app(config: Settings = settings) -> AsgiFastStream:
    return build_service("ingest", config)


app = create_app()
