"""The public subscribe page in a real headless Chromium: filters without JavaScript,
the three subscribe buttons, the URL to copy, both languages, a screenshot."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web

from bot.config import Settings
from bot.web.app import create_web_app
from catalog.clock import Clock

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is not installed (apt-get install chromium; CI's .ci/run does)",
)


@pytest.fixture
async def server(catalog, tmp_path):
    settings = Settings(db_path=tmp_path / "t.db", public_base_url="https://cyder.example.jp")
    runner = web.AppRunner(create_web_app(settings, catalog, Clock(dt.date(2024, 6, 1))), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


async def test_choose_filters_and_subscribe_without_javascript(server, tmp_path):
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = await browser.new_page(java_script_enabled=False)
        await page.goto(server + "/")
        assert "CYDER 開催回をカレンダーに登録" in await page.title()
        await page.select_option("#course", "A")
        await page.select_option("#prefecture", "34")
        await page.click("#show")
        assert "/calendar/?" in page.url
        assert await page.text_content("#feed-name") == "CYDER 令和6年度 A 広島県"
        rows = await page.locator("#sessions tbody tr").all_text_contents()
        assert len(rows) == 1 and "広島" in rows[0]
        feed = await page.input_value("#feed-url")
        assert feed == "https://cyder.example.jp/calendar/sessions.ics?course=A&prefecture=34"
        assert await page.get_attribute("#webcal", "href") == "webcal://" + feed.split("://")[1]
        google = await page.get_attribute("#google", "href")
        assert parse_qs(urlsplit(google).query)["cid"] == ["webcal://" + feed.split("://")[1]]
        outlook = await page.get_attribute("#outlook", "href")
        assert parse_qs(urlsplit(outlook).query)["url"] == [feed]
        assert await page.text_content("#google") == "Google カレンダーに追加"
        await page.screenshot(path=str(tmp_path / "calendar-ja.png"), full_page=True)

        await page.click("#other-lang")
        assert await page.text_content("#feed-name") == "CYDER FY2024 A Hiroshima"
        assert await page.text_content("#google") == "Add to Google Calendar"
        assert await page.input_value("#feed-url") == feed + "&lang=en"
        await browser.close()
    assert (tmp_path / "calendar-ja.png").stat().st_size > 10_000


async def test_the_page_answers_bad_filters_and_empty_matches(server):
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(server + "/calendar/?lang=fr") as r:
            assert r.status == 400 and "lang" in await r.text()
        async with http.get(server + "/calendar/?course=Z") as r:
            assert r.status == 400 and "'Z'" in await r.text()
        async with http.get(server + "/calendar/?course=B-2&prefecture=34") as r:
            body = await r.text()
            assert r.status == 200 and 'id="no-sessions"' in body
            assert "@" not in body.split("<body>", 1)[1].replace("&#64;", "")  # no e-mail
