"""The summarize service process: `tellwell serve summarize` or `uvicorn tellwell.summarize.app:app`."""

from faststream.asgi import AsgiFastStream

from tellwell.common.service import build_service
from tellwell.summarize.settings import Settings, settings


def create_app(config: Settings = settings) -> AsgiFastStream:
    return build_service("summarize", config)


app = create_app()
