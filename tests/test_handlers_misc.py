"""Inline mode, throttling, translations, the factory and callback-data limits."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from aiogram.utils.i18n import I18n
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from bot.config import Settings
from bot.telegram import callbacks
from bot.telegram.factory import create_bot
from bot.telegram.i18n import LOCALES_DIR, create_i18n
from bot.telegram.menu import COMMANDS, set_commands
from bot.telegram.middlewares import ThrottlingMiddleware
from catalog.service import Catalog
from tests.conftest import BOT_USERNAME, ChatUser, MockedBot
from tests.test_handlers import set_profile


async def test_inline_query_returns_sessions_with_deep_links(user: ChatUser) -> None:
    await user.inline("広島")
    [answer] = user.sent("AnswerInlineQuery")
    results = answer.results
    assert 1 <= len(results) <= 20
    assert results[0].id.startswith("2024-") and "-34-" in results[0].id
    assert all(r.id.count("-") >= 3 for r in results)
    url = results[0].reply_markup.inline_keyboard[0][0].url
    assert url == f"https://t.me/{BOT_USERNAME}?start={results[0].id}"
    assert "広島" in results[0].input_message_content.message_text


async def test_inline_query_by_course_and_unknown(user: ChatUser) -> None:
    await user.inline("C")
    [answer] = user.sent("AnswerInlineQuery")
    assert answer.results and all("-C-" in r.id for r in answer.results)
    await user.inline("zzqqxx")
    [answer] = user.sent("AnswerInlineQuery")
    assert answer.results == []


async def test_every_button_press_is_answered_exactly_once(user: ChatUser) -> None:
    await user.send("/start")
    for label in (
        "開催回を探す",
        "地方公共団体",
        "その組織の職員",
        "中国",
        "広島県",
        "中国",
        "広島県",
        "1.",
        "カレンダーに追加",
    ):
        await user.click(label)
        assert len(user.answers()) == 1, label


def test_token_bucket() -> None:
    t = ThrottlingMiddleware(rate=1.0, burst=3.0)
    assert [t.allow(1, now=0.0)[0] for _ in range(3)] == [True, True, True]
    assert t.allow(1, now=0.0) == (False, True)  # dropped, warn once
    assert t.allow(1, now=0.1) == (False, False)  # dropped silently
    assert t.allow(2, now=0.1) == (True, False)  # other users are unaffected
    assert t.allow(1, now=1.2)[0] is True  # refilled


async def test_flooding_user_is_throttled(make_dp: Any, bot: MockedBot) -> None:
    dp = make_dp(throttle_burst=3, throttle_rate=0.001)
    u = ChatUser(dp, bot, 9001)
    for _ in range(3):
        await u.send("/help")
        assert "/find" in u.text()
    await u.send("/help")
    assert "ゆっくり" in u.text()
    await u.send("/help")
    assert u.last == []
    other = ChatUser(dp, bot, 9002)
    await other.send("/help")
    assert "/find" in other.text()


async def test_every_throttled_button_press_is_answered(make_dp: Any, bot: MockedBot) -> None:
    """300 presses of one button: every callback query is answered (none left spinning),
    the first dropped one with the slow-down alert, the rest silently."""
    from bot.telegram.callbacks import MenuCB

    dp = make_dp(throttle_burst=3, throttle_rate=0.001)
    u = ChatUser(dp, bot, 9003)
    await u.send("/start")
    data = MenuCB(action="courses").pack()
    answers = []
    for _ in range(300):
        sent = await u.press(data)
        answers += [m for m in sent if type(m).__name__ == "AnswerCallbackQuery"]
    assert len(answers) == 300
    alerts = [a for a in answers if a.text]
    assert len(alerts) == 1 and "ゆっくり" in alerts[0].text and alerts[0].show_alert


def _msgids() -> list[tuple[str | None, str]]:
    """Every (message context, message id) the code marks for translation."""
    ids: list[tuple[str | None, str]] = []
    bot_dir = Path(__file__).resolve().parents[1] / "bot"
    # every module of the bot that may speak to a chat user
    files = [p for p in bot_dir.rglob("*.py") if "demo" not in p.parts]
    # and what the catalog says through domain errors (catalog.i18n.gettext_lazy, as _l;
    # pgettext_lazy, as _lp, for a word with a message context)
    files += sorted((bot_dir.parent / "catalog").rglob("*.py"))
    for f in sorted(files):
        for _line, msg, _comments, ctx in extract_from_file(
            "python",
            str(f),
            keywords={
                "_": None,
                "N_": None,
                "tr": None,
                "_l": None,
                "gettext_lazy": None,
                "_lp": ((1, "c"), 2),
                "pgettext_lazy": ((1, "c"), 2),
            },
        ):
            text = msg[0] if isinstance(msg, tuple) else msg
            if text and (ctx, text) not in ids:
                ids.append((ctx, text))
    return ids


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_message_has_a_translation(lang: str) -> None:
    po = LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po"
    catalog = read_po(io.BytesIO(po.read_bytes()), locale=lang)
    strings = {(m.context, m.id): m.string for m in catalog if m.id}
    ids = _msgids()
    assert len(ids) > 150
    assert any(ctx for ctx, _ in ids)  # the message contexts are extracted too
    missing = [i for i in ids if not strings.get(i)]
    assert missing == [], f"{lang}: untranslated {missing[:5]}"
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert fuzzy == []


def test_placeholders_match_between_languages() -> None:
    import re

    po = LOCALES_DIR / "ja" / "LC_MESSAGES" / "messages.po"
    for m in read_po(io.BytesIO(po.read_bytes()), locale="ja"):
        if m.id and m.string:
            assert set(re.findall(r"\{\w+(?:![rsa])?\}", m.id)) == set(
                re.findall(r"\{\w+(?:![rsa])?\}", m.string)
            ), m.id


def test_i18n_compiles_po_in_memory() -> None:
    i18n = create_i18n()
    assert isinstance(i18n, I18n)
    assert set(i18n.available_locales) >= {"ja", "en"}
    assert i18n.gettext("This button has expired.", locale="ja") == "このボタンは期限切れです。"
    assert i18n.gettext("This button has expired.", locale="en") == "This button has expired."
    assert not list(LOCALES_DIR.glob("*/LC_MESSAGES/*.mo"))


async def test_set_commands_in_japanese_english_and_default() -> None:
    bot = MockedBot()
    await set_commands(bot)
    calls = [r for r in bot.requests if type(r).__name__ == "SetMyCommands"]
    assert [c.language_code for c in calls] == ["ja", "en", None]
    ja = {c.command: c.description for c in calls[0].commands}
    en = {c.command: c.description for c in calls[1].commands}
    assert set(ja) == {c for c, _ in COMMANDS} == set(en)
    assert ja["my"] == "申込一覧" and en["my"] == "My registrations"


async def test_create_bot_uses_the_configured_api_server(tmp_path: Any) -> None:
    settings = Settings(bot_token="123:ABC", telegram_api_base="http://127.0.0.1:8081")
    bot = create_bot(settings)
    try:
        assert bot.session.api.base.startswith("http://127.0.0.1:8081")
        assert bot.default.parse_mode == "HTML"
        assert bot.token == "123:ABC"
    finally:
        await bot.session.close()


def test_callback_data_fits_in_64_bytes(catalog: Catalog) -> None:
    longest_id = max((s.id for s in catalog.all_sessions()), key=len)
    samples = [
        callbacks.SessionCB(id=longest_id, action="show"),
        callbacks.FindCB(kind="n", key="-89.999_-179.999", course="B-2", every=1, year=1, page=99),
        callbacks.ProfileCB(step="o", value=max(catalog.rules.org_types, key=len)),
        callbacks.MyCB(action="cancel", reg=2**31),
    ]
    for cb in samples:
        assert len(cb.pack().encode()) <= 64, cb


def test_callback_data_round_trips_and_bad_data_is_refused() -> None:
    cb = callbacks.FindCB(kind="p", key="34", course="A", page=2)
    data = cb.pack()
    assert data == "f:p:34:A:0:0:2:"
    assert callbacks.FindCB.unpack(data) == cb
    assert cb.model_copy(update={"page": 3}).pack() == "f:p:34:A:0:0:3:"
    for bad in ("f:p:34:A:0:0:x:", "f:p:34", "s:p:34:A:0:0:2:", "f:p:34:A:0:0:2:d:9"):
        with pytest.raises((TypeError, ValueError)):
            callbacks.FindCB.unpack(bad)
    assert callbacks.SessionCB(id="x").pack() != callbacks.SessionCB(id="x", action="reg").pack()
    assert callbacks.ProfileCB.unpack("p:o:local") != callbacks.ProfileCB.unpack("p:o:")


async def test_handler_error_is_reported_not_raised(
    user: ChatUser, catalog: Catalog, monkeypatch: Any
) -> None:
    from bot.handlers import sessions

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    await set_profile(user)
    monkeypatch.setattr(sessions, "render_results", boom)
    await user.send("広島")
    assert "エラーが発生しました" in user.text()


async def test_personal_calendar_feed_link(user: ChatUser, catalog: Catalog) -> None:
    from bot.telegram.callbacks import MenuCB, SubCB
    from catalog import users

    await user.press(MenuCB(action="sub").pack())
    assert "https://cyder.example.org/calendar/sessions.ics" in user.text()
    assert "/calendar/me/" not in user.text()
    await user.press(SubCB(action="new").pack())
    record = users.get_user(catalog.store, user.user.id)
    assert record is not None and record.calendar_token
    assert f"webcal://cyder.example.org/calendar/me/{record.calendar_token}.ics" in user.text()
    await user.press(SubCB(action="off").pack())
    record = users.get_user(catalog.store, user.user.id)
    assert record is not None and record.calendar_token is None
    assert "/calendar/me/" not in user.text()


async def test_online_course_card_lists_its_windows(make_user: Any) -> None:
    from bot.telegram.callbacks import CourseCB

    u = make_user(user_id=9100, language_code="en")
    await u.press(CourseCB(code="PRE").pack())
    text = u.text()
    assert "Pre-CYDER" in text and "Format: online" in text
    assert "Tue 21 May 2024" in text and "0 day" not in text
    assert "🔎" not in "".join(u.buttons())  # no sessions to search for an online course


async def test_a_user_who_blocked_the_bot_and_writes_again_gets_reminders_again(
    user: ChatUser, catalog: Catalog
) -> None:
    from catalog import reminders
    from tests.util_catalog import NOW

    reminders.block_chat(catalog.store, user.user.id, NOW)
    assert reminders.is_blocked(catalog.store, user.user.id)
    await user.send("/start")
    assert not reminders.is_blocked(catalog.store, user.user.id)


async def test_subscribe_to_a_search_gives_links_with_its_filters(user: ChatUser) -> None:
    from urllib.parse import parse_qs, urlsplit

    from bot.telegram.callbacks import FindCB, SearchFeedCB

    await set_profile(user)
    await user.press(FindCB(kind="r", key="7", course="A").pack())  # 中国, course A
    assert any("📅" in b for b in user.buttons())
    await user.press(SearchFeedCB(kind="r", key="7", course="A").pack())
    text = user.text()
    assert "webcal://" in text and "calendar.google.com" in text
    https = text.split('href="')[1].split('"')[0]
    query = parse_qs(urlsplit(https.replace("&amp;", "&")).query)
    assert query == {"course": ["A"], "region": ["中国"]}
    # Telegram's buttons open no webcal:// link: a button opens the subscribe page instead
    [[page]] = user.sent("SendMessage")[0].reply_markup.inline_keyboard
    assert page.text == "📅 カレンダー登録ページを開く"
    assert urlsplit(page.url).path == "/calendar/"
    assert parse_qs(urlsplit(page.url).query) == {"course": ["A"], "region": ["中国"]}
    await user.press(SearchFeedCB(kind="r", key="99").pack())  # forged: no such region
    assert "期限切れ" in " ".join(a.text or "" for a in user.answers())
    assert not user.sent("SendMessage")
