"""The registration console in a real headless Chromium (Debian's /usr/bin/chromium via
Playwright): search from the home page, open a registration, cancel it with a reason, see
the cancel and the promotion in its history and the session's, and the messages queued for
the bot's sender; screenshots under tmp_path.
The browser is never downloaded: without /usr/bin/chromium the test is skipped.
"""

from __future__ import annotations

import pytest
from aiohttp import web

from bot.config import Settings
from bot.telegram.notify import Notifier
from bot.web.app import create_web_app
from bot.web.keys import BOT
from catalog.clock import Clock
from catalog.registrations import Applicant, get_registration, register
from tests.conftest import MockedBot
from tests.test_admin_web_browser import ARGS, CHROMIUM, EARLY, EARLY_NOW

TOKEN = "browser-console-admin-token"
SESSION = "2024-A-13-0709"
EVIL = "<img src=x onerror=alert(1)>"
REASON = "電話でご本人から辞退の連絡"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is not installed (apt-get install chromium; CI's .ci/run does)",
)


@pytest.fixture
async def server(catalog, tmp_path):
    catalog.store.db.execute("update sessions set capacity = 3 where id = ?", [SESSION])
    catalog.store.db.conn.commit()
    for name, org, uid in [
        ("山田 太郎", "横浜市", 801),
        ("佐藤 花子", "川崎市", None),
        (EVIL, "千葉市", None),
        ("鈴木 一郎", "相模原市", 802),
    ]:
        register(
            catalog,
            SESSION,
            [Applicant(name, org, "local")],
            today=EARLY,
            now=EARLY_NOW,
            user_id=uid,
            waitlist=True,
        )
    register(
        catalog, "2024-A-34-1025", [Applicant("山田 次郎", "広島市", "local")], today=EARLY, now=EARLY_NOW
    )
    app = create_web_app(Settings(db_path=tmp_path / "t.db", admin_token=TOKEN), catalog, Clock(EARLY))
    bot = MockedBot()
    app[BOT] = bot
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}", bot
    await runner.cleanup()


async def test_search_cancel_with_a_reason_and_see_it_in_the_history(server, catalog, tmp_path):
    from playwright.async_api import async_playwright

    base, bot = server
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = await browser.new_page(locale="ja-JP")
            dialogs: list[str] = []
            page.on("dialog", lambda d: dialogs.append(d.message))
            await page.goto(f"{base}/admin")
            await page.fill("#token", TOKEN)
            await page.click("#sign-in")
            await page.wait_for_url(f"{base}/admin")

            # search from the home page: both 山田 across two sessions
            await page.fill("#search", "山田")
            await page.click("#search-submit")
            await page.wait_for_selector("#results")
            rows = page.locator("#results tbody tr")
            assert await rows.count() == 2
            assert "横浜市" in await rows.nth(0).inner_text()  # July before October
            await page.fill("#search", "千葉")
            await page.click("#search-submit")
            await page.wait_for_selector("#results")
            assert EVIL in await page.locator("#results").inner_text()  # text, not markup
            await page.fill("#search", "山田 横浜")
            await page.click("#search-submit")
            await page.wait_for_selector("#results")
            assert await rows.count() == 1
            await page.screenshot(path=str(tmp_path / "admin-search.png"), full_page=True)

            await rows.nth(0).locator("a").first.click()
            await page.wait_for_selector("#cancel-form")
            assert await page.locator("#name").inner_text() == "山田 太郎"
            rid = int(page.url.rsplit("/", 1)[1])

            await page.click("#cancel-submit")  # no reason yet: the browser asks for one
            assert await page.locator("#done").count() == 0
            await page.fill("#cancel-reason", REASON)
            await page.click("#cancel-submit")
            await page.wait_for_selector("#done")
            assert "取り消しました" in await page.locator("#done").inner_text()
            assert "送信待ちに入れました" in await page.locator("#done").inner_text()
            history = await page.locator("#history").inner_text()
            assert f"理由: {REASON}" in history and "取消 / cancelled" in history
            assert "管理画面" in history
            shot = tmp_path / "admin-registration-cancelled.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000

            assert get_registration(catalog, rid).status == "cancelled"
            assert bot.requests == []  # queued in the outbox, for the bot's sender
            sender = Notifier(catalog, Settings(db_path=tmp_path / "t.db"), Clock(EARLY))
            assert (await sender.deliver_due(bot))["sent"] == 2
            told = [r for r in bot.requests if type(r).__name__ == "SendMessage"]
            assert [r.chat_id for r in told] == [801, 802]  # the person, then the promoted
            assert REASON in told[0].text

            await page.click(f'a[href="/admin/sessions/{SESSION}"]')
            await page.wait_for_selector("#session-history")
            section = await page.locator("#session-history").inner_text()
            assert REASON in section and "繰上げ / promoted" in section
            await page.screenshot(path=str(tmp_path / "admin-session-history.png"), full_page=True)
            assert dialogs == []  # no script from the database ever ran
        finally:
            await browser.close()
