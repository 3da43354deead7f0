from pydantic import Field

from tellwell.common.kafka import IDLE_POLL_MS
from tellwell.common.settings import ServiceSettings, service_config
from tellwell.score.corroboration import CorroborationParams
from tellwell.score.domain import ScoreParams


class Settings(ServiceSettings):
    """Env prefix `SCORE_` (e.g. `SCORE_PORT`); stores by `KAFKA_*`, `MONGO_*`."""

    model_config = service_config("SCORE_")

    port: int = 8004
    batch_max: int = Field(default=32, ge=1, description="story.summary records handled as one batch.")
    batch_wait_ms: int = Field(default=IDLE_POLL_MS, ge=0, description="Idle poll interval.")
    concurrency: int = Field(
        default=32, ge=1, description="Stories of one batch scored at once (I/O bound: a batch in one wave)."
    )
    revision: int = Field(default=1, ge=1, le=49, description="Scorer revision; see view_version.")
    blindspot_share: float = Field(
        default=0.8, gt=0.5, le=1.0, description="One side's share of rated reports."
    )
    blindspot_min_reports: int = Field(default=3, ge=1, description="Rated independent reports needed.")
    hotness_half_life_h: float = Field(default=6.0, gt=0.0, description="Half-life of an arrival's heat.")
    max_chars: int = Field(default=4000, ge=200, description="Text read per article for corroboration.")
    embed: bool = Field(
        default=True,
        description="Check claims with sentence embeddings (all-MiniLM-L6-v2) beside words; off: words only.",
    )
    encoder_threads: int | None = Field(default=None, ge=1, le=64, description="ONNX Runtime threads.")
    max_members: int = Field(default=1000, ge=1, description="Members read per story (the newest).")
    article_cache: int = Field(default=10_000, ge=0, description="Member articles kept in memory (LRU).")
    view_cache_s: float = Field(
        default=30.0, ge=0.0, description="How long a related story's view is reused for its display fields."
    )
    source_cache_s: float = Field(default=300.0, ge=0.0, description="How long a registry entry is reused.")
    # A FerretDB replace is a few ms; waiting this long before re-reading lets a racing older write land
    # first, so the newer writer sees it and writes again (see docs/score.md, "Races").
    recheck_delay_ms: int = Field(default=25, ge=0)

    def params(self) -> ScoreParams:
        return ScoreParams(
            revision=self.revision,
            blindspot_share=self.blindspot_share,
            blindspot_min_reports=self.blindspot_min_reports,
            hotness_half_life_h=self.hotness_half_life_h,
            corroboration=CorroborationParams(max_chars=self.max_chars),
        )


settings = Settings()
