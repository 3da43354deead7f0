"""Structured JSON logs, Prometheus metrics, and the /healthz, /readyz, /metrics ASGI endpoints.

Example::

    configure_logging("cluster")
    checks = {"kafka": broker_check(broker), "mongo": mongo_check(client)}
    routes = http_routes(checks)      # [("/healthz", app), ("/readyz", app), ("/metrics", app)]
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, make_asgi_app

Check = Callable[[], Awaitable[None]]
"""A readiness check: returns when the dependency answers, raises otherwise."""

ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]

FRAMEWORK_LOGGERS = (
    "faststream",
    "faststream.access",
    "faststream.access.kafka",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
)
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, service, message, extras, exception."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "service": self.service,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(service: str, level: str = "INFO", json_logs: bool = True) -> None:
    """Route the root logger to stderr, as JSON lines unless ``json_logs`` is off."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(service)
        if json_logs
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Frameworks install their own handlers; route them through ours so every line is JSON.
    for name in FRAMEWORK_LOGGERS:
        framework = logging.getLogger(name)
        framework.handlers.clear()
        framework.propagate = True
    # aiokafka logs every reconnect attempt at ERROR; one line per state change is enough.
    logging.getLogger("aiokafka").setLevel(max(root.level, logging.WARNING))


async def _send_json(send: Any, status: int, body: Mapping[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"cache-control", b"no-store")],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def health_app() -> ASGIApp:
    """``/healthz``: the process is alive and its event loop answers."""

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        await _send_json(send, 200, {"status": "ok"})

    return app


async def run_checks(checks: Mapping[str, Check], timeout_s: float = 2.0) -> tuple[bool, dict[str, str]]:
    """Run every check concurrently with a timeout; report ``ok`` or the error per dependency."""

    async def one(check: Check) -> str:
        try:
            await asyncio.wait_for(check(), timeout_s)
        except Exception as exc:  # a readiness probe reports any failure, it never raises
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return "ok"

    names = list(checks)
    results = await asyncio.gather(*(one(checks[n]) for n in names))
    report = dict(zip(names, results, strict=True))
    return all(r == "ok" for r in results), report


def ready_app(checks: Mapping[str, Check], timeout_s: float = 2.0) -> ASGIApp:
    """``/readyz``: 200 when every dependency answers, else 503 naming the failing ones."""

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        ok, report = await run_checks(checks, timeout_s)
        await _send_json(
            send, 200 if ok else 503, {"status": "ready" if ok else "unavailable", "checks": report}
        )

    return app


def metrics_app(registry: CollectorRegistry = REGISTRY) -> ASGIApp:
    """``/metrics`` in the Prometheus text format."""
    app: ASGIApp = make_asgi_app(registry)
    return app


def http_routes(
    checks: Mapping[str, Check], registry: CollectorRegistry = REGISTRY
) -> list[tuple[str, ASGIApp]]:
    """The three operational endpoints every service exposes."""
    return [
        ("/healthz", health_app()),
        ("/readyz", ready_app(checks)),
        ("/metrics", metrics_app(registry)),
    ]
