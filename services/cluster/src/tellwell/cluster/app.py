"""The cluster service process: `tellwell serve cluster` or `uvicorn tellwell.cluster.app:app`."""

from faststream.asgi import AsgiFastStream

from tellwell.cluster.settings import Settings, settings
from tellwell.common.service import build_service


def create_app(config: Settings = settings) -> AsgiFastStream:
    return build_service("cluster", config, qdrant=config.qdrant)


app = create_app()
