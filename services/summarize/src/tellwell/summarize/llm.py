"""Optional language-model backend: any OpenAI-compatible chat endpoint rewrites the prose.

Off unless ``SUMMARIZE_LLM_URL`` is set. The model sees the member articles (numbered by id) and the
extractive draft, and must answer JSON::

    {"title": "...",
     "summary": [{"text": "...", "article_ids": ["<id>", ...]}, ...],        # 2-4 sentences
     "body": [[{"text": "...", "article_ids": [...]}, ...], ...]}           # 1-3 paragraphs

The answer is rejected (the extractive summary stands) when it is not that JSON, when a sentence
cites no member or a non-member, when a quoted span is not verbatim in a cited article, or when a
number is in none of the cited articles. Timeouts and HTTP errors likewise. The extractive summary
is emitted first and never waits: this runs afterwards (``Summarizer._improve``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tellwell.common.events import GroundedSentence, StorySummary, utcnow
from tellwell.summarize.domain import Article, normalized_text
from tellwell.summarize.settings import Settings
from tellwell.summarize.text import normalize

log = logging.getLogger(__name__)

SYSTEM = (
    "You write neutral news summaries strictly from the articles given. Never add facts, names, "
    "numbers or quotes that are not in the articles. Quote only verbatim. Every sentence cites the ids "
    "of the articles that support it. Answer with JSON only: "
    '{"title": str, "summary": [{"text": str, "article_ids": [str]}] (2-4 items), '
    '"body": [[{"text": str, "article_ids": [str]}]] (1-3 paragraphs)}.'
)
_QUOTE = re.compile(r"[\"\u201c\u201d]([^\"\u201c\u201d]{3,})[\"\u201c\u201d]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: str = Field(min_length=3, max_length=300)
    summary: list[GroundedSentence] = Field(min_length=1, max_length=4)
    body: list[list[GroundedSentence]] = Field(min_length=1, max_length=3)


class Rejected(ValueError):
    """The model's answer failed validation."""


def _has_number(text: str, number: str) -> bool:
    """The number as a whole number in the text ('12' is not in '2012' or '1.12')."""
    return re.search(rf"(?<![\d.,]){re.escape(number)}(?![\d]|[.,]\d)", text) is not None


def validate_answer(content: str, articles: Sequence[Article]) -> _Answer:
    """Parse and check an answer against the articles; raises ``Rejected`` with the reason."""
    try:
        answer = _Answer.model_validate_json(_FENCE.sub("", content))
    except ValidationError as exc:
        raise Rejected(f"malformed answer: {exc.errors()[0]['msg']}") from exc
    texts = {a.article_id: normalized_text(a) for a in articles}
    everything = " ".join(texts.values())
    for sentence in [*answer.summary, *(s for p in answer.body for s in p)]:
        unknown = [i for i in sentence.article_ids if i not in texts]
        if unknown:
            raise Rejected(f"cites articles that are not members: {unknown}")
        _check_grounded(sentence.text, " ".join(texts[i] for i in sentence.article_ids), "the cited articles")
    _check_grounded(answer.title, everything, "any article", what="title ")
    return answer


def _check_grounded(text: str, source: str, where: str, what: str = "") -> None:
    """Each quote of ``text`` is verbatim in ``source`` and each number is in it, or ``Rejected``."""
    for quote in _QUOTE.findall(text):
        if normalize(quote) not in source:
            raise Rejected(f"{what}quote not found verbatim in {where}: {quote!r}")
    for number in _NUMBER.findall(text):
        if not _has_number(source, number):
            raise Rejected(f"{what}number {number} is not in {where}")


class ChatImprover:
    """Calls the chat endpoint once per summary; any failure returns ``None`` (keep extractive)."""

    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 20.0,
        max_articles: int = 8,
    ) -> None:
        self.url = url.rstrip("/")
        if not self.url.endswith("/chat/completions"):
            self.url += "/chat/completions"
        self.model = model
        self.max_articles = max_articles
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), headers=headers)

    @classmethod
    def from_settings(cls, config: Settings) -> ChatImprover | None:
        if not config.llm_url:
            return None
        return cls(
            config.llm_url,
            config.llm_model,
            api_key=config.llm_api_key,
            timeout_s=config.llm_timeout_s,
            max_articles=config.llm_max_articles,
        )

    async def close(self) -> None:
        await self.client.aclose()

    def messages(self, summary: StorySummary, articles: Sequence[Article]) -> list[dict[str, str]]:
        cited = {i for s in summary.summary for i in s.article_ids}
        chosen = sorted(articles, key=lambda a: (a.article_id not in cited, a.published_at))[
            : self.max_articles
        ]
        docs = "\n\n".join(
            f"[{a.article_id}] {a.display_source}: {a.title}\n{(a.lead + ' ' + a.text).strip()[:1500]}"
            for a in chosen
        )
        draft = {"title": summary.title, "summary": [s.model_dump() for s in summary.summary]}
        user = f"Articles:\n{docs}\n\nExtractive draft:\n{json.dumps(draft)}\n\nWrite the JSON."
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    async def improve(self, summary: StorySummary, articles: Sequence[Article]) -> StorySummary | None:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": self.messages(summary, articles),
            "temperature": 0,
            "response_format": {"type": "json_object"},
        }
        try:
            response = await self.client.post(self.url, json=payload)
            response.raise_for_status()
            content = response.json()["choices"][0]["message"]["content"]
            answer = validate_answer(str(content), articles)
        except httpx.TimeoutException:
            log.warning("story %s: language model timed out; extractive summary kept", summary.story_id)
            return None
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
            log.warning("story %s: language model answer rejected: %s", summary.story_id, exc)
            return None
        return summary.model_copy(
            update={
                "event_id": uuid4(),
                "occurred_at": utcnow(),
                "title": normalize(answer.title),
                "summary": answer.summary,
                "body": answer.body,
                "method": f"llm:{self.model}",
            }
        )
