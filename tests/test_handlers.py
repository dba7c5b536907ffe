"""Chat handlers driven through the real Dispatcher with a recording Bot session:
start, language, profile, courses, finding sessions and the session card."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from bot.telegram.callbacks import CourseCB, FindCB, LangCB, MenuCB, ProfileCB, SessionCB
from catalog import users
from catalog.service import Catalog
from tests.conftest import BOT_USERNAME, ChatUser, fill

HIROSHIMA_A = "2024-A-34-1025"
TOKYO_B1 = "2024-B-1-13-1009"


async def set_profile(user: ChatUser, org: str = "local", work: str | None = "staff", pref: int = 34) -> None:
    await user.press(ProfileCB(step="o", value=org).pack())
    if work:
        await user.press(ProfileCB(step="w", value=work).pack())
    await user.press(ProfileCB(step="f", value=str(pref)).pack())


def result_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"^\d+\. ", line)]


async def test_start_in_japanese(user: ChatUser) -> None:
    await user.send("/start")
    assert "こんにちは" in user.text()
    assert "🔎 開催回を探す" in user.buttons()
    assert len(user.sent("SendMessage")) == 1


async def test_start_in_english_for_non_japanese_telegram(make_user: Any) -> None:
    for code in ("en", "de", None):
        u = make_user(user_id=2000 + len(str(code)), language_code=code)
        await u.send("/start")
        assert "Hello Taro" in u.text()
        assert "🔎 Find sessions" in u.buttons()


async def test_lang_switch_is_remembered(user: ChatUser, catalog: Catalog) -> None:
    await user.send("/lang")
    assert {"日本語", "English"} <= set(user.buttons())
    await user.press(LangCB(lang="en").pack())
    assert "Language set: English." in user.text()
    assert users.get_user(catalog.store, user.user.id).lang == "en"  # type: ignore[union-attr]
    await user.send("/help")
    assert "How to use this bot" in user.text()
    await user.press(LangCB(lang="ja").pack())
    assert "言語を日本語にしました" in user.text()


async def test_help_and_unknown_text(user: ChatUser) -> None:
    await user.send("/help")
    assert "/find" in user.text() and "/forget" in user.text()
    await user.send("qwxzv plover")
    assert "よくわかりませんでした" in user.text()
    await user.send("/nosuchcommand")
    assert "よくわかりませんでした" in user.text()


async def test_deep_link_opens_the_card(user: ChatUser, catalog: Catalog) -> None:
    await user.send(f"/start {HIROSHIMA_A}")
    text = user.text()
    assert "Aコース" in text and "2024年10月25日(金)" in text and "広島" in text
    assert "🕘 時間: 未発表" in text and "🏢 会場: 未発表" in text
    assert "○ 空席あり（残り30席）" in text
    assert "申込締切: 2024年10月18日(金)" in text
    assert "プロフィールを設定すると" in text  # no profile yet: no verdict invented
    buttons = user.buttons_all()
    assert any("申し込む" in t for t, _ in buttons)
    markup = user.keyboard()
    assert markup is not None
    urls = [b.url for row in markup.inline_keyboard for b in row if b.url]
    assert any(f"t.me%2F{BOT_USERNAME}%3Fstart%3D{HIROSHIMA_A}" in u for u in urls)


async def test_deep_link_to_unknown_session(user: ChatUser) -> None:
    await user.send("/start 2024-Z-99-0101")
    assert "無効" in user.text()
    assert "🔎 開催回を探す" in user.buttons()


async def test_profile_asked_when_first_needed_then_find_continues(user: ChatUser, catalog: Catalog) -> None:
    await user.press(MenuCB(action="find").pack())
    org_names = [t.name_ja for t in catalog.rules.org_types.values()]
    assert user.buttons() == org_names
    await user.click("地方公共団体")
    assert "派遣" in user.text()
    await user.click("派遣労働者")
    await user.click("中国")
    await user.click("広島県")
    record = users.get_user(catalog.store, user.user.id)
    assert record is not None
    assert (record.org_type, record.dispatched, record.contractor, record.prefecture_code) == (
        "local",
        True,
        False,
        34,
    )
    assert "開催回を探す" in user.text()  # carried on with the search
    assert "北海道" in user.buttons()


async def test_private_company_skips_the_work_question_and_can_edit(user: ChatUser, catalog: Catalog) -> None:
    await user.press(ProfileCB(step="o", value="private").pack())
    assert "地域を選び" in user.text()
    await user.press(ProfileCB(step="f", value="0").pack())
    await user.send("/profile")
    assert "民間企業" in user.text() and "未設定" in user.text()
    assert "❌ B-1: 対象外" in user.text() and "77,000円" in user.text()
    await user.click("変更")
    await user.click("国の機関")
    record = users.get_user(catalog.store, user.user.id)
    assert record is not None and record.org_type == "national"


async def test_course_cards_show_eligibility_and_fee(user: ChatUser) -> None:
    await set_profile(user, org="private", work=None)
    await user.press(MenuCB(action="courses").pack())
    assert any(b.startswith("❌") and "B-1" in b for b in user.buttons())
    await user.press(CourseCB(code="C").pack())
    text = user.text()
    assert "準上級" in text and "121,000円" in text
    await user.press(CourseCB(code="B-1").pack())
    assert "対象外" in user.text()


async def test_find_by_region_and_prefecture_only_eligible(user: ChatUser) -> None:
    await set_profile(user)  # local government, Hiroshima
    await user.press(FindCB(kind="p", key="34").pack())
    lines = result_lines(user.text())
    assert len(lines) == 2 and all("広島" in line for line in lines)
    # Kanto as a region: B-2 (not for local governments) is hidden unless asked for all
    await user.press(FindCB(kind="r", key="2").pack())
    assert "B-2" not in "\n".join(result_lines(user.text()))
    await user.click("すべての回を表示")
    pages_text = user.text()
    assert "すべての回" in pages_text


async def test_find_all_includes_ineligible_course(user: ChatUser) -> None:
    await set_profile(user)
    await user.press(FindCB(kind="a", course="B-2", every=1).pack())
    lines = result_lines(user.text())
    assert lines and all(" B-2 " in line for line in lines)
    await user.press(FindCB(kind="a", course="B-2").pack())
    # not an empty list without a reason: why, and the course of that level one may take
    assert "B-2コースは地方公共団体以外の方が対象です" in user.text()
    assert "🔎 B-1コースの開催回" in user.buttons()


async def test_typed_place_finds_nearby(user: ChatUser) -> None:
    await set_profile(user)
    for query in ("広島", "hiroshima", "ひろしま"):
        await user.send(query)
        lines = result_lines(user.text())
        assert lines, query
        assert "広島" in lines[0] and "広島" in lines[1]
    await user.send("倉吉")
    assert "倉吉の近くの開催回" in user.text()
    lines = result_lines(user.text())
    assert "倉吉" in lines[0] and "0 km" in lines[0]


async def test_shared_location_lists_nearest_with_km(user: ChatUser) -> None:
    await set_profile(user)
    await user.press(MenuCB(action="near").pack())
    reply = user.sent("SendMessage")[0].reply_markup
    assert reply.keyboard[0][0].request_location is True
    await user.location(34.3853, 132.4553)  # Hiroshima
    assert "位置情報を受け取りました" in user.text()
    lines = result_lines(user.text())
    kms = [
        int(re.search(r"· ([\d,]+) km", line).group(1).replace(",", ""))  # type: ignore[union-attr]
        for line in lines
    ]
    assert kms == sorted(kms) and kms[0] <= 2
    assert "広島" in lines[0]


async def test_course_filter(user: ChatUser) -> None:
    await set_profile(user)
    await user.press(FindCB(kind="a").pack())
    await user.click("C")
    lines = result_lines(user.text())
    assert lines and all(" C " in line for line in lines)
    assert "Cコース" in user.text() or "コース" in user.text()


async def test_pagination_stays_within_telegram_limits(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user)
    cb = FindCB(kind="a", every=1, year=1)
    seen: list[str] = []
    for _ in range(30):
        await user.press(cb.pack())
        for r in user.last:
            if getattr(r, "text", None):
                assert len(r.text) <= 4096
        markup = user.keyboard()
        assert markup is not None
        assert sum(len(row) for row in markup.inline_keyboard) <= 100
        for row in markup.inline_keyboard:
            for b in row:
                assert len((b.callback_data or "").encode()) <= 64
                if b.callback_data and b.callback_data.startswith("s:"):
                    seen.append(SessionCB.unpack(b.callback_data).id)
        nxt = [b for row in markup.inline_keyboard for b in row if "次へ" in b.text]
        if not nxt:
            break
        cb = FindCB.unpack(nxt[0].callback_data)  # type: ignore[arg-type]
    assert len(seen) == len(set(seen)) == len(catalog.all_sessions())


async def test_nothing_upcoming_offers_the_whole_year(make_dp: Any, bot: Any) -> None:
    dp = make_dp(today=dt.date(2025, 3, 1))
    u = ChatUser(dp, bot, 3003)
    await set_profile(u)
    await u.press(FindCB(kind="p", key="34").pack())
    assert "今後の開催回がありません" in u.text()
    await u.click("年度全体")
    lines = result_lines(u.text())
    assert len(lines) == 2 and all("（終了）" in line for line in lines)


async def test_card_seat_marks_and_waitlist(user: ChatUser, catalog: Catalog) -> None:
    await set_profile(user)
    fill(catalog, HIROSHIMA_A, 26)
    await user.press(SessionCB(id=HIROSHIMA_A).pack())
    assert "△ 残りわずか（残り4席）" in user.text()
    fill(catalog, HIROSHIMA_A, 4, prefix="q")
    fill(catalog, HIROSHIMA_A, 2, waitlist=True, prefix="w")
    await user.press(SessionCB(id=HIROSHIMA_A).pack())
    assert "× 満席（キャンセル待ち 2名）" in user.text()
    assert "⏳ キャンセル待ちに登録" in user.buttons()
    assert "✍️ 申し込む" not in user.buttons()


async def test_card_after_deadline_is_closed(make_dp: Any, bot: Any) -> None:
    dp = make_dp(today=dt.date(2024, 10, 21))
    u = ChatUser(dp, bot, 3004)
    await set_profile(u)
    await u.press(SessionCB(id=HIROSHIMA_A).pack())
    assert "🔒 申込は2024年10月18日(金)で締め切りました。" in u.text()
    assert not any("申し込む" in b or "キャンセル待ち" in b for b in u.buttons())
    assert "📅 カレンダーに追加" in u.buttons()


async def test_card_in_english_with_verdict(make_user: Any) -> None:
    u = make_user(user_id=4001, language_code="en")
    await set_profile(u, org="private", work=None)
    await u.press(SessionCB(id=TOKYO_B1).pack())
    text = u.text()
    assert "Course B-1" in text and "not announced" in text
    assert "❌ Not for you" in text
    assert "✍️ Register" not in u.buttons()


async def test_add_to_calendar_sends_an_ics_file(user: ChatUser) -> None:
    await user.press(SessionCB(id=HIROSHIMA_A, action="ics").pack())
    docs = user.sent("SendDocument")
    assert len(docs) == 1
    data = docs[0].document.data
    assert b"BEGIN:VCALENDAR" in data and b"METHOD:PUBLISH" in data
    assert docs[0].document.filename.endswith(".ics")


async def test_unknown_place_suggests_names(user: ChatUser) -> None:
    await user.send("ひろしめ")
    text = user.text()
    assert "よくわかりませんでした" in text
    assert "もしかして" in text


async def test_group_chatter_is_ignored(user: ChatUser) -> None:
    from aiogram.types import Chat

    user.chat = Chat(id=-100123, type="supergroup")
    await user.send("広島で飲み会しましょう")
    assert user.last == []


async def test_deep_link_in_english(make_user: Any) -> None:
    u = make_user(user_id=4100, language_code="en-US")
    await u.send(f"/start {HIROSHIMA_A}")
    assert "Course A" in u.text() and "Fri 25 Oct 2024" in u.text()
    assert "Apply by: Fri 18 Oct 2024" in u.text()
    assert "✍️ Register" in u.buttons()


async def test_find_menu_offers_home_prefecture_first(user: ChatUser) -> None:
    await set_profile(user, pref=31)  # Tottori
    await user.press(MenuCB(action="find").pack())
    assert user.buttons()[0] == "🏠 鳥取県とその周辺"
    await user.click("鳥取県とその周辺")
    lines = result_lines(user.text())
    assert "倉吉" in lines[0]
    assert "鳥取県とその周辺の開催回" in user.text()


@pytest.mark.parametrize(("lat", "lon"), [(123.0, 132.0), (34.0, -181.0), (-90.5, 0.0)])
@pytest.mark.parametrize("lang", ["ja", "en"])
async def test_forged_location_out_of_range_gets_a_friendly_answer(
    make_dp: Any, bot: Any, lat: float, lon: float, lang: str
) -> None:
    user = ChatUser(make_dp(), bot, 7301, language_code=lang)
    sent = await user.location(lat, lon)
    texts = [m.text for m in sent if type(m).__name__ == "SendMessage"]
    assert len(texts) == 1
    assert ("位置情報" in texts[0]) if lang == "ja" else ("location" in texts[0].lower())
    assert "sorry" not in texts[0].lower() and "申し訳" not in texts[0]  # not the error apology
