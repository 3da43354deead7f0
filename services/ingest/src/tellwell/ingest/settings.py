import os
import socket

from pydantic import Field

from tellwell.common.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    """Env prefix `INGEST_` (e.g. `INGEST_PORT`); stores by `KAFKA_*`, `MONGO_*`."""

    model_config = service_config("INGEST_")

    port: int = 8001
    replica_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    max_batch: int = Field(default=1000, ge=1, description="Articles per POST /v1/articles.")
    # Polling
    poll_enabled: bool = True
    poll_workers: int = Field(default=8, ge=1, description="Feeds polled at once by this replica.")
    poll_tick_s: float = Field(default=2.0, gt=0, description="Idle wait before looking for due feeds.")
    # While no feed is due the wait doubles up to this (feeds are polled every minute at the most, so
    # a due feed waits a few seconds more at worst; a new feed is first polled within this).
    poll_idle_max_s: float = Field(default=15.0, gt=0, le=300)
    default_interval_s: int = Field(default=900, ge=30)
    lease_s: int = Field(
        default=300, ge=10, description="A crashed replica's feeds are free again after this."
    )
    max_backoff_s: int = Field(default=6 * 3600)
    pages_per_poll: int = Field(default=30, ge=0, description="New entries whose page is fetched per poll.")
    # Fetching
    fetch_max_bytes: int = 5 * 1024 * 1024
    fetch_timeout_s: float = 15.0
    fetch_allow_hosts: list[str] = Field(
        default_factory=list, description="Private hosts allowed (tests, intranet)."
    )
    respect_robots: bool = True
    per_host_concurrency: int = 2
    per_host_min_interval_s: float = 1.0
    # Outbox
    outbox_sweep_s: float = Field(default=30.0, gt=0)


settings = Settings()
