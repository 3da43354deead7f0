"""The source registry's read model: one document per news outlet, keyed by registrable domain.

**ingest** owns the ``sources`` collection and is its only writer; cluster, score and gateway read
it through this model. A source carries two groups of facts from different datasets:

* ratings: ``lean``, ``factuality``, ``credibility`` and ``flags`` (from Media Bias/Fact Check);
* ownership: ``owner``, ``owner_group``, ``typology`` and ``name`` (from Kagi's kite media data).

Confidence scoring weighs each source by ``credibility`` and counts the sources of one
``owner_group`` as one voice: outlets with one owner are not independent corroboration.

Example::

    from tellwell.common.sources import Source, credibility_weight
    source = Source.model_validate(document)          # a `sources` document read from MongoDB
    weight = source.credibility                        # already credibility_weight(source.factuality)
    voice = source.group_key                           # owner_group, or the domain when it has none
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from tellwell.common.events import Lean

Factuality = Literal["very_high", "high", "mostly_factual", "mixed", "low", "very_low", "unrated"]
"""Factual-reporting rating of a source, on Media Bias/Fact Check's six-point scale plus ``unrated``."""

FACTUALITY_LEVELS: Final[tuple[Factuality, ...]] = get_args(Factuality)
"""Every factuality value, best first, ``unrated`` last."""

NEUTRAL_CREDIBILITY: Final[float] = 0.5
"""Weight of a source nobody has rated: no evidence for or against it, so the midpoint of [0, 1]."""

_CREDIBILITY: Final[dict[Factuality, float]] = {
    "very_high": 0.95,
    "high": 0.85,
    "mostly_factual": 0.7,
    "mixed": 0.4,
    "low": 0.2,
    "very_low": 0.05,
    "unrated": NEUTRAL_CREDIBILITY,
}


def credibility_weight(factuality: Factuality) -> float:
    """The weight in [0, 1] that confidence scoring gives a source of this factuality rating.

    ============== ====== ==============================================================
    factuality     weight why
    ============== ====== ==============================================================
    very_high      0.95   almost never fails a fact check; not 1.0, since nobody is infallible
    high           0.85   the bulk of mainstream outlets: occasional, corrected errors
    mostly_factual 0.70   sound, with a few failed fact checks
    unrated        0.50   ``NEUTRAL_CREDIBILITY``: no rating is no evidence either way
    mixed          0.40   rated, and the rating *is* evidence of failed fact checks or poor
                          sourcing, so below an outlet we know nothing about
    low            0.20   frequent failed fact checks; counts for little
    very_low       0.05   propaganda or fabrication; kept above 0 so that a story covered only by
                          such sources still has a defined (and near-zero) confidence
    ============== ====== ==============================================================

    The table is strictly monotone in the rating, so a better-rated source never weighs less.

    Example::

        >>> credibility_weight("high")
        0.85
    """
    return _CREDIBILITY[factuality]


class Source(BaseModel):
    """One news outlet in the registry (collection ``sources``, one document per ``domain``).

    Written by **ingest** (seeded from the bundled MBFC and kite datasets, auto-created as
    ``unrated`` for unseen domains, edited through the write API); read by every other service.
    Sources that share an ``owner_group`` are one voice for confidence scoring; a source without
    one is a group of its own (see ``group_key``).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    domain: str = Field(min_length=1, description="Registrable domain, lower case, e.g. 'bbc.co.uk'.")
    name: str | None = Field(default=None, description="Display name, e.g. 'BBC News'.")
    country: str | None = Field(default=None, description="Country name in lower case, e.g. 'france'.")
    lean: Lean = Field(default=Lean.unrated, description="Political lean on the five-point scale.")
    factuality: Factuality = Field(default="unrated", description="Factual-reporting rating.")
    credibility: float = Field(
        default=NEUTRAL_CREDIBILITY,
        ge=0.0,
        le=1.0,
        description="Weight in confidence scoring; credibility_weight(factuality) unless set by hand.",
    )
    owner_group: str | None = Field(
        default=None,
        description="Stable slug of the owner group (e.g. 'dpg-media'); sources sharing it are one voice.",
    )
    owner: str | None = Field(default=None, description="Ownership as free text, as the dataset states it.")
    typology: str | None = Field(
        default=None, description="Kind of outlet, e.g. 'Private Media', 'State Funded Media'."
    )
    media_type: str | None = Field(default=None, description="e.g. 'newspaper', 'tv station', 'website'.")
    flags: list[str] = Field(
        default_factory=list,
        description="Rating flags: 'extreme', 'conspiracy', 'pseudoscience', 'pro_science', 'junk_news'.",
    )
    origins: list[str] = Field(
        default_factory=list, description="Datasets that contributed: 'mbfc', 'kite', 'auto', 'api'."
    )

    @property
    def group_key(self) -> str:
        """The key of this source's voice: its ``owner_group``, else its own ``domain``.

        Owner-group slugs never contain a dot and registrable domains always do, so they cannot collide.
        """
        return self.owner_group or self.domain
