"""The admin page's schedule console over real HTTP: edit with a confirm step, cancel, upload a
spreadsheet with a preview then apply (CSRF, size limit, malformed files), and the charts."""

from __future__ import annotations

import datetime as dt
import re

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.web import admin as admin_web
from bot.web import admin_schedule
from bot.web.app import create_web_app
from catalog import calendar, charts
from catalog.clock import JST, Clock
from catalog.registrations import Applicant, register
from catalog.sessions import Session

TOKEN = "s3cret-admin-token-for-tests"
A = "2024-A-34-1025"
EARLY = dt.date(2024, 6, 1)
EARLY_NOW = dt.datetime(2024, 6, 1, 10, 0, tzinfo=JST)
# The registrant applied the day before: the page's clock keeps the real time of day.
APPLIED = dt.datetime(2024, 5, 31, 10, 0, tzinfo=JST)
HEADER = "course,region,prefecture,city,first,last,venue,address,start,end,capacity,id"


@pytest.fixture(autouse=True)
def fast_failures(monkeypatch):
    monkeypatch.setattr(admin_web, "FAILED_SIGN_IN_DELAY", 0.0)


@pytest.fixture
async def client(catalog, tmp_path):
    register(catalog, A, [Applicant("山田 太郎", "広島市", "local")], today=EARLY, now=APPLIED, user_id=1001)
    app = create_web_app(Settings(db_path=tmp_path / "t.db", admin_token=TOKEN), catalog, Clock(EARLY))
    c = TestClient(TestServer(app))
    await c.start_server()
    page = await c.get("/admin/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)
    resp = await c.post("/admin/login", data={"token": TOKEN, "csrf": csrf}, allow_redirects=False)
    assert resp.status == 303
    yield c
    await c.close()


async def csrf(client, path="/admin/schedule") -> str:
    html = await (await client.get(path)).text()
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def row(catalog, sid=A):
    return catalog.store.one("select * from sessions where id = ?", [sid])


def edit_form(catalog, **changes) -> dict[str, str]:
    r = row(catalog)
    form = {
        "prefecture": r["prefecture"],
        "city": r["city"],
        "first": r["first_day"],
        "last": r["last_day"],
        "start": "",
        "end": "",
        "venue": "",
        "address": "",
        "capacity": "",
        "venue_lat": "",
        "venue_lon": "",
    }
    form.update(changes)
    return form


async def test_edit_needs_csrf_then_raises_the_revision(client, catalog):
    resp = await client.post(
        f"/admin/sessions/{A}/edit", data=edit_form(catalog, first="2024-11-05"), allow_redirects=False
    )
    assert resp.status == 403 and row(catalog)["first_day"] == "2024-10-25"
    token = await csrf(client, f"/admin/sessions/{A}/edit")
    resp = await client.post(
        f"/admin/sessions/{A}/edit",
        data={**edit_form(catalog, first="2024-11-05"), "csrf": token},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == f"/admin/sessions/{A}/edit?done=updated"
    assert (row(catalog)["first_day"], row(catalog)["revision"]) == ("2024-11-05", 1)
    (notice,) = calendar.pending_change_notices(catalog)
    assert notice.user_id == 1001  # the schedule watch tells them, as after `db load`
    page = await (await client.get(resp.headers["Location"])).text()
    assert "登録者に変更をお知らせします" in page


async def test_a_weekend_date_asks_for_confirmation_first(client, catalog):
    token = await csrf(client, f"/admin/sessions/{A}/edit")
    data = {**edit_form(catalog, first="2024-11-02", last="2024-11-02"), "csrf": token}
    resp = await client.post(f"/admin/sessions/{A}/edit", data=data, allow_redirects=False)
    html = await resp.text()
    assert resp.status == 200 and 'id="confirm-step"' in html
    assert "11月2日は土曜日です / 2024-11-02 is a Saturday" in html
    assert 'name="confirm" value="1"' in html and 'value="2024-11-02"' in html
    assert row(catalog)["first_day"] == "2024-10-25"
    resp = await client.post(
        f"/admin/sessions/{A}/edit", data={**data, "confirm": "1"}, allow_redirects=False
    )
    assert resp.status == 303 and row(catalog)["first_day"] == "2024-11-02"


async def test_refused_edits_show_the_reason_and_keep_the_typed_values(client, catalog):
    token = await csrf(client, f"/admin/sessions/{A}/edit")
    resp = await client.post(
        f"/admin/sessions/{A}/edit", data={**edit_form(catalog, city="どこか", capacity="25"), "csrf": token}
    )
    html = await resp.text()
    assert resp.status == 400 and "unknown city &#39;どこか&#39; in 広島県" in html
    assert 'value="25"' in html and row(catalog)["city"] == "広島"


async def test_add_and_cancel_a_session(client, catalog):
    token = await csrf(client, "/admin/schedule/new")
    resp = await client.post(
        "/admin/schedule/new",
        data={
            "csrf": token,
            "course": "A",
            "prefecture": "鳥取県",
            "city": "倉吉",
            "first": "2024-11-13",
            "last": "",
            "capacity": "20",
        },
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == "/admin/sessions/2024-A-31-1113/edit?done=added"
    assert catalog.session("2024-A-31-1113").capacity == 20
    token = await csrf(client, f"/admin/sessions/{A}/edit")
    resp = await client.post(f"/admin/sessions/{A}/cancel", data={"csrf": token})
    assert resp.status == 400 and row(catalog)["status"] == "scheduled"  # the box not ticked
    resp = await client.post(
        f"/admin/sessions/{A}/cancel", data={"csrf": token, "really": "1"}, allow_redirects=False
    )
    assert resp.status == 303 and row(catalog)["status"] == "cancelled"
    (notice,) = calendar.pending_change_notices(catalog)
    assert notice.session_cancelled


def upload_form(token: str, data: bytes, name: str = "fy.csv", year: str = "") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("csrf", token)
    form.add_field("fiscal_year", year)
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    return form


async def test_upload_previews_then_applies(client, catalog):
    text = "\n".join([HEADER, "A,,広島県,広島,2025/7/9,,,,,,30,", "A,,鳥取県,倉吉,2025/7/12,,,,,,,"])
    token = await csrf(client)
    resp = await client.post("/admin/schedule/upload", data=upload_form(token, text.encode("cp932")))
    html = await resp.text()
    assert resp.status == 200, html
    assert re.search(r'id="n-added">2<', html) and 'id="new-year"' in html
    assert "7月12日は土曜日です" in html and 'id="confirm-weekends"' in html
    assert (
        "2025-A-34-0709" in html
        and catalog.store.one("select count(*) as n from sessions where fiscal_year = 2025")["n"] == 0
    )  # nothing yet
    plan = re.search(r'name="plan" value="([^"]+)"', html).group(1)
    fingerprint = re.search(r'name="fingerprint" value="([^"]+)"', html).group(1)
    resp = await client.post(
        "/admin/schedule/apply", data={"csrf": token, "plan": plan, "fingerprint": fingerprint}
    )
    assert resp.status == 400 and "confirm" in await resp.text()  # the weekend not confirmed
    resp = await client.post(
        "/admin/schedule/apply",
        data={"csrf": token, "plan": plan + "x", "fingerprint": fingerprint, "confirm": "1"},
    )
    assert resp.status == 400 and "upload the file again" in await resp.text()
    resp = await client.post(
        "/admin/schedule/apply",
        data={"csrf": token, "plan": plan, "fingerprint": fingerprint, "confirm": "1"},
    )
    html = await resp.text()
    assert resp.status == 200 and 'id="applied"' in html and "FY2025: 2 added" in html
    assert catalog.fiscal_years == (2024, 2025) and catalog.session("2025-A-34-0709").capacity == 30


async def test_an_apply_after_the_schedule_changed_is_refused(client, catalog):
    text = "\n".join([HEADER, "A,,広島県,広島,2025/7/9,,,,,,30,"])
    token = await csrf(client)
    html = await (await client.post("/admin/schedule/upload", data=upload_form(token, text.encode()))).text()
    plan = re.search(r'name="plan" value="([^"]+)"', html).group(1)
    fingerprint = re.search(r'name="fingerprint" value="([^"]+)"', html).group(1)
    # meanwhile somebody else loads the same year with another session
    from catalog.schedule_import import apply_import, plan_import
    from catalog.schedule_sheet import SheetRow

    other = plan_import(
        catalog.store,
        [SheetRow(2, {"course": "A", "prefecture": "岡山県", "city": "岡山", "first": "2025-07-10"})],
        name="other.csv",
    )
    apply_import(catalog.store, other, now=EARLY_NOW)
    resp = await client.post(
        "/admin/schedule/apply", data={"csrf": token, "plan": plan, "fingerprint": fingerprint}
    )
    assert resp.status == 400 and "the schedule changed since the preview" in await resp.text()
    assert catalog.store.one("select count(*) as n from sessions where fiscal_year = 2025")["n"] == 1


async def test_bad_uploads_get_a_clear_answer_and_change_nothing(client, catalog, monkeypatch):
    before = catalog.store.query("select id, revision, status from sessions order by id")
    token = await csrf(client)
    bad = "\n".join([HEADER, "A,,広島県,どこか,2024-10-30,,,,,,,", "Z,,広島県,広島,2024-10-31,,,,,,,"])
    resp = await client.post("/admin/schedule/upload", data=upload_form(token, bad.encode()))
    html = await resp.text()
    assert resp.status == 400 and 'id="problems"' in html and 'id="apply"' not in html
    assert "2行目: unknown city &#39;どこか&#39; in 広島県" in html
    assert "3行目: unknown course &#39;Z&#39;" in html
    resp = await client.post(
        "/admin/schedule/upload", data=upload_form(token, b"PK\x03\x04garbage", name="x.xlsx")
    )
    assert resp.status == 400 and "Excel ファイル（.xlsx）として読めません" in await resp.text()
    monkeypatch.setattr(admin_schedule, "MAX_UPLOAD", 1000)
    resp = await client.post("/admin/schedule/upload", data=upload_form(token, b"x" * 1500))
    assert resp.status == 413 and "The file is too large (limit 0 KB)" in await resp.text()
    resp = await client.post("/admin/schedule/upload", data=upload_form(token, b"x" * 3_000_000))
    assert resp.status == 413 and "ファイルが大きすぎます" in await resp.text()
    resp = await client.post("/admin/schedule/upload", data=upload_form("forged", bad.encode()))
    assert resp.status == 403
    assert catalog.store.query("select id, revision, status from sessions order by id") == before


async def test_template_download_and_the_schedule_page(client):
    resp = await client.get("/admin/schedule/template.xlsx?year=2024")
    assert resp.status == 200 and resp.headers["Content-Disposition"] == (
        'attachment; filename="cyder-schedule-2024.xlsx"'
    )
    import io

    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(await resp.read()))["sessions"]
    assert sheet.max_row == 101
    assert (await client.get("/admin/schedule/template.xlsx?year=1999")).status == 404
    html = await (await client.get("/admin/schedule")).text()
    assert 'data-year="2024"' in html and 'id="upload"' in html


async def test_the_home_page_draws_the_charts_inline(client, catalog):
    html = await (await client.get("/admin")).text()
    assert html.count("<svg") == 2 and "<script" not in html
    assert html.count('class="session-bar"') == len(catalog.all_sessions())
    assert 'id="chart-registrations"' in html and "2024-05-31: 1" in html


def test_chart_text_is_escaped():
    evil = "<script>alert(1)</script>"
    s = Session(
        id="2024-A-34-1025",
        fiscal_year=2024,
        course="A",
        region="中国",
        prefecture_code=34,
        prefecture="広島県",
        city=evil,
        lat=34.4,
        lon=132.45,
        first_day=dt.date(2024, 10, 25),
        last_day=dt.date(2024, 10, 25),
        start_time=None,
        end_time=None,
        venue=None,
        address=None,
        capacity=30,
        capacity_announced=False,
        status="scheduled",
        revision=0,
        registered=30,
        waitlisted=2,
        deadline=dt.date(2024, 10, 18),
        nearly_full_threshold=5,
    )
    svg = charts.seats_by_course_and_region([s], [evil])
    assert evil not in svg and "&lt;script&gt;" in svg
    assert 'fill="#c0392b"' in svg  # full: red
    empty = charts.registrations_over_time([])
    assert "No registrations yet" in empty


async def test_a_cancel_while_another_process_holds_the_lock_is_503_and_changes_nothing(client, catalog):
    """Schedule changes go through the catalog's writer like every other write: while the
    lock is held past the writer's budget the page answers 503 with Retry-After (not a
    500 from a locked database), and the session is as it was."""
    from catalog.writer import Writer
    from tests.test_db_busy import LockHolder

    token = await csrf(client, f"/admin/sessions/{A}/edit")
    catalog.writer = Writer(catalog.store, busy_timeout=0.05, budget=0.5)
    with LockHolder(catalog.store.path):
        resp = await client.post(
            f"/admin/sessions/{A}/cancel", data={"really": "1", "csrf": token}, allow_redirects=False
        )
        assert resp.status == 503 and resp.headers.get("Retry-After")
    assert row(catalog)["status"] != "cancelled"
    resp = await client.post(
        f"/admin/sessions/{A}/cancel", data={"really": "1", "csrf": token}, allow_redirects=False
    )
    assert resp.status == 303 and row(catalog)["status"] == "cancelled"
