"""The admin page's registration console over real HTTP: search, a registration's page and
history, cancel with a reason (the person told in chat, through the notification outbox:
the page queues and wakes the sender), move, promote, edit; CSRF kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.telegram.notify import Notifier
from bot.web.app import create_web_app
from bot.web.keys import BOT, NOTIFIER
from catalog import admin_sessions, audit
from catalog.clock import Clock
from catalog.registrations import Applicant, get_registration, register
from tests.conftest import MockedBot
from tests.test_admin_web import EARLY, EARLY_NOW, EVIL, TOKEN, csrf_of, fast_failures, sign_in  # noqa: F401

SESSION = "2024-A-13-0709"
OTHER = "2024-A-34-1025"
B2 = "2024-B-2-13-0115"


@pytest.fixture
def people(catalog):
    """A chat user (id 701), a phoned-in registrant, a markup name; a full session with a
    waitlist."""
    catalog.store.db.execute("update sessions set capacity = 3 where id = ?", [SESSION])
    catalog.store.db.conn.commit()
    out = {}
    for key, name, org, uid, email in [
        ("chat", "山田 太郎", "横浜市", 701, "taro@city.yokohama.lg.jp"),
        ("phone", "佐藤 花子", "川崎市", None, ""),
        ("evil", EVIL, "千葉市", None, ""),
        ("waiting", "鈴木 一郎", "相模原市", 702, ""),
    ]:
        out[key] = register(
            catalog,
            SESSION,
            [Applicant(name, org, "local", email=email)],
            today=EARLY,
            now=EARLY_NOW,
            user_id=uid,
            waitlist=key == "waiting",
        ).registrations[0]
    register(catalog, OTHER, [Applicant("山田 次郎", "広島市", "local")], today=EARLY, now=EARLY_NOW)
    return out


@pytest.fixture
def bot():
    return MockedBot()


class Sender(Notifier):
    """The bot's sender, counting how often the page woke it."""

    woken = 0

    def wake(self, *, everything: bool = False) -> None:
        self.woken += 1
        super().wake(everything=everything)


@pytest.fixture
def sender(catalog, tmp_path: Path):
    settings = Settings(db_path=tmp_path / "t.db", organizer_email="office@cyder.example.org")
    return Sender(catalog, settings, Clock(EARLY))


@pytest.fixture
async def client(catalog, people, bot, sender, tmp_path: Path):
    settings = Settings(
        db_path=tmp_path / "t.db", admin_token=TOKEN, organizer_email="office@cyder.example.org"
    )
    app = create_web_app(settings, catalog, Clock(EARLY))
    app[BOT] = bot
    app[NOTIFIER] = sender
    c = TestClient(TestServer(app))
    await c.start_server()
    await sign_in(c)
    yield c
    await c.close()


async def page(client, path):
    resp = await client.get(path)
    assert resp.status == 200, (path, resp.status)
    return await resp.text()


async def post(client, rid, action, **data):
    text = await page(client, f"/admin/registrations/{rid}")
    return await client.post(
        f"/admin/registrations/{rid}/{action}", data={"csrf": csrf_of(text), **data}, allow_redirects=False
    )


def ids_in(text):
    return [int(i) for i in re.findall(r'data-registration="(\d+)"', text)]


async def test_search_across_sessions_by_name_organisation_or_email(client, people):
    text = await page(client, "/admin/registrations?q=山田")
    assert len(ids_in(text)) == 2  # one in each session
    assert f'href="/admin/registrations/{people["chat"].id}"' in text
    text = await page(client, "/admin/registrations?q=yokohama.lg.jp")
    assert ids_in(text) == [people["chat"].id]
    text = await page(client, "/admin/registrations?q=川崎")
    assert ids_in(text) == [people["phone"].id]
    text = await page(client, f"/admin/registrations?session={SESSION}")
    assert ids_in(text) == [people[k].id for k in ("chat", "phone", "evil", "waiting")]
    assert EVIL not in text and "&lt;script&gt;alert(&#39;x&#39;)" in text
    text = await page(client, "/admin/registrations?q=存在しない人")
    assert "no-results" in text
    resp = await client.get("/admin/registrations?session=2024-X-00")
    assert resp.status == 400 and "2024-X-00" in await resp.text()
    home = await page(client, "/admin")
    assert 'action="/admin/registrations"' in home  # the search box on the home page


async def test_cancel_with_a_reason_tells_the_person_and_shows_in_the_history(
    client, people, catalog, bot, sender
):
    reg = people["chat"]
    resp = await post(client, reg.id, "cancel", reason="重複申込のため")
    assert resp.status == 303
    assert resp.headers["Location"] == f"/admin/registrations/{reg.id}?done=cancelled&chats=2"
    assert get_registration(catalog, reg.id).status == "cancelled"
    assert get_registration(catalog, people["waiting"].id).status == "registered"
    # queued with the cancel, for the sender the page woke (not sent by the page itself)
    assert sender.woken == 1 and bot.requests == []
    assert (await sender.deliver_due(bot))["sent"] == 2  # the mail: skipped (no SMTP)

    sent = [(type(r).__name__, r.chat_id) for r in bot.requests]
    assert ("SendMessage", 701) in sent and ("SendDocument", 701) in sent
    assert ("SendMessage", 702) in sent  # the promoted person, through the promotion sender
    told = next(r for r in bot.requests if type(r).__name__ == "SendMessage" and r.chat_id == 701)
    assert "取り消しました" in told.text and "理由：重複申込のため" in told.text

    text = await page(client, resp.headers["Location"])
    assert "取り消しました。/ Cancelled." in text and "Queued for 2 chat(s)" in text
    assert 'id="cancel-form"' not in text  # nothing left to cancel
    history = text[text.index('id="history"') :]
    assert "理由: 重複申込のため" in history and "取消 / cancelled" in history
    key = admin_sessions.active(catalog.store, EARLY_NOW)[0].key
    assert f"管理画面 ({key})" in history

    session_page = await page(client, f"/admin/sessions/{SESSION}")
    section = session_page[session_page.index('id="session-history"') :]
    assert "理由: 重複申込のため" in section and "繰上げ / promoted" in section


async def test_posts_need_the_csrf_token_and_a_reason(client, people, catalog):
    reg = people["phone"]
    resp = await client.post(
        f"/admin/registrations/{reg.id}/cancel", data={"reason": "x"}, allow_redirects=False
    )
    assert resp.status == 403
    resp = await post(client, reg.id, "cancel", reason="   ")
    assert resp.status == 400 and "取消の理由を入力してください" in await resp.text()
    assert get_registration(catalog, reg.id).status == "registered"
    assert audit.recent(catalog.store) == []
    client.session.cookie_jar.clear()
    resp = await client.post(
        f"/admin/registrations/{reg.id}/cancel", data={"reason": "x"}, allow_redirects=False
    )
    assert resp.status == 401
    resp = await client.get(f"/admin/registrations/{reg.id}", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/login"


async def test_move_promote_and_edit(client, people, catalog, bot, sender):
    reg = people["chat"]
    resp = await post(client, reg.id, "move", session=B2)  # B-2 is not for local governments
    assert resp.status == 400 and "地方公共団体" in await resp.text()
    resp = await post(client, reg.id, "move", session=OTHER)
    assert resp.status == 303 and "done=moved" in resp.headers["Location"]
    assert get_registration(catalog, reg.id).session_id == OTHER
    await sender.deliver_due(bot)
    docs = [r for r in bot.requests if type(r).__name__ == "SendDocument" and r.chat_id == 701]
    assert len(docs) == 2  # the old copy's cancel, the new invite
    # the freed seat went to the waitlist by itself; make another waiting person by hand
    waiting = register(
        catalog,
        SESSION,
        [Applicant("高橋 次郎", "横浜市", "local")],
        today=EARLY,
        now=EARLY_NOW,
        waitlist=True,
    ).registrations[0]
    resp = await post(client, waiting.id, "promote")
    assert resp.status == 400 and "空席がありません" in await resp.text()
    catalog.store.db.execute("update sessions set capacity = 4 where id = ?", [SESSION])
    catalog.store.db.conn.commit()
    assert 'id="promote-submit"' in await page(client, f"/admin/registrations/{waiting.id}")
    resp = await post(client, waiting.id, "promote")
    assert resp.status == 303 and get_registration(catalog, waiting.id).status == "registered"

    phone = people["phone"]
    form = {"name": "佐藤 花子", "organisation": "川崎市", "department": "", "email": "bad@"}
    resp = await post(client, phone.id, "edit", **form)
    text = await resp.text()
    assert resp.status == 400 and "メールアドレスの形式ではありません" in text
    assert 'value="bad@"' in text  # what staff typed is kept
    resp = await post(
        client, phone.id, "edit", **{**form, "email": "hanako@city.kawasaki.jp", "department": "情報管理課"}
    )
    assert resp.status == 303 and "done=edited" in resp.headers["Location"]
    after = get_registration(catalog, phone.id)
    assert (after.email, after.department) == ("hanako@city.kawasaki.jp", "情報管理課")
    text = await page(client, resp.headers["Location"])
    assert "メール: &#39;&#39; → &#39;hanako@city.kawasaki.jp&#39;" in text
    resp = await post(
        client, phone.id, "edit", **{**form, "email": "hanako@city.kawasaki.jp", "department": "情報管理課"}
    )
    assert "done=unchanged" in resp.headers["Location"]
    assert [e.action for e in audit.for_registration(catalog.store, phone.id)] == ["edited"]


async def test_unknown_registration_is_404(client):
    assert (await client.get("/admin/registrations/9999")).status == 404
    text = await page(client, "/admin/registrations/1")
    resp = await client.post("/admin/registrations/9999/cancel", data={"csrf": csrf_of(text), "reason": "x"})
    assert resp.status == 404
