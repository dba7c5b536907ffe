"""The admin page over real HTTP (aiohttp test server): sign-in, CSRF, 401s, escaping."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import openpyxl
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.web import admin as admin_web
from bot.web.app import create_web_app
from catalog import teams
from catalog.clock import JST, Clock
from catalog.registrations import Applicant, register

TOKEN = "s3cret-admin-token-for-tests"
SESSION = "2024-A-13-0709"
EARLY = dt.date(2024, 6, 1)
EARLY_NOW = dt.datetime(2024, 6, 1, 10, 0, tzinfo=JST)
EVIL = "<script>alert('x')</script>"
PEOPLE = [
    (EVIL, "横浜市"),
    ("山田 太郎", "川崎市"),
    ("佐藤 花子", "東京都庁"),
    ("鈴木 一郎", "千葉市"),
    ("高橋 次郎", "横浜市"),
]


@pytest.fixture(autouse=True)
def fast_failures(monkeypatch):
    monkeypatch.setattr(admin_web, "FAILED_SIGN_IN_DELAY", 0.0)


@pytest.fixture
def registered(catalog):
    for name, org in PEOPLE:
        register(catalog, SESSION, [Applicant(name, org, "local")], today=EARLY, now=EARLY_NOW)
    return catalog


async def make_client(catalog, tmp_path: Path, token: str | None = TOKEN) -> TestClient:
    settings = Settings(db_path=tmp_path / "t.db", admin_token=token)
    app = create_web_app(settings, catalog, Clock(EARLY))
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def client(registered, tmp_path):
    c = await make_client(registered, tmp_path)
    yield c
    await c.close()


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


async def sign_in(client: TestClient, token: str = TOKEN):
    page = await client.get("/admin/login")
    assert page.status == 200
    return await client.post(
        "/admin/login", data={"token": token, "csrf": csrf_of(await page.text())}, allow_redirects=False
    )


def admin_paths() -> list[tuple[str, str]]:
    """Every admin route, with sample values for its placeholders."""
    app = create_web_app(Settings(admin_token=TOKEN), None, Clock())  # type: ignore[arg-type]
    out = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter", "")
        if not path.startswith("/admin") or route.method == "HEAD":
            continue
        path = path.replace("{session_id}", SESSION).replace("{fmt}", "csv")
        path = path.replace("{registration_id}", "1")
        if "{action}" in path:  # the registration console's changes: one route, four actions
            out += [
                (route.method, path.replace("{action}", a)) for a in ("cancel", "move", "promote", "edit")
            ]
            continue
        out.append((route.method, path))
    return out


def test_every_admin_route_is_listed():
    paths = admin_paths()
    assert ("GET", "/admin") in paths and ("POST", f"/admin/sessions/{SESSION}/teams") in paths
    assert ("GET", f"/admin/sessions/{SESSION}/roster.csv") in paths
    assert len(paths) >= 7


async def test_without_a_session_every_admin_url_is_401_or_a_redirect_to_sign_in(client):
    for method, path in admin_paths():
        if path == "/admin/login":
            continue
        resp = await client.request(method, path, allow_redirects=False)
        if resp.status == 303:
            assert resp.headers["Location"] == "/admin/login", path
            assert method == "GET"
        else:
            assert resp.status == 401, (method, path, resp.status)


async def test_forged_or_tampered_cookie_is_not_a_session(client):
    from itsdangerous import URLSafeTimedSerializer

    await sign_in(client)
    jar = client.session.cookie_jar
    good = jar.filter_cookies(client.make_url("/admin"))["cyder_admin"].value
    assert (await client.get("/admin", allow_redirects=False)).status == 200
    forged = URLSafeTimedSerializer("guess", salt="cyder-admin-session").dumps({"sid": "x", "auth": True})
    for value in (good[:-2] + ("xx" if not good.endswith("xx") else "yy"), forged):
        jar.clear()
        jar.update_cookies({"cyder_admin": value}, client.make_url("/admin"))
        resp = await client.get("/admin", allow_redirects=False)
        assert resp.status == 303


async def test_admin_disabled_without_token(registered, tmp_path):
    c = await make_client(registered, tmp_path, token=None)
    try:
        for path in ("/admin", "/admin/login", f"/admin/sessions/{SESSION}"):
            resp = await c.get(path, allow_redirects=False)
            assert resp.status == 401
            assert "ADMIN_TOKEN" in await resp.text()
        resp = await c.post("/admin/login", data={"token": ""}, allow_redirects=False)
        assert resp.status == 401
    finally:
        await c.close()


async def test_wrong_token_is_refused(client):
    resp = await sign_in(client, "not-the-token")
    assert resp.status == 401
    assert "Wrong admin token" in await resp.text()
    assert (await client.get("/admin", allow_redirects=False)).status == 303


async def test_sign_in_needs_the_forms_csrf_token(client):
    await client.get("/admin/login")
    resp = await client.post("/admin/login", data={"token": TOKEN}, allow_redirects=False)
    assert resp.status == 403
    resp = await client.post("/admin/login", data={"token": TOKEN, "csrf": "forged"}, allow_redirects=False)
    assert resp.status == 403
    assert (await client.get("/admin", allow_redirects=False)).status == 303


async def test_sign_in_sets_a_strict_httponly_cookie_and_no_token_in_urls(client):
    resp = await sign_in(client)
    assert resp.status == 303 and resp.headers["Location"] == "/admin"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    assert TOKEN not in cookie
    page = await client.get("/admin")
    html = await page.text()
    assert page.status == 200 and TOKEN not in html and TOKEN not in str(page.url)
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


async def test_sessions_list_shows_counts(client, registered):
    await sign_in(client)
    html = await (await client.get("/admin")).text()
    row = re.search(rf'<tr class="" data-session="{SESSION}">(.*?)</tr>', html, re.S)
    assert row, "the session's row"
    assert '<td class="num registered">5</td>' in row.group(1)
    assert '<td class="num waitlisted">0</td>' in row.group(1)
    assert len(re.findall(r"data-session=", html)) == len(registered.all_sessions(True))


async def test_session_page_escapes_database_text(client):
    await sign_in(client)
    html = await (await client.get(f"/admin/sessions/{SESSION}")).text()
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert EVIL not in html


async def test_forming_teams_needs_a_valid_csrf_token(client, registered):
    await sign_in(client)
    page = await client.get(f"/admin/sessions/{SESSION}")
    token = csrf_of(await page.text())
    url = f"/admin/sessions/{SESSION}/teams"
    assert (await client.post(url, data={}, allow_redirects=False)).status == 403
    assert (await client.post(url, data={"csrf": token + "x"}, allow_redirects=False)).status == 403
    foreign = await client.post(
        url, data={"csrf": token}, allow_redirects=False, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status == 403
    assert teams.current_teams(registered, SESSION) == []
    ok = await client.post(url, data={"csrf": token}, allow_redirects=False)
    assert ok.status == 303 and ok.headers["Location"] == f"/admin/sessions/{SESSION}?formed=1"
    formed = teams.current_teams(registered, SESSION)
    assert formed and sum(len(t.members) for t in formed) == len(PEOPLE)
    html = await (await client.get(ok.headers["Location"])).text()
    assert 'id="formed"' in html and 'data-team="1"' in html


async def test_csrf_token_of_another_session_is_refused(client, registered, tmp_path):
    await sign_in(client)
    other = await make_client(registered, tmp_path)
    try:
        await sign_in(other)
        theirs = csrf_of(await (await other.get(f"/admin/sessions/{SESSION}")).text())
    finally:
        await other.close()
    resp = await client.post(f"/admin/sessions/{SESSION}/teams", data={"csrf": theirs}, allow_redirects=False)
    assert resp.status == 403


async def test_downloads(client):
    await sign_in(client)
    resp = await client.get(f"/admin/sessions/{SESSION}/roster.csv")
    assert resp.status == 200
    assert f'filename="roster-{SESSION}.csv"' in resp.headers["Content-Disposition"]
    body = await resp.read()
    assert body.startswith(b"\xef\xbb\xbf")
    names = [r["氏名"] for r in csv.DictReader(io.StringIO(body.decode("utf-8-sig")))]
    assert names == [p[0] for p in PEOPLE]
    resp = await client.get(f"/admin/sessions/{SESSION}/roster.xlsx")
    wb = openpyxl.load_workbook(io.BytesIO(await resp.read()))
    assert "山田 太郎" in [c.value for row in wb.active.iter_rows() for c in row]
    assert (await client.get("/admin/sessions/2099-X-01-0101")).status == 404


async def test_sign_out_ends_the_session(client):
    await sign_in(client)
    html = await (await client.get("/admin")).text()
    resp = await client.post("/admin/logout", data={"csrf": csrf_of(html)}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/login"
    assert (await client.get("/admin", allow_redirects=False)).status == 303


async def test_an_old_copy_of_the_cookie_is_useless_after_sign_out(client):
    """Signing out ends the session on the server, not only in this browser."""
    await sign_in(client)
    stolen = {c.key: c.value for c in client.session.cookie_jar}
    roster = f"/admin/sessions/{SESSION}/roster.csv"
    assert (await client.get(roster)).status == 200
    html = await (await client.get("/admin")).text()
    await client.post("/admin/logout", data={"csrf": csrf_of(html)}, allow_redirects=False)
    client.session.cookie_jar.update_cookies(stolen)  # the copy an attacker kept
    assert (await client.get(roster, allow_redirects=False)).status == 401
    assert (await client.get("/admin", allow_redirects=False)).status == 303


async def test_signed_in_browsers_are_listed_and_can_be_signed_out(registered, tmp_path):
    a, b = await make_client(registered, tmp_path), await make_client(registered, tmp_path)
    try:
        await sign_in(a)
        await sign_in(b)
        page = await (await a.get("/admin/signins")).text()
        keys = re.findall(r'data-key="([0-9a-f]+)"', page)
        assert len(keys) == 2 and "この端末 / this browser" in page
        mine = re.search(r"<code>([0-9a-f]+)</code> （この端末", page).group(1)  # type: ignore[union-attr]
        [other] = [k for k in keys if k != mine]
        resp = await a.post(
            "/admin/signins/revoke", data={"key": other, "csrf": csrf_of(page)}, allow_redirects=False
        )
        assert resp.status == 303
        assert (await b.get("/admin", allow_redirects=False)).status == 303  # b is signed out
        assert (await a.get("/admin", allow_redirects=False)).status == 200  # a is not
    finally:
        await a.close()
        await b.close()


async def test_five_wrong_tokens_pause_sign_in_from_that_address(client):
    for _ in range(5):
        assert (await sign_in(client, "wrong")).status == 401
    resp = await sign_in(client)  # even the right token waits now
    assert resp.status == 429
    text = await resp.text()
    assert "一時的に止めています" in text and "Try again in about 10 minute" in text


async def test_parallel_guesses_cannot_slip_past_the_limit(client, monkeypatch):
    import asyncio

    monkeypatch.setattr(admin_web, "FAILED_SIGN_IN_DELAY", 0.2)  # guesses overlap in flight
    page = await client.get("/admin/login")
    csrf = csrf_of(await page.text())
    results = await asyncio.gather(
        *[
            client.post("/admin/login", data={"token": f"guess{i}", "csrf": csrf}, allow_redirects=False)
            for i in range(30)
        ]
    )
    statuses = [r.status for r in results]
    assert statuses.count(401) == 5 and statuses.count(429) == 25


def test_sign_in_guard_forgets_old_failures():
    now = [0.0]
    guard = admin_web.SignInGuard(attempts=5, window=600, clock=lambda: now[0])
    for t in range(5):
        now[0] = float(t)
        guard.failed("1.2.3.4")
    assert guard.refused_for("1.2.3.4") == pytest.approx(600.0 - 4.0)
    assert guard.refused_for("5.6.7.8") == 0.0
    now[0] = 600.5  # the first failure has aged out: four left in the window
    assert guard.refused_for("1.2.3.4") == 0.0
    guard.succeeded("1.2.3.4")
    assert guard.failures == {}


async def test_reloading_the_sign_in_form_keeps_an_open_forms_token_valid(client):
    first = csrf_of(await (await client.get("/admin/login")).text())
    await client.get("/admin/login")  # a second tab
    resp = await client.post("/admin/login", data={"token": TOKEN, "csrf": first}, allow_redirects=False)
    assert resp.status == 303


async def test_staff_move_is_kept_when_teams_are_re_formed(client, registered):
    for name in ("追加 一", "追加 二", "追加 三"):
        register(registered, SESSION, [Applicant(name, "船橋市", "local")], today=EARLY, now=EARLY_NOW)
    await sign_in(client)
    token = csrf_of(await (await client.get(f"/admin/sessions/{SESSION}")).text())
    await client.post(f"/admin/sessions/{SESSION}/teams", data={"csrf": token})
    formed = teams.current_teams(registered, SESSION)
    assert len(formed) == 2
    who = formed[0].members[0].registration_id
    url = f"/admin/sessions/{SESSION}/move"
    assert (
        await client.post(url, data={"registration": str(who), "team": "2"}, allow_redirects=False)
    ).status == 403  # no CSRF token
    bad = await client.post(url, data={"csrf": token, "registration": str(who), "team": "9"})
    assert bad.status == 400 and "チーム" in await bad.text()
    # team 2 has four already: the move is refused with the reason and a confirm step
    refused = await client.post(
        url, data={"csrf": token, "registration": str(who), "team": "2"}, allow_redirects=False
    )
    html = await refused.text()
    assert refused.status == 409 and 'id="confirm-move"' in html
    assert "team 2 would have 5 people" in html and "5名" in html
    assert 'name="force" value="1"' in html
    assert [len(t.members) for t in teams.current_teams(registered, SESSION)] == [4, 4]
    ok = await client.post(
        url,
        data={"csrf": csrf_of(html), "registration": str(who), "team": "2", "force": "1"},
        allow_redirects=False,
    )
    assert ok.status == 303
    page = await (await client.get(f"/admin/sessions/{SESSION}?moved=1")).text()
    assert 'data-team="2" data-exception="1"' in page and "例外 / exception" in page
    assert "a team of 5" in page  # also in the roster's team exception column
    await client.post(f"/admin/sessions/{SESSION}/teams", data={"csrf": token})
    after = {m.registration_id: t.number for t in teams.current_teams(registered, SESSION) for m in t.members}
    assert after[who] == 2


async def test_a_move_within_the_rules_needs_no_confirmation(client, registered):
    for name in ("追加 一", "追加 二"):
        register(registered, SESSION, [Applicant(name, f"{name}市", "local")], today=EARLY, now=EARLY_NOW)
    await sign_in(client)
    token = csrf_of(await (await client.get(f"/admin/sessions/{SESSION}")).text())
    await client.post(f"/admin/sessions/{SESSION}/teams", data={"csrf": token})
    formed = teams.current_teams(registered, SESSION)
    assert [len(t.members) for t in formed] == [4, 3]
    who = next(m.registration_id for m in formed[0].members if m.organisation != "横浜市")
    ok = await client.post(
        f"/admin/sessions/{SESSION}/move",
        allow_redirects=False,
        data={"csrf": token, "registration": str(who), "team": "2"},
    )
    assert ok.status == 303
    assert [len(t.members) for t in teams.current_teams(registered, SESSION)] == [3, 4]
    huge = await client.post(
        f"/admin/sessions/{SESSION}/move", data={"csrf": token, "registration": "9" * 20, "team": "1"}
    )
    assert huge.status == 400


async def test_all_rosters_in_one_workbook(client, registered):
    assert (await client.get("/admin/rosters.xlsx", allow_redirects=False)).status == 401
    await sign_in(client)
    resp = await client.get("/admin/rosters.xlsx")
    assert resp.status == 200
    wb = openpyxl.load_workbook(io.BytesIO(await resp.read()))
    assert any(SESSION in name for name in wb.sheetnames)
