"""Gateway settings: env prefix ``GATEWAY_``; the store by ``MONGO_*``."""

from pydantic import Field

from tellwell.common.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    """Env prefix `GATEWAY_` (e.g. `GATEWAY_PORT`); store by `MONGO_*`."""

    model_config = service_config("GATEWAY_")

    port: int = 8000
    # How often each replica looks for new story views (the data version, the SSE stream, the
    # in-memory read model): every poll_interval_s after a change, backing off (doubling) while
    # nothing changes up to poll_max_interval_s. A view becomes visible on every replica within
    # poll_max_interval_s plus one query (within poll_interval_s while views are being written).
    poll_interval_s: float = Field(default=0.25, gt=0.0)
    poll_max_interval_s: float = Field(default=1.0, gt=0.0)
    # Views written with a clock up to this far behind the newest one seen are still picked up
    # (score replicas' clocks are not perfectly in step).
    poll_lookback_s: float = Field(default=5.0, ge=0.0)
    # Live stories whose cards each replica holds in memory to answer feed queries without the
    # store (about 2 KB each: see docs/gateway.md); beyond, the oldest leave first and queries the
    # rest cannot answer go to the store. 0: every query goes to the store.
    memory_stories: int = Field(default=100_000, ge=0)
    page_size: int = Field(default=20, ge=1, le=100)
    max_page_size: int = Field(default=100, ge=1, le=500)
    cache_entries: int = Field(default=4096, ge=0, description="Serialised responses kept per replica.")
    # Per-client token bucket (per replica): a sustained rate and a burst. 0 turns it off.
    rate_limit_per_s: float = Field(default=20.0, ge=0.0)
    rate_limit_burst: int = Field(default=100, ge=1)
    # Take the client address from X-Forwarded-For (only behind a proxy that sets it).
    trust_forwarded_for: bool = False
    cors_origins: list[str] = Field(default_factory=list, description="Allowed origins; ['*'] for any.")
    stream_heartbeat_s: float = Field(default=15.0, gt=0.0)
    stream_replay_max: int = Field(default=500, ge=0, description="Events replayed on resume at most.")
    # The address readers reach this gateway at, for the absolute links of RSS/Atom/JSON Feed
    # (e.g. https://news.example.org). Empty: http://<host>:<port>. Never taken from the request's
    # Host header, which a client chooses (a cached feed would carry its links to everyone).
    public_url: str = Field(default="", pattern=r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$")

    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"


settings = Settings()
