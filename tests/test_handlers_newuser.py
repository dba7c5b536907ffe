"""Issue 12: the chat as a new user meets it. Each numbered point of the issue, through the
real Dispatcher, in Japanese and in English where text is involved; the issue's examples
are the test cases, word for word."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from icalendar import Calendar

from bot.telegram.callbacks import CourseCB, FindCB, MenuCB, RegCB, SessionCB
from catalog import registrations as regs
from catalog.service import Catalog
from tests.conftest import ChatUser
from tests.test_handlers import HIROSHIMA_A, TOKYO_B1, result_lines, set_profile

CLOSED_DAY = dt.date(2024, 10, 21)  # CYDER_TODAY=2024-10-21: 10/25 広島 closed on 10/18
HIROSHIMA_B1 = "2024-B-1-34-1029"


def english(make_user: Any, user_id: int) -> ChatUser:
    return make_user(user_id=user_id, language_code="en")  # type: ignore[no-any-return]


def urls(user: ChatUser) -> list[str]:
    markup = user.keyboard()
    assert markup is not None
    return [b.url for row in markup.inline_keyboard for b in row if b.url]


# -- 1. 呉市 is echoed as 呉市 (U+5449), never the variant 吳市 (U+5433) ------------------------


@pytest.mark.parametrize("query", ["呉市", "広島県呉市"])
async def test_1_kure_is_echoed_in_the_standard_form(user: ChatUser, query: str) -> None:
    await set_profile(user)
    await user.send(query)
    text = user.text()
    assert "呉市の近くの開催回" in text
    assert "吳" not in text and "吳" not in " ".join(user.buttons())
    assert "広島" in result_lines(text)[0]


async def test_1_kure_in_english(make_user: Any) -> None:
    u = english(make_user, 4201)
    await set_profile(u)
    await u.send("広島県呉市")  # an address: was "did you mean 吳市"
    assert "Sessions near Kure" in u.text() and "吳" not in u.text()


# -- 2. 省略 / skip leave the department empty ---------------------------------------------------


async def _to_department(user: ChatUser) -> None:
    await set_profile(user)
    await user.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
    await user.send("山田 太郎")
    await user.send("広島市役所")


@pytest.mark.parametrize("word", ["省略", "なし", "-"])
async def test_2_skip_words_leave_the_department_empty(user: ChatUser, catalog: Catalog, word: str) -> None:
    await _to_department(user)
    assert "省略" in user.buttons()
    await user.send(word)
    assert "メールアドレス" in user.text()
    await user.send("taro@city.hiroshima.lg.jp")
    await user.press(RegCB(action="done").pack())
    assert "部署: —" in user.text() and f"部署: {word}" not in user.text()
    await user.press(RegCB(action="ok").pack())
    [mine] = regs.for_user(catalog, user.user.id)
    assert mine.department == ""


@pytest.mark.parametrize("word", ["skip", "Skip", "none"])
async def test_2_skip_in_english(make_user: Any, catalog: Catalog, word: str) -> None:
    u = english(make_user, 4202)
    await _to_department(u)
    await u.send(word)
    await u.send("taro@city.hiroshima.lg.jp")
    await u.press(RegCB(action="done").pack())
    assert "Department: —" in u.text()
    await u.press(RegCB(action="ok").pack())
    assert regs.for_user(catalog, u.user.id)[0].department == ""


async def test_2_a_real_department_is_kept(user: ChatUser, catalog: Catalog) -> None:
    await _to_department(user)
    await user.send("情報政策課")
    await user.send("taro@city.hiroshima.lg.jp")
    await user.press(RegCB(action="done").pack())
    assert "部署: 情報政策課" in user.text()


# -- 3. closed sessions under 「受講できる回のみ」, and the card's verdict ----------------------------


async def test_3_closed_session_is_marked_and_last_under_mine(make_dp: Any, bot: Any) -> None:
    u = ChatUser(make_dp(today=CLOSED_DAY), bot, 4301)
    await set_profile(u)  # local government, Hiroshima
    await u.press(FindCB(kind="p", key="34").pack())
    text = u.text()
    assert "受講できる回のみ" in text
    lines = result_lines(text)
    assert len(lines) == 2
    assert "10/29" in lines[0] and lines[0].split()[1].startswith("○")  # B-1, still open
    assert "10/25" in lines[1] and "（締切）" in lines[1]
    assert not lines[1].split()[1].startswith("○") and "×" in lines[1]
    assert "× 満席または締切" in text


async def test_3_closed_card_says_closed_not_you_may_attend(make_dp: Any, bot: Any) -> None:
    u = ChatUser(make_dp(today=CLOSED_DAY), bot, 4302)
    await set_profile(u)
    await u.press(SessionCB(id=HIROSHIMA_A).pack())
    text = u.text()
    assert "🔒 申込は2024年10月18日(金)で締め切りました。" in text
    assert "✅ 受講できます" not in text and "○" not in text
    assert "💺 座席: × 申込締切" in text
    assert "🔒 この開催回の申込は締め切りました。もう申し込めません。" in text


async def test_3_closed_in_english_and_inline(make_dp: Any, bot: Any) -> None:
    u = ChatUser(make_dp(today=CLOSED_DAY), bot, 4303, language_code="en")
    await set_profile(u)
    await u.press(SessionCB(id=HIROSHIMA_A).pack())
    assert "✅ You may attend" not in u.text()
    assert "Applications for this session are closed" in u.text()
    await u.press(FindCB(kind="p", key="34").pack())
    lines = result_lines(u.text())
    assert "(applications closed)" in lines[-1] and "25 Oct" in lines[-1]
    await u.inline("広島")
    [answer] = u.sent("AnswerInlineQuery")
    closed = next(r for r in answer.results if r.id == HIROSHIMA_A)
    assert closed.title.startswith("×")
    assert "closed" in closed.input_message_content.message_text


# -- 4. a verdict's reason and fee agree (the chat side; the CLI in test_cli_catalog) -----------


async def test_4_ineligible_course_shows_no_fee(user: ChatUser, make_user: Any) -> None:
    await set_profile(user, org="national", work="staff")
    await user.send("/profile")
    assert "❌ B-1: 対象外" in user.text()
    # the calendar file for a course one may not take said 受講料: 無料
    await user.press(SessionCB(id=TOKYO_B1, action="ics").pack())
    [doc] = user.sent("SendDocument")
    desc = str(Calendar.from_ical(doc.document.data).walk("VEVENT")[0]["DESCRIPTION"])
    assert "受講料: 対象外" in desc and "受講料: 無料" not in desc
    u = english(make_user, 4401)
    await set_profile(u, org="national", work="staff")
    await u.press(SessionCB(id=TOKYO_B1, action="ics").pack())
    [doc] = u.sent("SendDocument")
    desc = str(Calendar.from_ical(doc.document.data).walk("VEVENT")[0]["DESCRIPTION"])
    assert "Fee: Not eligible" in desc and "Fee: Free" not in desc


# -- 5. B-1's calendar text names only its own organisations -----------------------------------


@pytest.mark.parametrize(
    ("lang", "free", "absent"),
    [
        ("ja", "無料: 地方公共団体", "民間企業"),
        ("en", "free for local government", "private company"),
    ],
)
async def test_5_b1_calendar_names_only_local_governments(
    make_user: Any, lang: str, free: str, absent: str
) -> None:
    u = make_user(user_id=4500 + len(lang), language_code=lang)
    await u.press(SessionCB(id=TOKYO_B1, action="ics").pack())
    [doc] = u.sent("SendDocument")
    desc = str(Calendar.from_ical(doc.document.data).walk("VEVENT")[0]["DESCRIPTION"])
    assert free in desc
    assert absent not in desc and "77,000" not in desc


# -- 6. the fee said once, in one sentence -------------------------------------------------------


async def test_6_contractor_fee_sentence_once(user: ChatUser) -> None:
    await set_profile(user, org="local", work="cont")
    await user.press(SessionCB(id=HIROSHIMA_A).pack())
    text = user.text()
    assert "外部委託先（請負）は民間事業者扱いとなります。受講料は77,000円（税込）です。" in text
    assert text.count("有料です") == 0 and "。 " not in text


async def test_6_contractor_fee_sentence_in_english(make_user: Any) -> None:
    u = english(make_user, 4601)
    await set_profile(u, org="local", work="cont")
    await u.press(SessionCB(id=HIROSHIMA_A).pack())
    text = u.text()
    assert (
        "An outside contractor (service contract) counts as a private business. "
        "The fee is ¥77,000 (tax incl.)."
    ) in text
    assert text.count("pays") == 0


# -- 7. the confirmation screen shows the fee ----------------------------------------------------


async def _to_confirmation(user: ChatUser) -> None:
    await user.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
    await user.send("山田 太郎")
    await user.send("株式会社サンプル")
    await user.press(RegCB(action="skip").pack())
    await user.send("taro@example.co.jp")
    await user.press(RegCB(action="done").pack())


async def test_7_confirmation_shows_the_fee_and_payment(user: ChatUser) -> None:
    await set_profile(user, org="local", work="cont")
    await _to_confirmation(user)
    text = user.text()
    assert "申込内容の確認" in text
    assert "💴 受講料（1人あたり）: 77,000円（税込）" in text
    assert "cyder.nict.go.jp FAQ" in text and "支払方法・時期は未発表です" in text


async def test_7_confirmation_free_for_staff_and_english(user: ChatUser, make_user: Any) -> None:
    await set_profile(user)
    await _to_confirmation(user)
    assert "💴 受講料（1人あたり）: 無料" in user.text()
    assert "支払方法" not in user.text()
    u = english(make_user, 4701)
    await set_profile(u, org="private", work=None)
    await _to_confirmation(u)
    assert "💴 Fee (per person): ¥77,000 (tax incl.)" in u.text()
    assert "How and when to pay is not announced" in u.text()


# -- 8. a name needs a letter --------------------------------------------------------------------


async def test_8_emoji_name_is_refused(user: ChatUser, make_user: Any) -> None:
    await set_profile(user)
    await user.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
    await user.send("😀😀")
    assert "氏名には文字" in user.text() and "所属組織名" not in user.text()
    await user.send("山田 太郎")
    assert "所属組織名" in user.text()
    u = english(make_user, 4801)
    await set_profile(u)
    await u.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
    await u.send("😀😀")
    assert "The name needs at least one letter" in u.text()


# -- 9. questions are answered before a place is guessed ----------------------------------------


async def test_9_free_question(user: ChatUser) -> None:
    await user.send("無料ですか")
    text = user.text()
    assert "春日部" not in text and "もしかして" not in text
    assert "<b>受講料</b>" in text and "無料: 国の機関、地方公共団体" in text
    assert "👤 プロフィールを設定" in user.buttons()
    await set_profile(user)
    await user.send("無料ですか")
    assert "✅ Aコース: 無料" in user.text() and "❌ B-2コース: 対象外" in user.text()


async def test_9_beginner_and_course_a(user: ChatUser) -> None:
    await user.send("初心者")
    text = user.text()
    assert "初台" not in text
    assert "Aコース</b> — 初級" in text and "基礎知識がなくても" in text
    await user.send("Aコース")
    text = user.text()
    assert "鴻巣" not in text
    assert "<b>Aコース</b> — 初級" in text and "🔎 このコースの開催回" in user.buttons()


async def test_9_deadline_apply_cancel(user: ChatUser) -> None:
    await user.send("締切はいつ？")
    assert "5営業日前" in user.text() and "祝日" in user.text()
    await user.send("申込方法")
    assert "申し込む" in user.text() and "https://cyder.nict.go.jp" in urls(user)
    await user.send("キャンセルしたい")
    assert "/my" in user.text() and "📝 申込一覧" in user.buttons()


async def test_9_questions_in_english(make_user: Any) -> None:
    u = english(make_user, 4901)
    await u.send("Is it free?")
    assert "<b>Fees</b>" in u.text() and "Free: national agency" in u.text()
    await u.send("beginner")
    assert "Course A</b> — Beginner" in u.text()
    await u.send("course B-2")
    assert "<b>Course B-2</b> — Intermediate" in u.text()
    await u.send("deadline")
    assert "5 business days" in u.text()


async def test_9_suggestions_are_buttons(user: ChatUser) -> None:
    await user.send("ひろしめ")
    assert "もしかして" in user.text()
    assert "広島県" in user.buttons()
    await user.click("広島県")
    assert "広島県とその周辺の開催回" in user.text()


# -- 10. addresses by their longest prefecture/city prefix ---------------------------------------


@pytest.mark.parametrize("address", ["広島市中区", "広島県広島市中区基町"])
async def test_10_addresses_are_understood(user: ChatUser, address: str) -> None:
    await set_profile(user)
    await user.send(address)
    text = user.text()
    assert "広島の近くの開催回" in text
    lines = result_lines(text)
    assert "広島" in lines[0] and "0 km" in lines[0]


async def test_10_address_in_english_chat(make_user: Any) -> None:
    u = english(make_user, 5001)
    await u.send("広島県広島市中区基町")
    assert "Sessions near Hiroshima" in u.text()


# -- 11. suggestions in the user's language ------------------------------------------------------


async def test_11_english_suggestions(make_user: Any) -> None:
    u = english(make_user, 5101)
    await u.send("Hiroshma")
    text = u.text()
    assert "Did you mean one of these?" in text and "広島県" not in text
    assert u.buttons()[:3] == ["Hiroshima (prefecture)", "Hiroshima", "Kitahiroshima"]
    assert not any(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", b) for b in u.buttons()[:5])
    await u.click("Kitahiroshima")
    assert "Sessions near Kitahiroshima" in u.text()
    assert "Sapporo" in result_lines(u.text())[0]  # 北広島市 is in Hokkaido
    await u.send("Hiroshma")
    await u.click("Hiroshima (prefecture)")
    assert "Sessions in and near Hiroshima" in u.text()


async def test_11_japanese_suggestions(user: ChatUser) -> None:
    await user.send("Hiroshma")
    assert user.buttons()[:3] == ["広島県", "広島", "北広島市"]


# -- 12. a course and a place together, in either order ------------------------------------------


async def test_12_find_with_a_place(user: ChatUser) -> None:
    await set_profile(user)
    await user.send("/find 広島")
    assert "広島県とその周辺の開催回" in user.text()
    assert "広島" in result_lines(user.text())[0]
    assert "北海道" not in user.buttons()  # not the region menu


@pytest.mark.parametrize("query", ["/find B-1 沖縄", "/find 沖縄 B-1", "B-1 沖縄", "沖縄 B-1"])
async def test_12_course_and_place_in_either_order(user: ChatUser, query: str) -> None:
    await set_profile(user)
    await user.send(query)
    lines = result_lines(user.text())
    assert lines and all(" B-1 " in line for line in lines)
    assert "那覇" in lines[0]


@pytest.mark.parametrize("query", ["B-1 沖縄", "沖縄 B-1", "B-1 Okinawa"])
async def test_12_inline_course_and_place(user: ChatUser, query: str) -> None:
    await user.inline(query)
    [answer] = user.sent("AnswerInlineQuery")
    assert answer.results and all("-B-1-" in r.id for r in answer.results)
    assert answer.results[0].id == "2024-B-1-47-1127"


async def test_12_find_with_a_course_only_and_english(make_user: Any) -> None:
    u = english(make_user, 5201)
    await u.send("/find C")
    lines = result_lines(u.text())
    assert lines and all(" C " in line for line in lines)
    await u.send("/find Okinawa B-1")
    assert "Naha" in result_lines(u.text())[0]


# -- 13. why B-1 is not for a national agency, and B-2 offered -----------------------------------


async def test_13_national_agency_asking_for_b1(user: ChatUser) -> None:
    await set_profile(user, org="national", work="staff", pref=13)
    await user.send("/find B-1")
    text = user.text()
    assert "該当する開催回はありません" not in text
    assert "B-1コースは地方公共団体の職員向けです" in text
    assert "代わりにB-2コースを受講できます。" in text
    await user.click("B-2コースの開催回")
    lines = result_lines(user.text())
    assert lines and all(" B-2 " in line for line in lines)


async def test_13_in_english(make_user: Any) -> None:
    u = english(make_user, 5301)
    await set_profile(u, org="national", work="staff", pref=13)
    await u.press(FindCB(kind="a", course="B-1").pack())
    assert "Course B-1 is for local governments only." in u.text()
    assert "You may take Course B-2 instead." in u.text()
    assert "🔎 Sessions of Course B-2" in u.buttons()


# -- 14. プレCYDER: online, its windows, the official site -----------------------------------------


async def test_14_pre_cyder_card(user: ChatUser) -> None:
    await user.press(MenuCB(action="courses").pack())
    assert "プレCYDER — オンライン" in user.buttons()
    assert not any(b.endswith(" — -") or b.endswith(" — —") for b in user.buttons())
    await user.press(CourseCB(code="PRE").pack())
    text = user.text()
    assert "オンライン形式" in text and "前半" in text and "後半" in text
    assert "2024年5月21日" in text and "2025年1月31日" in text
    assert "https://cyder.nict.go.jp" in urls(user)
    assert "🌐 公式サイトで申し込む" in user.buttons()
    await user.send("プレ")
    assert "オンライン形式" in user.text() and "https://cyder.nict.go.jp" in urls(user)


async def test_14_pre_cyder_in_english(make_user: Any) -> None:
    u = english(make_user, 5401)
    await u.press(MenuCB(action="courses").pack())
    assert "Pre-CYDER — online" in u.buttons()
    await u.press(CourseCB(code="PRE").pack())
    assert "An online course" in u.text() and "First half" in u.text()
    assert "🌐 Apply on the official site" in u.buttons()
    assert "https://cyder.nict.go.jp" in urls(u)


# -- 15. the Hokkaido list says its order and can switch it --------------------------------------


def _km(line: str) -> int:
    m = re.search(r"· ([\d,]+) km", line)
    assert m, line
    return int(m.group(1).replace(",", ""))


async def test_15_hokkaido_order_explained_and_switchable(user: ChatUser) -> None:
    await set_profile(user, pref=1)
    await user.press(FindCB(kind="q", key="1").pack())
    text = user.text()
    assert "並び順: 北海道内の回を日付順、その後に近い順（距離は札幌から）" in text
    lines = result_lines(text)
    assert "9/6" in lines[1] and "函館" in lines[1] and "11/8" in lines[2]  # by date
    assert "• 🏠 北海道内を先に" in user.buttons()
    await user.click("近い順")
    text = user.text()
    assert "並び順: 近い順（札幌からの直線距離）" in text
    kms = [_km(line) for line in result_lines(text)]
    assert kms == sorted(kms)
    assert "札幌" in result_lines(text)[1] and "B-1" in result_lines(text)[1]  # 11/8 札幌 · 0 km
    await user.click("日付順")
    assert "並び順: 日付順" in user.text()


async def test_15_in_english_and_from_a_location(make_user: Any) -> None:
    u = english(make_user, 5501)
    await set_profile(u, pref=1)
    await u.press(FindCB(kind="q", key="1").pack())
    assert "order: Hokkaido first, by date; then the nearest (distances from Sapporo)" in u.text()
    await u.location(43.06, 141.35)
    assert "order: nearest first (straight-line distance)" in u.text()
    nearest = result_lines(u.text())
    assert "Sapporo" in nearest[0] and "Sapporo" in nearest[1]
    await u.click("By date")
    assert "order: by date" in u.text()
    by_date = result_lines(u.text())
    assert by_date != nearest and "Sapporo" not in by_date[0]  # the earliest is elsewhere


# -- every message says what to do next: /help names the questions ------------------------------


async def test_help_names_the_questions(user: ChatUser, make_user: Any) -> None:
    await user.send("/help")
    assert "無料ですか、初心者、Aコース、締切、B-1 沖縄" in user.text()
    u = english(make_user, 5601)
    await u.send("/help")
    assert "“is it free?”" in u.text() and "“B-1 Okinawa”" in u.text()
    await u.send("B-1 Okinawa")
    assert "Naha" in result_lines(u.text())[0]
