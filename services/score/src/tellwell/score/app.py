"""The score service process: `tellwell serve score` or `uvicorn tellwell.score.app:app`."""

from faststream.asgi import AsgiFastStream

from tellwell.common.service import build_service
from tellwell.score.settings import Settings, settings


def create_app(config: Settings = settings) -> AsgiFastStream:
    return build_service("score", config)


app = create_app()
