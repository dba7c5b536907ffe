"""A representative and their colleagues (同行者) through the real Dispatcher, in Japanese
and English (issue 13 §2): /my shows them, the representative cancels one or all, cancels
their own seat with or without them, edits a colleague before the deadline; in the
dialogue a colleague twice is caught when typed, a colleague can be removed, and one team
of four is exactly four."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from bot.telegram.callbacks import DraftCB, MateCB, MyCB, RegCB, SessionCB
from catalog import colleagues as mates
from catalog import registrations as regs
from catalog.service import Catalog
from tests.conftest import ChatUser, fill
from tests.test_handlers import HIROSHIMA_A, set_profile

MATES = (("同行 二郎", "jiro@pref.hiroshima.lg.jp"), ("同行 三郎", "saburo@pref.hiroshima.lg.jp"))


async def apply(
    user: ChatUser,
    colleagues: tuple[tuple[str, str], ...] = MATES,
    *,
    name: str = "代表 一郎",
    email: str = "ichiro@pref.hiroshima.lg.jp",
    confirm: bool = True,
    action: str = "reg",
) -> None:
    """The dialogue up to the summary (and Confirm): the representative, then colleagues."""
    await user.press(SessionCB(id=HIROSHIMA_A, action=action).pack())
    for text in (name, "広島県庁"):
        await user.send(text)
    await user.press(RegCB(action="skip").pack())
    await user.send(email)
    for colleague, address in colleagues:
        await user.press(RegCB(action="add").pack())
        await user.send(colleague)
        await user.send(address)
    if confirm:
        await user.press(RegCB(action="done").pack())
        await user.press(RegCB(action="ok").pack())


def own(catalog: Catalog, user: ChatUser) -> regs.Registration:
    [app] = mates.applications_of(catalog, user.user.id)
    return app.own


def buttons_with(user: ChatUser, cls: Any, action: str) -> list[str]:
    return [
        d
        for _, d in user.buttons_all()
        if d and d.startswith(cls.__prefix__ + ":") and cls.unpack(d).action == action
    ]


async def test_my_shows_the_representative_and_each_colleague_with_status(
    user: ChatUser, catalog: Catalog
) -> None:
    await set_profile(user)
    await apply(user)
    await user.send("/my")
    text = user.text()
    assert "1. <b>10/25(金)</b> A 広島（広島県） — ✅ 申込済み" in text  # their own seat
    assert "👥 同行 二郎 — ✅ 申込済み" in text and "👥 同行 三郎 — ✅ 申込済み" in text
    await user.press(MyCB(action="show", reg=own(catalog, user).id).pack())
    assert "<b>同行者</b>" in user.text() and "• 同行 二郎 — ✅ 申込済み" in user.text()
    assert "👥 同行者（2名）" in user.buttons()


async def test_my_in_english(make_user: Any, catalog: Catalog) -> None:
    en = make_user(user_id=3301, language_code="en")
    await set_profile(en)
    fill(catalog, HIROSHIMA_A, 30)
    fill(catalog, HIROSHIMA_A, 1, waitlist=True, prefix="w")
    await apply(en, MATES[:1], action="wl")
    await en.send("/my")
    assert "1. <b>Fri 25 Oct</b> A Hiroshima — ⏳ waitlist place 2" in en.text()
    assert "👥 同行 二郎 — ⏳ waitlist place 3" in en.text()
    await en.press(MyCB(action="show", reg=own(catalog, en).id).pack())
    await en.press(MyCB(action="cancel", reg=own(catalog, en).id).pack())
    assert (
        "Cancel your own place for" in en.text()
        and "You also registered 1 colleague(s) in this application: 同行 二郎. Do they cancel too?"
        in en.text()
    )
    assert en.buttons()[:2] == [
        "🗑 Cancel me and my 1 colleague(s)",
        "🗑 Cancel only me (colleagues stay registered)",
    ]


async def test_cancelling_only_ones_own_seat_keeps_the_colleagues_in_my(
    user: ChatUser, catalog: Catalog
) -> None:
    await set_profile(user)
    await apply(user)
    mine = own(catalog, user)
    await user.press(MyCB(action="cancel", reg=mine.id).pack())
    assert "同行者が2名（同行 二郎, 同行 三郎）います。同行者の申込も取り消しますか？" in user.text()
    assert user.buttons()[:2] == ["🗑 自分と同行者2名を取り消す", "🗑 自分だけ取り消す（同行者は申込のまま）"]
    assert regs.get_registration(catalog, mine.id).status == "registered"  # asked, not done
    await user.click("自分だけ")
    assert "取り消しました: 代表 一郎。" in user.text() and "同行者の申込はそのままです" in user.text()
    assert b"METHOD:CANCEL" in user.sent("SendDocument")[0].document.data
    assert [r.status for r in regs.for_session(catalog, HIROSHIMA_A)] == ["registered"] * 2
    await user.send("/my")  # the colleagues did not vanish
    assert "（ご本人の申込は取り消し済み）" in user.text() and "👥 同行 二郎" in user.text()
    await user.click("1.")
    assert "• 同行 二郎 — ✅ 申込済み" in user.text()


async def test_cancelling_with_the_colleagues_frees_every_seat_and_promotes_each(
    make_user: Any, catalog: Catalog
) -> None:
    rep, w1, w2 = (
        make_user(user_id=3401),
        make_user(user_id=3402),
        make_user(user_id=3403, language_code="en"),
    )
    for u in (rep, w1, w2):
        await set_profile(u)
    fill(catalog, HIROSHIMA_A, 27)
    await apply(rep)  # the last three seats
    for u, name in ((w1, "待ち 一"), (w2, "Wait Two")):
        await u.press(SessionCB(id=HIROSHIMA_A, action="wl").pack())
        await u.send(name)
        await u.send("三原市役所")
        await u.press(RegCB(action="skip").pack())
        await u.send(f"{u.user.id}@city.mihara.lg.jp")
        await u.press(RegCB(action="done").pack())
        await u.press(RegCB(action="ok").pack())
    assert catalog.session(HIROSHIMA_A).waitlisted == 2
    mine = own(catalog, rep)
    await rep.press(MyCB(action="cancel", reg=mine.id).pack())
    await rep.click("自分と同行者2名")
    assert "取り消しました: 代表 一郎, 同行 二郎, 同行 三郎。" in rep.text()
    told = {r.chat_id for r in rep.last if type(r).__name__ == "SendMessage" and r.chat_id in (3402, 3403)}
    assert told == {3402, 3403}
    # the representative's answer is the edited list; the own seat's CANCEL and the two
    # promotions came from outbox rows queued with the cancels (each sent, once)
    to_rep = [type(r).__name__ for r in rep.last if getattr(r, "chat_id", None) == 3401]
    assert to_rep.count("SendDocument") == 1 and "SendMessage" not in to_rep
    await rep.dp.workflow_data["notifier"].idle()  # the sent marks are written after
    rows = catalog.store.query(
        "select kind, chat_id, result from notifications where "
        "channel = 'telegram' and kind != 'registered' and kind != "
        "'waitlisted' order by id"
    )
    assert [(r["kind"], r["chat_id"], r["result"]) for r in rows] == [
        ("cancelled", 3401, "sent"),
        ("promoted", 3402, "sent"),
        ("promoted", 3403, "sent"),
    ]
    s = catalog.session(HIROSHIMA_A)
    assert (s.registered, s.waitlisted) == (29, 0)
    await rep.send("/my")
    assert "まだ申込はありません。" in rep.text()


async def test_cancel_one_colleague_then_all(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user)
    await apply(user, (*MATES, ("同行 四郎", "shiro@pref.hiroshima.lg.jp")), confirm=False)
    await user.press(RegCB(action="done").pack())
    await user.press(RegCB(action="noteam").pack())
    await user.press(RegCB(action="ok").pack())
    mine = own(catalog, user)
    await user.press(MateCB(action="list", reg=mine.id).pack())
    await user.click("同行 三郎")
    assert "氏名: 同行 三郎" in user.text() and "saburo@pref.hiroshima.lg.jp" in user.text()
    await user.click("この同行者の申込を取り消す")
    assert "同行 三郎 さんの" in user.text() and "取り消しますか" in user.text()
    await user.click("はい、取り消します")
    assert "取り消しました: 同行 三郎。" in user.text()
    assert "• 同行 二郎" in user.text() and "• 同行 三郎" not in user.text()
    await user.click("同行者全員を取り消す")
    assert "同行者2名（同行 二郎, 同行 四郎）全員の申込を取り消しますか？" in user.text()
    await user.click("はい、取り消します")
    assert "取り消しました: 同行 二郎, 同行 四郎。" in user.text()
    [app] = mates.applications_of(catalog, user.user.id)
    assert app.own_active and app.colleagues == ()


async def test_change_a_colleagues_name_and_email_before_the_deadline(
    user: ChatUser, catalog: Catalog
) -> None:
    await set_profile(user)
    await apply(user)
    [app] = mates.applications_of(catalog, user.user.id)
    jiro = app.colleagues[0]
    await user.press(MateCB(action="show", reg=jiro.id).pack())
    await user.click("氏名を変更")
    assert "同行 二郎 さんの新しい氏名を入力してください。" in user.text()
    await user.send("同行 三郎")  # the other colleague's name: refused, asked again
    assert "すでに申込済みです" in user.text() and "もう一度入力してください" in user.text()
    await user.send("同行 次郎")
    assert "✅ 変更しました。" in user.text() and "氏名: 同行 次郎" in user.text()
    await user.click("メールアドレスを変更")
    await user.send("not-an-address")
    assert "メールアドレスの形式ではありません" in user.text()
    await user.send("jiro2@pref.hiroshima.lg.jp")
    after = regs.get_registration(catalog, jiro.id)
    assert (after.name, after.email) == ("同行 次郎", "jiro2@pref.hiroshima.lg.jp")
    assert after.sequence == jiro.sequence + 2


async def test_changes_close_with_the_deadline(user: ChatUser, catalog: Catalog, make_dp: Any) -> None:
    await set_profile(user)
    await apply(user)
    jiro = mates.applications_of(catalog, user.user.id)[0].colleagues[0]
    late = ChatUser(
        make_dp(today=catalog.session(HIROSHIMA_A).deadline + dt.timedelta(days=1)), user.bot, user.user.id
    )
    await late.press(MateCB(action="show", reg=jiro.id).pack())
    assert "締切（2024-10-18）まで" in late.text() and "氏名を変更" not in " ".join(late.buttons())
    await late.press(MateCB(action="name", reg=jiro.id).pack())  # an old button
    await late.send("遅い 名前")
    assert regs.get_registration(catalog, jiro.id).name == "同行 二郎"


async def test_another_users_registration_ids_are_refused(
    make_user: Any, catalog: Catalog, make_dp: Any, bot: Any
) -> None:
    alice = make_user(user_id=3501)
    mallory = ChatUser(make_dp(throttle_burst=0), bot, 3502)  # many presses in a row
    for u in (alice, mallory):
        await set_profile(u)
    await apply(alice)
    [app] = mates.applications_of(catalog, alice.user.id)
    ids = [app.own.id, *(m.id for m in app.colleagues)]
    forged = [
        MateCB(action=a, reg=i).pack()
        for a in ("list", "all", "allyes", "own", "ownall", "show", "cancel", "yes", "name", "email")
        for i in ids
    ] + [MateCB(action="yes", reg=999999).pack(), "mt:yes:abc", "mt", "rd:rm:0:zz"]
    for data in forged:
        await mallory.press(data)
        answers = mallory.answers()
        assert len(answers) == 1 and answers[0].text == "このボタンは期限切れです。", data
        assert mallory.sent("SendMessage") == [] and mallory.sent("EditMessageText") == [], data
    # the representative's own row is not a "colleague", a colleague's is not an application
    await alice.press(MateCB(action="yes", reg=app.own.id).pack())
    await alice.press(MateCB(action="allyes", reg=app.colleagues[0].id).pack())
    assert alice.answers()[0].text == "このボタンは期限切れです。"
    assert [r.status for r in regs.for_session(catalog, HIROSHIMA_A)] == ["registered"] * 3


async def test_a_stale_button_after_cancelling_is_expired(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user)
    await apply(user)
    jiro = mates.applications_of(catalog, user.user.id)[0].colleagues[0]
    await user.press(MateCB(action="yes", reg=jiro.id).pack())
    await user.press(MateCB(action="yes", reg=jiro.id).pack())
    assert user.answers()[0].text == "このボタンは期限切れです。"


# -- the dialogue -----------------------------------------------------------------------------


async def test_the_same_colleague_twice_is_caught_when_typed(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user)
    await apply(user, MATES[:1], confirm=False)
    await user.press(RegCB(action="add").pack())
    await user.send("同行　二郎")  # the same name (a full-width space)
    assert "同行 二郎 さんはすでにこの申込に含まれています。" in user.text()
    assert "もう一度入力してください" in user.text()
    await user.send("同行 花子")
    await user.send("ICHIRO@pref.hiroshima.lg.jp")  # the representative's own address
    assert "ご本人（代表者）" in user.text()
    await user.send("hanako@pref.hiroshima.lg.jp")
    assert "現在の人数: 3名" in user.text()
    await user.press(RegCB(action="done").pack())
    await user.press(RegCB(action="ok").pack())
    assert [r.name for r in regs.for_session(catalog, HIROSHIMA_A)] == [
        "代表 一郎",
        "同行 二郎",
        "同行 花子",
    ]  # nothing typed was lost


async def test_a_colleague_already_registered_for_the_session_is_caught_when_typed(
    user: ChatUser, catalog: Catalog
) -> None:
    await set_profile(user)
    fill(catalog, HIROSHIMA_A, 1, prefix="x")  # x0 <x0@example.lg.jp>
    await apply(user, (), confirm=False)
    await user.press(RegCB(action="add").pack())
    await user.send("同行 花子")
    await user.send("x0@example.lg.jp")
    assert "すでに申込済みです" in user.text()


async def test_in_english_too(make_user: Any) -> None:
    en = make_user(user_id=3601, language_code="en")
    await set_profile(en)
    await apply(en, MATES[:1], confirm=False)
    await en.press(RegCB(action="add").pack())
    await en.send("同行 二郎")
    assert "同行 二郎 is already in this application." in en.text()
    await en.press(RegCB(action="stop").pack())


async def test_a_colleague_can_be_removed_before_confirming(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user)
    await apply(user, confirm=False)
    assert "➖ 同行 二郎 さんを外す" in user.buttons()
    await user.click("同行 二郎 さんを外す")
    assert "同行 二郎 さんを申込から外しました。" in user.text() and "現在の人数: 2名" in user.text()
    await user.press(RegCB(action="done").pack())
    assert "同行者1: 同行 三郎" in user.text()
    await user.click("同行 三郎 さんを外す")  # from the summary too
    await user.press(RegCB(action="done").pack())
    await user.press(RegCB(action="ok").pack())
    assert [r.name for r in regs.for_session(catalog, HIROSHIMA_A)] == ["代表 一郎"]


async def test_a_stale_remove_button_removes_nobody_else(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user)
    await apply(user, confirm=False)
    [first, second] = buttons_with(user, DraftCB, "rm")
    await user.press(first)
    await user.press(first)  # the same button again: now index 0 is someone else
    assert user.answers()[0].text == "このボタンは期限切れです。"
    await user.press(second)  # index 1 no longer exists
    assert user.answers()[0].text == "このボタンは期限切れです。"
    await user.press(RegCB(action="done").pack())
    assert "同行者1: 同行 三郎" in user.text() and "同行 二郎" not in user.text()


async def test_one_team_of_four_is_exactly_four(user: ChatUser, catalog: Catalog) -> None:
    four = (*MATES, ("同行 四郎", "shiro@pref.hiroshima.lg.jp"))
    await set_profile(user)
    await apply(user, four, confirm=False)
    await user.press(RegCB(action="done").pack())
    await user.press(RegCB(action="team").pack())
    assert "4名で1チーム" in user.text()
    await user.click("同行 四郎 さんを外す")
    assert "4名1チームの申込ではなくなりました（現在3名）。" in user.text()
    await user.press(RegCB(action="done").pack())  # three: no team question, no team
    assert "4名で1チーム" not in user.text() and "申込内容の確認" in user.text()
    await user.press(RegCB(action="ok").pack())
    people = regs.for_session(catalog, HIROSHIMA_A)
    assert len(people) == 3 and {p.team_key for p in people} == {None}


async def test_a_team_of_four_back_to_four_is_asked_again(user: ChatUser, catalog: Catalog) -> None:
    four = (*MATES, ("同行 四郎", "shiro@pref.hiroshima.lg.jp"))
    await set_profile(user)
    await apply(user, four, confirm=False)
    await user.press(RegCB(action="done").pack())
    await user.press(RegCB(action="team").pack())
    await user.click("同行 四郎 さんを外す")
    await user.press(RegCB(action="add").pack())
    await user.send("同行 五郎")
    await user.send("goro@pref.hiroshima.lg.jp")
    await user.press(RegCB(action="done").pack())
    assert "1つのチーム" in user.text()
    await user.press(RegCB(action="team").pack())
    await user.press(RegCB(action="ok").pack())
    people = regs.for_session(catalog, HIROSHIMA_A)
    assert len(people) == 4 and len({p.team_key for p in people}) == 1 and people[0].team_key


@pytest.mark.parametrize("command", ["/my", "/start"])
async def test_a_command_mid_change_leaves_it_unsaved(user: ChatUser, catalog: Catalog, command: str) -> None:
    await set_profile(user)
    await apply(user)
    jiro = mates.applications_of(catalog, user.user.id)[0].colleagues[0]
    await user.press(MateCB(action="name", reg=jiro.id).pack())
    await user.send(command)
    await user.send("広島")  # a place search now, not a name
    assert regs.get_registration(catalog, jiro.id).name == "同行 二郎"


async def test_no_colleague_path_writes_on_the_event_loop(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user)
    await apply(user, (*MATES, ("同行 四郎", "shiro@pref.hiroshima.lg.jp")), confirm=False)
    await user.press(RegCB(action="done").pack())
    await user.press(RegCB(action="noteam").pack())
    await user.press(RegCB(action="ok").pack())
    catalog.store.loop_writes = "raise"  # a write transaction on the loop fails the update
    app = mates.applications_of(catalog, user.user.id)[0]
    jiro, saburo, _shiro = app.colleagues
    await user.press(MateCB(action="name", reg=jiro.id).pack())
    await user.send("同行 次郎")
    assert "✅ 変更しました。" in user.text()
    await user.press(MateCB(action="yes", reg=saburo.id).pack())
    await user.press(MateCB(action="allyes", reg=app.own.id).pack())
    await user.press(MateCB(action="own", reg=app.own.id).pack())
    assert "エラーが発生しました" not in user.text()
    assert mates.applications_of(catalog, user.user.id) == []
    assert regs.get_registration(catalog, jiro.id).name == "同行 次郎"
