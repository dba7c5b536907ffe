"""The registration dialogue, /my, waitlist promotion and /forget, through the Dispatcher."""

from __future__ import annotations

from typing import Any

from bot.telegram.callbacks import ForgetCB, MyCB, RegCB, SessionCB
from catalog import registrations as regs
from catalog import users
from catalog.service import Catalog
from tests.conftest import ChatUser, fill
from tests.test_handlers import HIROSHIMA_A, TOKYO_B1, set_profile


async def register(
    user: ChatUser,
    session_id: str = HIROSHIMA_A,
    *,
    name: str = "山田 太郎",
    email: str = "taro@pref.hiroshima.lg.jp",
    action: str = "reg",
) -> None:
    await user.press(SessionCB(id=session_id, action=action).pack())
    await user.send(name)
    await user.send("広島県庁")
    await user.press(RegCB(action="skip").pack())
    await user.send(email)
    if RegCB(action="done").pack() in [d for _, d in user.buttons_all()]:
        await user.press(RegCB(action="done").pack())


async def test_happy_path_saves_only_on_confirm_and_sends_invite(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user)
    await register(user)
    assert "申込内容の確認" in user.text() and "山田 太郎" in user.text()
    assert regs.for_user(catalog, user.user.id) == []  # nothing saved before confirming
    await user.press(RegCB(action="ok").pack())
    assert "申込が完了しました" in user.text()
    mine = regs.for_user(catalog, user.user.id)
    assert [(r.session_id, r.status, r.email, r.org_type) for r in mine] == [
        (HIROSHIMA_A, "registered", "taro@pref.hiroshima.lg.jp", "local")
    ]
    doc = user.sent("SendDocument")[0]
    assert b"METHOD:REQUEST" in doc.document.data
    assert b"office@cyder.example.org" in doc.document.data
    # the confirm button is single-use
    await user.press(RegCB(action="ok").pack())
    assert "期限切れ" in user.answers()[0].text
    assert len(regs.for_user(catalog, user.user.id)) == 1


async def test_user_text_is_escaped(user: ChatUser) -> None:
    await set_profile(user)
    await register(user, name="<b>Bob</b> & co")
    assert "&lt;b&gt;Bob&lt;/b&gt; &amp; co" in user.text()
    assert "<b>Bob</b>" not in user.text()


async def test_invalid_email_and_overlong_name_are_refused(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user)
    await user.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
    await user.send("あ" * 300)
    assert "氏名が長すぎます" in user.text()
    await user.send("山田 太郎")
    await user.send("広島県庁")
    await user.send("総務課")
    await user.send("not-an-email")
    assert "メールアドレスの形式ではありません" in user.text()
    await user.send("taro@example.lg.jp")
    assert "同行者" in user.text()
    assert regs.for_user(catalog, user.user.id) == []


async def test_overlong_message_is_refused_anywhere(user: ChatUser) -> None:
    await user.send("x" * 1500)
    assert "長すぎます（1500文字）" in user.text()


async def test_cancel_mid_dialogue_saves_nothing(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user)
    await user.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
    await user.send("山田 太郎")
    await user.send("/cancel")
    assert "中止しました。何も保存していません。" in user.text()
    await user.send("taro@example.lg.jp")  # no longer in the dialogue: a place search
    assert "よくわかりませんでした" in user.text()
    assert regs.for_user(catalog, user.user.id) == []


async def test_ineligible_user_is_refused_with_the_reason(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user, org="private", work=None)
    await user.press(SessionCB(id=TOKYO_B1, action="reg").pack())
    assert "申し込めません" in user.text() and "地方公共団体" in user.text()
    await user.send("山田 太郎")  # not in a dialogue
    assert "よくわかりませんでした" in user.text()
    assert regs.for_session(catalog, TOKYO_B1) == []


async def test_contractor_pays_dispatched_is_free(user: ChatUser, make_user: Any) -> None:
    await set_profile(user, work="cont")
    await user.press(SessionCB(id=HIROSHIMA_A).pack())
    assert "77,000円" in user.text()
    other = make_user(user_id=1002)
    await set_profile(other, work="disp")
    await other.press(SessionCB(id=HIROSHIMA_A).pack())
    assert "無料" in other.text()


async def test_duplicate_registration_is_refused(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user)
    await register(user)
    await user.press(RegCB(action="ok").pack())
    await user.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
    assert "すでに申込済み" in user.text()
    assert len(regs.for_session(catalog, HIROSHIMA_A)) == 1


async def test_profile_first_then_registration_continues(user: ChatUser) -> None:
    await user.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
    assert "所属組織" in user.text()
    await set_profile(user)
    assert "お名前" in user.text()


async def test_full_session_offers_waitlist(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user)
    fill(catalog, HIROSHIMA_A, 30)
    await user.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
    assert "満席です" in user.text()
    assert "⏳ キャンセル待ちに登録" in user.buttons()
    await register(user, action="wl")
    assert "キャンセル待ちとしての登録です" in user.text()
    await user.press(RegCB(action="ok").pack())
    assert "キャンセル待ちに登録しました（1番目）" in user.text()
    assert user.sent("SendDocument") == []
    [mine] = regs.for_user(catalog, user.user.id)
    assert (mine.status, mine.position) == ("waitlisted", 1)


async def test_seat_taken_while_filling_in_offers_waitlist(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user)
    fill(catalog, HIROSHIMA_A, 29)
    await register(user)
    fill(catalog, HIROSHIMA_A, 1, prefix="late")
    await user.press(RegCB(action="ok").pack())
    assert "空席が足りません" in user.text() and "キャンセル待ち" in user.text()
    await user.press(RegCB(action="ok").pack())
    [mine] = regs.for_user(catalog, user.user.id)
    assert mine.status == "waitlisted"


async def test_colleagues_as_one_team(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user)
    await user.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
    for text in ("代表 一郎", "広島県庁", "情報政策課", "ichiro@pref.hiroshima.lg.jp"):
        await user.send(text)
    for i in range(3):
        await user.press(RegCB(action="add").pack())
        await user.send(f"同行 {i}")
        await user.send(f"c{i}@pref.hiroshima.lg.jp")
    assert "現在の人数: 4名" in user.text()
    await user.press(RegCB(action="done").pack())
    assert "1つのチーム" in user.text()
    await user.press(RegCB(action="team").pack())
    assert "同行者3: 同行 2" in user.text() and "4名で1チーム" in user.text()
    await user.press(RegCB(action="ok").pack())
    people = regs.for_session(catalog, HIROSHIMA_A)
    assert len(people) == 4
    assert len({p.team_key for p in people}) == 1 and people[0].team_key
    assert [p.user_id for p in people] == [user.user.id, None, None, None]


async def test_colleagues_limited_to_seats_left(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user)
    fill(catalog, HIROSHIMA_A, 28)  # two seats left
    await user.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
    for text in ("代表 一郎", "広島県庁", "情報政策課", "ichiro@pref.hiroshima.lg.jp"):
        await user.send(text)
    await user.press(RegCB(action="add").pack())
    await user.send("同行 花子")
    await user.send("hanako@pref.hiroshima.lg.jp")
    assert "➕ 同行者を追加" not in user.buttons()
    await user.press(RegCB(action="add").pack())  # forged: no room
    assert "期限切れ" in user.answers()[0].text


async def test_my_cancel_with_confirmation_promotes_the_waitlist(make_user: Any, catalog: Catalog) -> None:
    alice, bob = make_user(user_id=5001), make_user(user_id=5002, language_code="en")
    for u in (alice, bob):
        await set_profile(u)
    fill(catalog, HIROSHIMA_A, 29)
    await register(alice, email="alice@pref.hiroshima.lg.jp")
    await alice.press(RegCB(action="ok").pack())
    await register(bob, action="wl", name="Bob", email="bob@pref.hiroshima.lg.jp")
    await bob.press(RegCB(action="ok").pack())
    await alice.send("/my")
    assert "申込済み" in alice.text()
    [reg] = regs.for_user(catalog, alice.user.id)
    await alice.press(MyCB(action="show", reg=reg.id).pack())
    await alice.press(MyCB(action="cancel", reg=reg.id).pack())
    assert "取り消しますか" in alice.text()
    assert regs.get_registration(catalog, reg.id).status == "registered"  # not yet
    await alice.press(MyCB(action="yes", reg=reg.id).pack())
    assert "取り消しました" in alice.text()
    cancel_doc = [r for r in alice.last if type(r).__name__ == "SendDocument"][0]
    assert b"METHOD:CANCEL" in cancel_doc.document.data
    told = [r for r in alice.last if type(r).__name__ == "SendMessage" and r.chat_id == 5002]
    assert len(told) == 1 and "a seat became free" in told[0].text
    [bobs] = regs.for_user(catalog, bob.user.id)
    assert bobs.status == "registered"


async def test_my_calendar_file_again(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user)
    await register(user)
    await user.press(RegCB(action="ok").pack())
    [reg] = regs.for_user(catalog, user.user.id)
    await user.press(MyCB(action="ics", reg=reg.id).pack())
    assert b"METHOD:REQUEST" in user.sent("SendDocument")[0].document.data


async def test_forged_buttons_change_nothing(make_user: Any, catalog: Catalog) -> None:
    alice, mallory = make_user(user_id=6001), make_user(user_id=6002)
    await set_profile(alice)
    await register(alice)
    await alice.press(RegCB(action="ok").pack())
    [reg] = regs.for_user(catalog, alice.user.id)
    for data in (
        MyCB(action="yes", reg=reg.id).pack(),
        MyCB(action="show", reg=reg.id).pack(),
        MyCB(action="yes", reg=999999).pack(),
        SessionCB(id="2024-Z-99-0101", action="reg").pack(),
        SessionCB(id="2024-Z-99-0101").pack(),
        "s",
        "garbage:data",
        "f:zz:1:::0",
        "f:p:99::0:0:0",
        "p:o:nobody",
        "p:f:99",
        "c:Z",
        "rg:99",
        "r:ok",
    ):
        await mallory.press(data)
        answers = mallory.answers()
        assert len(answers) == 1, data
        assert answers[0].text == "このボタンは期限切れです。", data
        assert mallory.sent("SendMessage") == [] and mallory.sent("EditMessageText") == [], data
    assert regs.get_registration(catalog, reg.id).status == "registered"
    assert users.get_user(catalog.store, mallory.user.id) is None


async def test_forget_deletes_profile_and_registrations(make_user: Any, catalog: Catalog) -> None:
    alice, bob = make_user(user_id=7001), make_user(user_id=7002)
    for u in (alice, bob):
        await set_profile(u)
    fill(catalog, HIROSHIMA_A, 29)
    await register(alice)
    await alice.press(RegCB(action="ok").pack())
    await register(bob, action="wl", name="Bob", email="bob@pref.hiroshima.lg.jp")
    await bob.press(RegCB(action="ok").pack())
    await alice.send("/forget")
    assert "削除" in alice.text()
    await alice.press(ForgetCB(action="no").pack())
    assert users.get_user(catalog.store, alice.user.id) is not None
    await alice.send("/forget")
    await alice.press(ForgetCB(action="yes").pack())
    assert "削除しました" in alice.text()
    assert users.get_user(catalog.store, alice.user.id) is None
    assert regs.for_user(catalog, alice.user.id, include_cancelled=True) == []
    assert all(r.name != "山田 太郎" for r in regs.for_session(catalog, HIROSHIMA_A))
    told = [r for r in alice.last if type(r).__name__ == "SendMessage" and r.chat_id == 7002]
    assert len(told) == 1 and "繰り上がり" not in told[0].text and "空席" in told[0].text


async def test_failed_promotion_message_is_logged_not_raised(
    make_user: Any, catalog: Catalog, bot: Any
) -> None:
    from aiogram.exceptions import TelegramForbiddenError
    from aiogram.methods import SendMessage

    alice, bob = make_user(user_id=8001), make_user(user_id=8002)
    for u in (alice, bob):
        await set_profile(u)
    fill(catalog, HIROSHIMA_A, 29)
    await register(alice)
    await alice.press(RegCB(action="ok").pack())
    await register(bob, action="wl", name="Bob", email="bob@pref.hiroshima.lg.jp")
    await bob.press(RegCB(action="ok").pack())
    [reg] = regs.for_user(catalog, alice.user.id)
    # answer to the edit, the cancel file, then Bob blocked the bot
    import datetime as dt

    from aiogram.types import Chat, Message

    msg = Message(message_id=1, date=dt.datetime.now(dt.UTC), chat=Chat(id=8001, type="private"))
    bot.session.queued = [
        msg,
        msg,
        TelegramForbiddenError(SendMessage(chat_id=8002, text="x"), "Forbidden: bot was blocked"),
    ]
    await alice.press(MyCB(action="yes", reg=reg.id).pack())
    assert "取り消しました" in alice.text()
    [bobs] = regs.for_user(catalog, bob.user.id)
    assert bobs.status == "registered"


async def test_start_mid_dialogue_starts_over(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user)
    await user.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
    await user.send("山田 太郎")
    await user.send("/start")
    assert "こんにちは" in user.text()
    await user.press(RegCB(action="ok").pack())
    assert "期限切れ" in user.answers()[0].text
    assert regs.for_user(catalog, user.user.id) == []


async def test_other_commands_mid_dialogue_leave_it_and_run(
    user: ChatUser, catalog: Catalog, make_user: Any
) -> None:
    await set_profile(user)
    await user.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
    await user.send("/my")  # not taken as the name
    assert "申込を中止しました。何も保存していません。" in user.text()
    assert "まだ申込はありません" in user.text()  # and /my ran
    await user.send("山田 太郎")  # no longer in the dialogue: a place search
    assert "よくわかりませんでした" in user.text()
    # the same at a later step, with /find and with a command nobody knows
    await user.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
    await user.send("山田 太郎")
    await user.send("/find")
    assert "申込を中止しました" in user.text() and "開催回を探す" in user.text()
    await user.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
    await user.send("/whatever")
    assert "申込を中止しました" in user.text()
    await user.press(RegCB(action="ok").pack())
    assert "期限切れ" in user.answers()[0].text
    assert regs.for_user(catalog, user.user.id) == []
    other = make_user(2002, "en")  # in English
    await set_profile(other)
    await other.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
    await other.send("/my")
    assert "Registration stopped. Nothing was saved." in other.text()


async def test_colleague_promotion_is_told_to_the_representative(make_user: Any, catalog: Catalog) -> None:
    from catalog.registrations import Applicant
    from tests.util_catalog import NOW

    alice, carol, bob = (make_user(user_id=i) for i in (7101, 7102, 7103))
    fill(catalog, HIROSHIMA_A, 28)
    for u in (alice, carol):
        regs.register(
            catalog,
            HIROSHIMA_A,
            [Applicant(f"U{u.user.id}", "Org", "local", email=f"u{u.user.id}@example.lg.jp")],
            today=NOW.date(),
            now=NOW,
            user_id=u.user.id,
        )
    team = [
        Applicant("Bob", "Bob Org", "local", email="bob@example.lg.jp"),
        Applicant("Colleague", "Bob Org", "local", email="col@example.lg.jp"),
    ]
    regs.register(catalog, HIROSHIMA_A, team, today=NOW.date(), now=NOW, user_id=bob.user.id, waitlist=True)
    for u in (alice, carol):
        [reg] = regs.for_user(catalog, u.user.id)
        await u.press(MyCB(action="yes", reg=reg.id).pack())
        told = [r for r in u.last if type(r).__name__ == "SendMessage" and r.chat_id == 7103]
        assert len(told) == 1, u.user.id
    assert [r.status for r in regs.for_session(catalog, HIROSHIMA_A) if r.organisation == "Bob Org"] == [
        "registered",
        "registered",
    ]


async def test_second_application_can_reuse_the_details(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user)
    await register(user, name="<i>Taro</i>")
    await user.press(RegCB(action="ok").pack())
    await user.press(SessionCB(id="2024-B-1-34-1029", action="reg").pack())
    [(label, data)] = [(t, d) for t, d in user.buttons_all() if d == RegCB(action="reuse").pack()]
    assert "<i>Taro</i>, 広島県庁" in label  # button text is plain, not HTML
    await user.press(data)  # type: ignore[arg-type]
    await user.press(RegCB(action="done").pack())
    assert "&lt;i&gt;Taro&lt;/i&gt;" in user.text() and "taro@pref.hiroshima.lg.jp" in user.text()
    await user.press(RegCB(action="ok").pack())
    assert sorted(r.session_id for r in regs.for_user(catalog, user.user.id)) == [
        HIROSHIMA_A,
        "2024-B-1-34-1029",
    ]


async def test_the_email_question_promises_mail_only_when_mail_is_on(settings: Any, catalog: Catalog) -> None:
    import dataclasses

    from bot.telegram.factory import create_dispatcher
    from catalog.clock import Clock
    from tests.conftest import MockedBot
    from tests.util_catalog import NOW

    for mail_on, said in ((False, "このボットからメールは送りません"), (True, "カレンダー招待")):
        s = dataclasses.replace(settings, smtp_host="127.0.0.1" if mail_on else None)
        user = ChatUser(
            create_dispatcher(s, catalog, Clock(pinned=NOW.date())), MockedBot(), user_id=2000 + mail_on
        )
        await set_profile(user)
        await user.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
        await user.send("山田 太郎")
        await user.send("広島県庁")
        await user.press(RegCB(action="skip").pack())
        assert said in user.text()
