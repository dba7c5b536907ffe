"""The schedule console and the home page's charts in a real headless Chromium (Debian's
/usr/bin/chromium via Playwright): see the charts, edit a session through the weekend
confirm step, upload a spreadsheet, read the preview, apply it; screenshots under tmp_path.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from aiohttp import web

from bot.config import Settings
from bot.web.app import create_web_app
from catalog import calendar
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
A = "2024-A-34-1025"
EARLY = dt.date(2024, 6, 1)
HEADER = "course,region,prefecture,city,first,last,venue,address,start,end,capacity,id"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is not installed (apt-get install chromium; CI's .ci/run does)",
)


@pytest.fixture
async def server(catalog, tmp_path):
    for day, n in (
        (dt.datetime(2024, 5, 20, 9, 0, tzinfo=JST), 6),
        (dt.datetime(2024, 5, 24, 9, 0, tzinfo=JST), 9),
        (dt.datetime(2024, 5, 31, 9, 0, tzinfo=JST), 4),
    ):
        for i in range(n):
            register(
                catalog,
                A if i % 2 else "2024-A-13-0709",
                [Applicant(f"職員{day.day}-{i}", f"自治体{i}", "local")],
                today=EARLY,
                now=day,
                user_id=5000 + day.day * 10 + i,
            )
    app = create_web_app(Settings(db_path=tmp_path / "t.db", admin_token=TOKEN), catalog, Clock(EARLY))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


async def test_charts_edit_with_confirm_and_upload_with_preview(server, catalog, tmp_path):
    from playwright.async_api import async_playwright

    sheet = tmp_path / "fy2025.csv"
    sheet.write_bytes(
        "\n".join(
            [
                HEADER,
                "A,中国,広島県,広島,2025/7/9,,,,10:00,17:00,30,",
                "C,関東,東京都,東京,2025/11/27,2025/11/28,,,,,,",
                "A,中国,鳥取県,倉吉,2025/7/12,,,,,,,",
            ]
        ).encode("cp932")
    )
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            context = await browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: dialogs.append(d.message))
            await page.goto(f"{server}/admin/login")
            await page.fill("#token", TOKEN)
            await page.click("#sign-in")
            await page.wait_for_url(f"{server}/admin")

            # The charts: one bar per session, drawn on the server, visible without a CDN.
            seats = page.locator("svg#chart-seats")
            assert await seats.is_visible()
            assert await seats.locator("g.session-bar").count() == 100
            box = await seats.bounding_box()
            assert box and box["width"] > 600 and box["height"] > 200
            assert await page.locator("svg#chart-registrations circle").count() == 3
            assert "申込数の推移" in await page.locator("#charts").inner_text()
            await page.screenshot(path=str(tmp_path / "admin-home.png"), full_page=True)
            await page.locator("#charts").screenshot(path=str(tmp_path / "admin-charts.png"))

            # Edit a session: a Saturday asks first, then saves; the registrants are told.
            await page.goto(f"{server}/admin/sessions/{A}")
            await page.click("#edit-session")
            await page.wait_for_url(f"{server}/admin/sessions/{A}/edit")
            await page.fill("#first", "2024-11-02")
            await page.fill("#last", "2024-11-02")
            await page.fill("#venue", "広島テスト会場")
            await page.click("#save")
            await page.wait_for_selector("#confirm-step")
            assert "11月2日は土曜日です" in await page.locator("#confirm-step").inner_text()
            assert catalog.session(A).first_day == dt.date(2024, 10, 25)
            await page.click("#confirm-save")
            await page.wait_for_selector("#done")
            assert "登録者に変更をお知らせします" in await page.locator("#done").inner_text()
            s = catalog.session(A)
            assert (s.first_day, s.venue, s.revision) == (dt.date(2024, 11, 2), "広島テスト会場", 1)
            assert {n.session_id for n in calendar.pending_change_notices(catalog)} == {A}

            # Upload next year's sheet: the preview, then apply with the weekend confirmed.
            await page.goto(f"{server}/admin/schedule")
            await page.set_input_files("#file", str(sheet))
            await page.click("#upload-submit")
            await page.wait_for_selector("#preview")
            assert await page.locator("#n-added").inner_text() == "3"
            assert await page.locator("tr.change-added").count() == 3
            assert "7月12日は土曜日です" in await page.locator("#weekends").inner_text()
            assert catalog.fiscal_years == (2024,)  # nothing saved by the preview
            await page.screenshot(path=str(tmp_path / "admin-upload-preview.png"), full_page=True)
            await page.check("#confirm-weekends")
            await page.click("#apply-submit")
            await page.wait_for_selector("#applied")
            assert "FY2025: 3 added" in await page.locator("#applied").inner_text()
            assert catalog.fiscal_years == (2024, 2025)
            assert catalog.session("2025-C-13-1127").last_day == dt.date(2025, 11, 28)
            assert dialogs == []
        finally:
            await browser.close()
    for name in ("admin-home.png", "admin-charts.png", "admin-upload-preview.png"):
        assert (tmp_path / name).stat().st_size > 20_000
