"""The admin page in a real headless Chromium (Debian's /usr/bin/chromium via Playwright).

Sign in, open a session, form teams, download the CSV and check it, take a screenshot.
The browser is never downloaded: without /usr/bin/chromium the test is skipped.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from aiohttp import web

from bot.config import Settings
from bot.web.app import create_web_app
from catalog import teams
from catalog.clock import JST, Clock
from catalog.registrations import Applicant, register

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
TOKEN = "browser-test-admin-token"
SESSION = "2024-A-13-0709"
EARLY = dt.date(2024, 6, 1)
EARLY_NOW = dt.datetime(2024, 6, 1, 10, 0, tzinfo=JST)
EVIL = "<img src=x onerror=alert(1)>"
PEOPLE = [
    ("山田 太郎", "横浜市", "local"),
    ("佐藤 花子", "川崎市", "local"),
    ("鈴木 一郎", "千葉市", "local"),
    ("高橋 次郎", "横浜市", "local"),
    ("田中 三郎", "相模原市", "local"),
    ("伊藤 四郎", "さいたま市", "local"),
    ("渡辺 五郎", "東京都庁", "local"),
    (EVIL, "川崎市", "local"),
]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="/usr/bin/chromium is not installed (apt-get install chromium; CI's .ci/run does)",
    ),
]


@pytest.fixture
async def server(catalog, tmp_path):
    for name, org, kind in PEOPLE:
        register(catalog, SESSION, [Applicant(name, org, kind)], today=EARLY, now=EARLY_NOW)
    app = create_web_app(Settings(db_path=tmp_path / "t.db", admin_token=TOKEN), catalog, Clock(EARLY))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_staff_sign_in_form_teams_and_download_csv(server, catalog, tmp_path):
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            context = await browser.new_context(accept_downloads=True, locale="ja-JP")
            page = await context.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: dialogs.append(d.message))

            await page.goto(f"{server}/admin")
            assert page.url == f"{server}/admin/login"  # sent to sign in first
            await page.fill("#token", TOKEN)
            await page.click("#sign-in")
            await page.wait_for_url(f"{server}/admin")
            assert TOKEN not in page.url
            row = page.locator(f'tr[data-session="{SESSION}"]')
            assert await row.locator("td.registered").inner_text() == str(len(PEOPLE))

            await row.locator("a").click()
            await page.wait_for_url(f"{server}/admin/sessions/{SESSION}")
            assert await page.locator("#no-teams").count() == 1
            roster = await page.locator("#roster").inner_text()
            assert EVIL in roster  # shown as text, not run as markup

            await page.click("#form-teams")
            await page.wait_for_selector("#formed")
            shown = await page.locator(".team").count()
            stored = teams.current_teams(catalog, SESSION)
            assert shown == len(stored) == 2
            assert sorted(len(t.members) for t in stored) == [4, 4]

            async with page.expect_download() as info:
                await page.click("#download-csv")
            download = await info.value
            assert download.suggested_filename == f"roster-{SESSION}.csv"
            data = Path(await download.path()).read_bytes()
            assert data.startswith(b"\xef\xbb\xbf")  # BOM for Japanese Excel
            rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
            assert [r["氏名"] for r in rows] == [p[0] for p in PEOPLE]
            assert {r["チーム"] for r in rows} == {"1", "2"}  # the teams just formed

            shot = tmp_path / "admin-session.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000

            await page.click("#sign-out")
            await page.wait_for_url(f"{server}/admin/login")
            await page.goto(f"{server}/admin/sessions/{SESSION}")
            assert page.url == f"{server}/admin/login"
            assert dialogs == []  # no script from the database ever ran
        finally:
            await browser.close()


async def test_a_move_that_breaks_the_rules_asks_to_confirm(server, catalog, tmp_path):
    """Issue 13 §1: a move into a team of four is refused with the reason and a confirm
    step; confirmed, the team is shown as an exception (badge and reason)."""
    from playwright.async_api import async_playwright

    teams.form_teams(catalog, SESSION, now=EARLY_NOW)  # 4 + 4
    who = teams.current_teams(catalog, SESSION)[0].members[0]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = await (await browser.new_context(locale="ja-JP")).new_page()
            await page.goto(f"{server}/admin/login")
            await page.fill("#token", TOKEN)
            await page.click("#sign-in")
            await page.wait_for_url(f"{server}/admin")
            await page.goto(f"{server}/admin/sessions/{SESSION}")
            assert await page.locator(".team.exception").count() == 0

            await page.select_option("#move-who", str(who.registration_id))
            await page.fill("#move-team", "2")
            await page.click("#move-submit")
            await page.wait_for_selector("#confirm-move")
            alert = await page.locator(".error").inner_text()
            assert "5名" in alert and "team 2 would have 5 people" in alert
            assert [len(t.members) for t in teams.current_teams(catalog, SESSION)] == [4, 4]

            await page.click("#confirm-move-submit")
            await page.wait_for_selector("#moved")
            flagged = page.locator('.team[data-exception="1"]')
            assert await flagged.count() == 1
            assert await flagged.get_attribute("data-team") == "2"
            assert "例外" in await flagged.locator(".badge").inner_text()
            reasons = await flagged.locator(".exception-reason").all_inner_texts()
            assert any("5名のチーム" in r for r in reasons)
            stored = teams.current_teams(catalog, SESSION)
            assert [len(t.members) for t in stored] == [3, 5] and stored[1].is_exception

            shot = tmp_path / "admin-team-exception.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            await browser.close()
