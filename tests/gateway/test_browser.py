"""The web pages in a real browser: Playwright driving Debian's Chromium against a gateway process
(uvicorn) on the real FerretDB. Screenshots go to ``.local/artifacts/gateway/`` (git-ignored)."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from pymongo import MongoClient

from tellwell.common.events import Category, Perspective, StoryScored
from tellwell.common.mongo import make_mongo_client
from tellwell.common.settings import MongoSettings
from tellwell.common.views import STORY_VIEWS, VIEW_WRITES
from tests.fixtures.infra import REPO, Infra
from tests.fixtures.processes import stop_process
from tests.fixtures.waiting import eventually, wait_until
from tests.gateway.conftest import DB, now, put_views, story

pytestmark = [pytest.mark.browser, pytest.mark.mongo]

CHROMIUM = os.environ.get("TELLWELL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / ".local" / "artifacts" / "gateway"
XSS = "<img src=x onerror=alert(1)>"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def browser_mongo(infra: Infra) -> Iterator[MongoSettings]:
    """One database for this module's gateway process (starting one per test would dominate the run)."""
    settings = MongoSettings(url=infra.mongo_url, database=f"tellwell_test_browser_{uuid.uuid4().hex[:8]}")
    yield settings
    with MongoClient(settings.url) as client:
        client.drop_database(settings.database)


@pytest.fixture(scope="module")
def gateway_url(browser_mongo: MongoSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The gateway as it is deployed: its own uvicorn process, on a free port."""
    port = free_port()
    env = {
        **os.environ,
        "MONGO_URL": browser_mongo.url,
        "MONGO_DATABASE": browser_mongo.database,
        "GATEWAY_POLL_INTERVAL_S": "0.1",
        "GATEWAY_LOG_JSON": "false",
    }
    log_path = tmp_path_factory.mktemp("gateway") / "gateway.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tellwell.gateway.app:app", "--port", str(port),
         "--timeout-graceful-shutdown", "1"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, log_path.read_text()
        try:
            urllib.request.urlopen(url + "/readyz", timeout=1)
        except OSError:
            return False
        return True

    wait_until(ready, timeout_s=30, interval_s=0.1, what="the gateway to be ready")
    try:
        yield url
    finally:
        stop_process(proc, timeout_s=10)
        log.close()


@pytest.fixture
async def views_db(browser_mongo: MongoSettings, gateway_url: str) -> AsyncIterator[DB]:
    """The gateway's database, emptied of story views for this test."""
    client = make_mongo_client(browser_mongo)
    db = client[browser_mongo.database]
    # Deleted views are announced as score would: their marks move on, naming views that are gone
    # (the gateway's read model then drops them).
    await db[STORY_VIEWS].delete_many({})
    await db[VIEW_WRITES].update_many({}, {"$set": {"updated_at": datetime.now(UTC)}})
    async with httpx.AsyncClient(base_url=gateway_url) as http:

        async def emptied() -> bool:
            return not (await http.get("/v1/stories")).json()["items"]

        await eventually(emptied, interval_s=0.05, what="the gateway to drop the deleted views")
    await db[VIEW_WRITES].delete_many({})
    yield db
    await client.close()


async def changes_seen(http: httpx.AsyncClient) -> float:
    """How many story-view writes the gateway's change feed has seen (its Prometheus counter)."""
    text = (await http.get("/metrics")).text
    match = re.search(r"^tellwell_gateway_changes_total ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def publish(db: DB, gateway_url: str, views: list[StoryScored]) -> None:
    """Write views as score does and wait until the gateway's change feed has seen every write.

    Waiting for the API to show the new views is not enough: a read made before the poller saw the
    write goes to the store and is fresh, while a page cached under the same data version by an
    earlier test (which wrote a view with the same id) is stale until the version moves."""
    async with httpx.AsyncClient(base_url=gateway_url) as http:
        before = await changes_seen(http)
        await put_views(db, views)

        async def seen() -> bool:
            return await changes_seen(http) >= before + len(views)

        await eventually(
            seen, interval_s=0.05, what=f"the gateway's change feed to see {[v.story_id for v in views]}"
        )


@pytest.fixture
def chromium_path() -> str:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: run `bash deploy/local/browser.sh`"
    return CHROMIUM


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss())))
    page.dialogs = dialogs  # type: ignore[attr-defined]
    yield page
    await context.close()


def shot(name: str) -> str:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return str(ARTIFACTS / name)


class TestReading:
    async def test_feed_filter_story_and_back(self, views_db, gateway_url, page):
        science = story(
            1,
            category=Category.science,
            title="Comet seen over the Andes",
            last_published_at=datetime.now(UTC) - timedelta(minutes=39),
        )
        await publish(
            views_db, gateway_url, [story(0), science, story(2, last_published_at=now() - timedelta(days=3))]
        )

        await page.goto(gateway_url + "/")
        cards = page.locator("article.card")
        await expect(cards).to_have_count(3)
        first = cards.nth(0)
        await expect(first.locator(".category")).to_have_text("World")
        await expect(first.locator("time")).to_have_text("just now")
        await expect(cards.nth(1).locator("time")).to_have_text("39m ago")
        await expect(cards.nth(2).locator("time")).to_have_text("3d ago")
        confidence = first.locator(".confidence")
        await expect(confidence).to_contain_text("78% confidence")
        assert "corroborate" in (await confidence.get_attribute("title") or "")
        await expect(confidence.locator(".sr-only")).to_contain_text("independent, credible sources")
        await expect(first.locator("h2")).to_have_text(story(0).title)
        await expect(first.locator(".summary")).to_contain_text("A magnitude 7.1 earthquake struck")
        await expect(first.locator(".lean-summary")).to_have_text("Left 25% · Center 50% · Right 25%")
        await expect(first.locator(".source-count")).to_have_text("5 sources")
        await page.screenshot(path=shot("feed.png"), full_page=True)

        await page.select_option("#category", "science")
        await page.click("button[type=submit]")
        await expect(page).to_have_url(re.compile(r"[?&]category=science(&|$)"))
        await expect(cards).to_have_count(1)
        await expect(cards.nth(0).locator("h2")).to_have_text("Comet seen over the Andes")
        await page.fill("#q", "no such words anywhere")
        await page.click("button[type=submit]")
        await expect(page.locator(".empty")).to_have_text("No stories match these filters.")

        await page.goto(gateway_url + "/")
        await page.click("article.card >> nth=0 >> h2 a")
        await expect(page).to_have_url(f"{gateway_url}/stories/story-000")
        await self.check_story_page(page)
        await page.screenshot(path=shot("story.png"), full_page=True)

        await page.click("text=← Back to feed")
        await expect(page).to_have_url(gateway_url + "/")
        await expect(cards).to_have_count(3)

    async def check_story_page(self, page: Page) -> None:
        view = story(0)
        await expect(page.locator("a.back")).to_have_text("← Back to feed")
        meta = page.locator("article.story > .meta")
        await expect(meta.locator(".category")).to_have_text("World")
        await expect(meta.locator("time")).to_have_text("just now")
        await expect(page.locator(".confidence-block > .confidence")).to_contain_text("78% confidence")
        why = page.locator("details.why")
        await expect(why.locator("h3").first).not_to_be_visible()  # collapsed until asked
        await why.locator("summary").click()
        await expect(why.locator("h3").nth(0)).to_have_text("Independent reports (4)")
        await expect(why.locator("ul.reports li").nth(0)).to_contain_text(
            "Reuters, AP News · credibility 95%"
        )
        await expect(why.locator("h3").nth(1)).to_have_text("Collapsed copies (1)")
        await expect(why.locator("ul.collapsed li")).to_have_text("AP News: a copy of Reuters, counted once")
        await expect(why.locator(".credibility-note")).to_contain_text("factual-reporting rating")
        await expect(page.locator("h1")).to_have_text(view.title)
        await expect(page.locator("article.story > .summary")).to_have_text(
            " ".join(s.text for s in view.summary)
        )
        await expect(page.locator(".lean-summary")).to_have_text("Left 25% · Center 50% · Right 25%")
        await expect(page.locator("article.story .source-count").first).to_have_text("5 sources")
        await expect(page.locator("section.body p")).to_have_count(2)
        await expect(page.locator("section.body p").nth(1)).to_contain_text("depth of 30 km")
        missing = page.locator("section.missing li")
        await expect(missing).to_have_text([g.text for g in view.missing])
        said = page.locator("section.perspectives li")
        await expect(said).to_have_count(4)
        reuters = said.nth(0).locator("a")
        await expect(reuters).to_have_text("Reuters")
        assert await reuters.get_attribute("href") == "https://www.reuters.com/world/chile-earthquake-a1"
        await expect(said.nth(3)).to_contain_text("Right Fox News: Fox News led with")
        related = page.locator("section.related li")
        await expect(related.locator("a")).to_have_text("Aftershocks rattle Chile's capital")
        await expect(related.locator(".confidence")).to_contain_text("55% confidence")
        await expect(related.locator(".source-count")).to_have_text("2 sources")
        await expect(related.locator("time")).to_have_text("just now")
        await expect(related.locator(".summary")).to_have_text("Several aftershocks followed Monday's quake.")

    async def test_many_sources_are_grouped_by_lean(self, views_db, gateway_url, page):
        base = story(0)
        leans = ["left", "lean_left", "center", "center", "right", "unrated", "lean_right"]
        perspectives = [
            Perspective(
                source=f"outlet{i}.com",
                lean=lean,
                article_id=f"p{i}",
                url=f"https://outlet{i}.com/a",
                text=f"Angle {i}",
            )
            for i, lean in enumerate(leans)
        ]
        await publish(views_db, gateway_url, [story(0, perspectives=perspectives)])
        assert base.story_id == "story-000"

        await page.goto(gateway_url + "/stories/story-000")

        groups = page.locator("section.perspectives h3")
        await expect(groups).to_have_text(["Left", "Center", "Right", "Unrated"])
        await expect(page.locator("section.perspectives ul").nth(0).locator("li")).to_have_count(2)


class TestLive:
    async def test_a_new_story_appears_without_a_reload(self, views_db, gateway_url, page):
        await publish(views_db, gateway_url, [story(0)])
        await page.goto(gateway_url + "/")
        await expect(page.locator("article.card")).to_have_count(1)
        await page.evaluate("window.__sameDocument = true")
        await page.wait_for_timeout(300)  # the EventSource is connected

        fresh = story(3, title="Breaking: rescuers reach the quake zone", last_published_at=datetime.now(UTC))
        await put_views(views_db, [fresh])

        card = page.locator("article.card").first
        await expect(card.locator("h2")).to_have_text(
            "Breaking: rescuers reach the quake zone", timeout=10_000
        )
        await expect(page.locator("article.card")).to_have_count(2)
        await expect(page.locator("#live-status")).to_contain_text("rescuers reach the quake zone")
        assert await page.evaluate("window.__sameDocument") is True


class TestSafety:
    async def test_hostile_text_renders_as_text(self, views_db, gateway_url, page):
        hostile = Perspective(
            source="evil.example", source_name=XSS, article_id="x1", url="javascript:alert(2)", text=XSS
        )
        await publish(views_db, gateway_url, [story(0, title=XSS, perspectives=[hostile])])

        response = await page.goto(gateway_url + "/")
        assert response is not None
        assert "script-src 'self'" in response.headers["content-security-policy"]
        await expect(page.locator("article.card h2")).to_have_text(XSS)
        assert await page.locator("article.card img").count() == 0

        await page.goto(gateway_url + "/stories/story-000")
        await expect(page.locator("h1")).to_have_text(XSS)
        said = page.locator("section.perspectives li")
        await expect(said).to_contain_text(f"{XSS}: {XSS}")
        assert await said.locator("a").count() == 0  # javascript: is not a link
        assert await page.locator("img").count() == 0
        await page.wait_for_timeout(200)
        assert page.dialogs == []  # type: ignore[attr-defined]


class TestAccessibility:
    async def test_phone_width_and_keyboard(self, views_db, gateway_url, browser):
        await publish(views_db, gateway_url, [story(0), story(1)])
        context = await browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
        page = await context.new_page()

        await page.goto(gateway_url + "/stories/story-000")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375
        await page.screenshot(path=shot("story-phone.png"), full_page=True)
        await page.goto(gateway_url + "/")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375

        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
        for _ in range(12):  # through the brand link and the filters to the first story
            await page.keyboard.press("Tab")
            if await page.evaluate("document.activeElement.closest('article.card') !== null"):
                break
        focused = await page.evaluate(
            "document.activeElement.className + '|' + document.activeElement.textContent"
        )
        assert focused.startswith("confidence|")  # the confidence explains itself on focus
        await page.keyboard.press("Tab")
        await page.keyboard.press("Enter")
        await expect(page).to_have_url(gateway_url + "/stories/story-000")
        await context.close()
