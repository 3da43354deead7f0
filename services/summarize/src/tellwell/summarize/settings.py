from pydantic import Field

from tellwell.common.kafka import IDLE_POLL_MS
from tellwell.common.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    """Env prefix `SUMMARIZE_` (e.g. `SUMMARIZE_PORT`); stores by `KAFKA_*`, `MONGO_*`."""

    model_config = service_config("SUMMARIZE_")

    port: int = 8003
    # Names this replica's pending stories; stable across restarts so a restarted replica resumes
    # its own work at once (default: host name and port).
    replica_id: str | None = None
    # A story is summarised at most once per interval, and always after its last change.
    # Leading edge: a story quiet for an interval is summarised at once; later changes within the
    # interval are coalesced and done at its end.
    debounce_s: float = Field(default=0.5, ge=0.0, le=3600.0)
    # How often the flusher scans the pending collection for stories it does not hold in memory
    # (another replica's abandoned ones, its own after a restart); it is woken by new work and
    # sleeps until the next due time otherwise.
    flush_interval_s: float = Field(default=0.5, gt=0.0, le=60.0)
    # Idle (scans find nothing, nothing arrives), the scan interval doubles up to this; it stays
    # well under takeover_s, so a dead replica's stories are still taken over in time.
    idle_scan_max_s: float = Field(default=5.0, gt=0.0, le=60.0)
    # Another replica's pending story this long overdue is taken over (its owner is presumed dead).
    takeover_s: float = Field(default=30.0, gt=0.0)
    # Stories summarised concurrently by one replica.
    concurrency: int = Field(default=8, ge=1, le=64)
    # Bounded work per story: the most central N members (every source first).
    max_articles: int = Field(default=12, ge=1, le=200)
    # Members read from the store per story, newest first (the origin article always included).
    fetch_max: int = Field(default=60, ge=1, le=1000)
    # A story that keeps failing is dropped after this many attempts (logged, counted).
    # On shutdown, how long the flusher may finish the stories in hand.
    drain_s: float = Field(default=10.0, ge=0.0)
    max_attempts: int = Field(default=5, ge=1)
    # First retry delay of a failed story, doubling with each attempt (1, 2, 4, 8 s by default).
    retry_backoff_s: float = Field(default=1.0, ge=0.0)
    batch_max: int = Field(default=64, ge=1, le=1000)
    batch_wait_ms: int = Field(default=IDLE_POLL_MS, ge=0, le=5000)
    # Sentence embeddings (all-MiniLM-L6-v2) in the redundancy rule beside words: two summary
    # sentences close in meaning are one fact said twice. Off: words only.
    embed: bool = True
    encoder_threads: int | None = Field(default=None, ge=1, le=64)  # ONNX Runtime threads
    # Sentence vectors kept in memory (1.5 KiB each): a re-summary embeds only its new sentences.
    embed_cache: int = Field(default=50_000, ge=0, le=1_000_000)
    # Optional OpenAI-compatible chat backend; off unless llm_url is set.
    llm_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_api_key: str | None = None
    llm_timeout_s: float = Field(default=20.0, gt=0.0, le=300.0)
    llm_max_articles: int = Field(default=8, ge=1, le=50)


settings = Settings()
