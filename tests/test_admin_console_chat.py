"""The registration console in chat (/registrations, /cancel_reg, /move_reg, /promote_reg)
through the real Dispatcher, and the audit entries of chat users' own changes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.config import Settings
from catalog import audit
from catalog.clock import JST
from catalog.registrations import Applicant, get_registration, register
from catalog.users import save_user

ADMIN = 5001
STRANGER = 5002
SESSION = "2024-A-13-0709"
OTHER = "2024-A-34-1025"
EARLY = dt.date(2024, 6, 1)
EARLY_NOW = dt.datetime(2024, 6, 1, 10, 0, tzinfo=JST)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(bot_token="42:TEST", db_path=tmp_path / "t.db", admin_ids=frozenset({ADMIN}))


@pytest.fixture
def people(catalog):
    save_user(catalog.store, 102, EARLY_NOW, lang="en")
    catalog.store.db.execute("update sessions set capacity = 2 where id = ?", [SESSION])
    catalog.store.db.conn.commit()
    out = []
    for name, org, uid in [
        ("山田 太郎", "横浜市", 101),
        ("Jane <Doe>", "川崎市", 102),
        ("佐藤 花子", "東京都庁", None),
    ]:
        out.append(
            register(
                catalog,
                SESSION,
                [Applicant(name, org, "local")],
                today=EARLY,
                now=EARLY_NOW,
                user_id=uid,
                waitlist=True,
            ).registrations[0]
        )
    return out


def to_staff(staff):
    return "\n".join(r.text for r in staff.last if type(r).__name__ == "SendMessage" and r.chat_id == ADMIN)


@pytest.fixture
def staff(make_user):
    return make_user(ADMIN)


@pytest.mark.parametrize(
    "command", ["/registrations 山田", "/cancel_reg 1 x", f"/move_reg 1 {OTHER}", "/promote_reg 3"]
)
async def test_only_staff_may(make_user, people, catalog, command):
    stranger = make_user(STRANGER)
    await stranger.send(command)
    assert stranger.text() == "⛔ この操作は許可されていません。"
    assert get_registration(catalog, 1).status == "registered"
    assert audit.recent(catalog.store) == []


async def test_find_by_text_or_session(staff, people):
    await staff.send("/registrations 山田")
    text = staff.text()
    assert f"#{people[0].id}" in text and "山田 太郎" in text and "横浜市" in text
    assert "#2" not in text
    await staff.send(f"/registrations {SESSION}")
    text = staff.text()
    assert "Jane &lt;Doe&gt;" in text and "キャンセル待ち1" in text and "<b>申込</b>：3件" in text
    await staff.send("/registrations 該当なし")
    assert staff.text() == "該当する申込はありません。"
    await staff.send("/registrations")
    assert "/registrations" in staff.text()


async def test_cancel_with_reason_tells_the_person_in_their_language(staff, people, catalog, bot):
    jane, waiting = people[1], people[2]
    await staff.send(f"/cancel_reg {jane.id}")
    assert "/cancel_reg" in staff.text()  # a reason is required
    await staff.send(f"/cancel_reg {jane.id} 重複申込")
    text = to_staff(staff)
    assert text.startswith("✅ 取り消しました") and "Jane &lt;Doe&gt;" in text
    assert f"キャンセル待ちから繰上げ：<code>#{waiting.id}</code>" in text
    assert "チャットでのお知らせ1件を送信待ちに入れました" in text  # the colleague has no chat
    # staff's answer is all the command sends: Jane is told by the outbox's sender (woken)
    assert {r.chat_id for r in staff.last} == {ADMIN}
    notifier = staff.dp.workflow_data["notifier"]
    assert await notifier.deliver_due(bot) == {"sent": 1}
    told = [r for r in bot.requests if getattr(r, "chat_id", None) == 102]
    assert [type(r).__name__ for r in told] == ["SendMessage", "SendDocument"]
    assert "The CYDER office has cancelled your registration" in told[0].text
    assert "Reason: 重複申込" in told[0].text
    assert await notifier.deliver_due(bot) == {}  # once
    entry = audit.for_registration(catalog.store, jane.id)[0]
    assert (entry.who, entry.via, entry.staff, entry.details["reason"]) == (
        str(ADMIN),
        "chat",
        True,
        "重複申込",
    )
    await staff.send(f"/cancel_reg {jane.id} again")
    assert staff.text().startswith("❌") and "すでにキャンセル" in staff.text()


async def test_move_and_promote(staff, people, catalog):
    taro, _jane, waiting = people
    await staff.send(f"/move_reg {taro.id} 2024-B-2-13-0115")
    assert staff.text().startswith("❌") and "地方公共団体" in staff.text()
    await staff.send(f"/move_reg {taro.id} {OTHER}")
    assert to_staff(staff).startswith(f"✅ {SESSION} から変更しました")
    assert get_registration(catalog, taro.id).session_id == OTHER
    assert get_registration(catalog, waiting.id).status == "registered"  # got the freed seat
    await staff.send(f"/promote_reg {waiting.id}")
    assert "キャンセル待ちではありません" in staff.text()
    await staff.send("/promote_reg abc")
    assert "/promote_reg" in staff.text()


async def test_chat_users_own_registration_cancel_and_forget_are_logged(user, catalog):
    """The real dialogue: registering, cancelling in /my and /forget each leave an entry."""
    from bot.telegram.callbacks import ForgetCB, MyCB, RegCB
    from tests.test_handlers import HIROSHIMA_A, set_profile
    from tests.test_handlers_registration import register as register_in_chat

    uid = user.user.id
    await set_profile(user)
    await register_in_chat(user)
    await user.press(RegCB(action="ok").pack())
    reg = next(r for r in catalog.store.query("select id from registrations where user_id = ?", [uid]))
    await user.press(MyCB(action="yes", reg=reg["id"]).pack())
    assert get_registration(catalog, reg["id"]).status == "cancelled"
    log = list(reversed(audit.for_registration(catalog.store, reg["id"])))
    assert [(e.action, e.who, e.via, e.staff, e.session_id) for e in log] == [
        ("registered", str(uid), "chat", False, HIROSHIMA_A),
        ("cancelled", str(uid), "chat", False, HIROSHIMA_A),
    ]
    assert log[0].details["source"] == "chat"

    await user.send("/forget")
    await user.press(ForgetCB(action="yes").pack())
    rows = catalog.store.query("select who, details, action from audit_log order by id")
    assert [r["action"] for r in rows] == ["registered", "cancelled", "forgotten"]
    assert {r["who"] for r in rows} == {audit.DELETED_USER}
    assert "山田" not in str(rows) and "hiroshima.lg.jp" not in str(rows)
