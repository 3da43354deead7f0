"""The optional language-model backend against a fake OpenAI-compatible server: only validated,
grounded answers replace the extractive text; everything else falls back."""

import json

import pytest

from tellwell.common.testing import make_story_cluster
from tellwell.summarize.domain import summarize
from tellwell.summarize.llm import ChatImprover, Rejected, validate_answer
from tests.summarize.fake_llm import fake_chat_server
from tests.summarize.stories import QUAKE

GOOD = {
    "title": "Deadly magnitude 7.1 earthquake strikes central Chile",
    "summary": [
        {
            "text": "A magnitude 7.1 earthquake struck central Chile on Monday, killing at least 12 people.",
            "article_ids": ["a-reuters", "a-copy"],
        },
        {
            "text": 'Boric said "We are deploying every resource we have" as rescuers searched rubble.',
            "article_ids": ["a-reuters"],
        },
    ],
    "body": [[{"text": "A tsunami warning was lifted two hours later.", "article_ids": ["a-reuters"]}]],
}


@pytest.fixture
def extractive():
    return summarize(make_story_cluster(member_ids=[a.article_id for a in QUAKE]), QUAKE)


@pytest.fixture
def fake():
    with fake_chat_server() as server:
        yield server


async def improve(fake, extractive, timeout_s=5.0):
    improver = ChatImprover(fake.url, "tiny-model", api_key="k-1", timeout_s=timeout_s)
    try:
        return await improver.improve(extractive, QUAKE)
    finally:
        await improver.close()


class TestChatImprover:
    async def test_a_grounded_answer_replaces_the_prose_and_records_the_model(self, fake, extractive):
        fake.content = json.dumps(GOOD)
        better = await improve(fake, extractive)

        assert better is not None
        assert better.method == "llm:tiny-model"
        assert better.title == GOOD["title"]
        assert [s.text for s in better.summary] == [s["text"] for s in GOOD["summary"]]
        assert (better.story_id, better.version, better.category) == (
            extractive.story_id,
            extractive.version,
            extractive.category,
        )
        assert better.event_id != extractive.event_id
        [request] = fake.requests
        assert request["path"] == "/v1/chat/completions"
        assert request["auth"] == "Bearer k-1"
        assert request["json"]["model"] == "tiny-model"
        assert "a-reuters" in request["json"]["messages"][1]["content"]

    async def test_malformed_json_falls_back(self, fake, extractive):
        fake.content = '{"title": "Quake", "summary": [ {"text": "unterminated'
        assert await improve(fake, extractive) is None

    async def test_a_timeout_falls_back(self, fake, extractive):
        fake.content = json.dumps(GOOD)
        fake.delay_s = 1.5
        assert await improve(fake, extractive, timeout_s=0.3) is None

    async def test_an_invented_quote_is_rejected(self, fake, extractive):
        bad = json.loads(json.dumps(GOOD))
        bad["summary"][1]["text"] = 'Boric said "the worst is behind us" on Monday.'
        fake.content = json.dumps(bad)
        assert await improve(fake, extractive) is None

    async def test_an_http_error_falls_back(self, fake, extractive):
        fake.status = 503
        fake.content = json.dumps(GOOD)
        assert await improve(fake, extractive) is None


class TestValidation:
    def test_citing_a_non_member_is_rejected(self):
        bad = json.loads(json.dumps(GOOD))
        bad["summary"][0]["article_ids"] = ["someone-else"]
        with pytest.raises(Rejected, match="not members"):
            validate_answer(json.dumps(bad), QUAKE)

    def test_a_number_no_cited_article_gives_is_rejected(self):
        bad = json.loads(json.dumps(GOOD))
        bad["summary"][0]["text"] = "A magnitude 7.1 earthquake killed 41 people in Chile."
        with pytest.raises(Rejected, match="number 41"):
            validate_answer(json.dumps(bad), QUAKE)

    def test_a_quote_from_an_uncited_member_is_rejected(self):
        bad = json.loads(json.dumps(GOOD))
        bad["summary"][1]["article_ids"] = ["a-bbc"]  # the quote is Reuters', not the BBC's
        with pytest.raises(Rejected, match="quote"):
            validate_answer(json.dumps(bad), QUAKE)

    def test_a_sentence_without_citation_is_rejected(self):
        bad = json.loads(json.dumps(GOOD))
        bad["summary"][0]["article_ids"] = []
        with pytest.raises(Rejected, match="malformed"):
            validate_answer(json.dumps(bad), QUAKE)

    def test_a_fenced_good_answer_is_accepted(self):
        assert validate_answer("```json\n" + json.dumps(GOOD) + "\n```", QUAKE).title == GOOD["title"]
