"""Staff in chat, in Japanese (issue 13 §5), through the real Dispatcher: sessions by place
and date with suggestions, /help for staff, /remind on another day than the day before,
rosters and teams in words, cp932 that never loses a character."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.handlers import admin
from bot.telegram import reminders
from bot.telegram.callbacks import MenuCB, StaffCB
from bot.telegram.outbox import Outbox
from catalog import reminders as notes
from catalog.clock import JST, Clock
from catalog.registrations import Applicant, register
from catalog.users import save_user
from tests.conftest import ChatUser
from tests.test_admin_handlers import finish_jobs

ADMIN = 5101
ADMIN_EN = 5102
STRANGER = 5103
HIROSHIMA_A = "2024-A-34-1025"  # Fri 2024-10-25
HIROSHIMA_B1 = "2024-B-1-34-1029"
EARLY = dt.date(2024, 6, 1)
EARLY_NOW = dt.datetime(2024, 6, 1, 10, 0, tzinfo=JST)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        bot_token="42:TEST",
        db_path=tmp_path / "t.db",
        admin_ids=frozenset({ADMIN, ADMIN_EN}),
        reminder_hour=0,
    )


@pytest.fixture
def registered(catalog: Any) -> Any:
    save_user(catalog.store, 202, EARLY_NOW, lang="en")
    for name, org, kind, uid in [
        ("山田 太郎", "広島市", "local", 201),
        ("Jane Doe", "中国電力", "infra", 202),
        ("電話 受付", "呉市", "local", None),
    ]:
        register(catalog, HIROSHIMA_A, [Applicant(name, org, kind)], today=EARLY, now=EARLY_NOW, user_id=uid)
    register(
        catalog,
        HIROSHIMA_B1,
        [Applicant("岡山 一", "岡山県", "local")],
        today=EARLY,
        now=EARLY_NOW,
        user_id=203,
    )
    return catalog


@pytest.fixture
def staff(make_user: Any) -> ChatUser:
    return make_user(ADMIN)  # type: ignore[no-any-return]


def roster_rows(user: ChatUser) -> list[dict[str, str]]:
    [doc] = user.sent("SendDocument")
    return list(csv.DictReader(io.StringIO(doc.document.data.decode("utf-8-sig"))))


async def test_roster_by_place_and_date(staff: ChatUser, registered: Any) -> None:
    await staff.send("/roster 広島 10/25")
    [doc] = staff.sent("SendDocument")
    assert doc.document.filename == f"roster-{HIROSHIMA_A}.csv" and HIROSHIMA_A in doc.caption
    rows = roster_rows(staff)
    assert [r["氏名"] for r in rows] == ["山田 太郎", "Jane Doe", "電話 受付"]
    assert (rows[0]["区分"], rows[0]["受講料"], rows[0]["状態"]) == ("地方公共団体", "無料", "登録済")
    await staff.send("/roster 10月25日 広島市 xlsx")
    assert staff.sent("SendDocument")[0].document.filename.endswith(".xlsx")


async def test_roster_in_english_for_english_staff(make_user: Any, registered: Any) -> None:
    en = make_user(ADMIN_EN, language_code="en")
    await en.send("/roster hiroshima 2024-10-25")
    rows = roster_rows(en)
    assert (rows[1]["org type"], rows[1]["fee"], rows[1]["status"]) == (
        "Critical-infrastructure operator",
        "paid",
        "registered",
    )


async def test_ambiguous_place_offers_buttons(staff: ChatUser, registered: Any) -> None:
    await staff.send("/roster 広島 xlsx")
    assert "「広島」に当たる開催回が複数あります。" in staff.text()
    assert staff.sent("SendDocument") == []
    buttons = staff.buttons_all()
    assert [StaffCB.unpack(d).id for _, d in buttons if d] == [HIROSHIMA_A, HIROSHIMA_B1]
    assert all(StaffCB.unpack(d).fmt == "xlsx" for _, d in buttons if d)
    await staff.click(HIROSHIMA_B1)
    [doc] = staff.sent("SendDocument")
    assert doc.document.filename == f"roster-{HIROSHIMA_B1}.xlsx"


async def test_a_suggestion_pressed_by_anyone_else_is_not_allowed(make_user: Any, registered: Any) -> None:
    stranger = make_user(STRANGER)
    await stranger.press(StaffCB(cmd="roster", id=HIROSHIMA_A, fmt="csv").pack())
    [answer] = stranger.answers()
    assert answer.text == "⛔ この操作は許可されていません。" and answer.show_alert
    assert stranger.sent("SendDocument") == [] and stranger.sent("SendMessage") == []


async def test_forged_suggestions_are_expired(staff: ChatUser, registered: Any) -> None:
    for data in (
        StaffCB(cmd="broadcast", id=HIROSHIMA_A).pack(),
        StaffCB(cmd="roster", id="2099-X-99-0101").pack(),
    ):
        await staff.press(data)
        assert staff.answers()[0].text == "このボタンは期限切れです。"
        assert staff.sent("SendDocument") == []


@pytest.mark.parametrize(
    "command",
    [
        "/roster 広島 10/25",
        "/teams 広島 10/25",
        "/remind 広島",
        "/broadcast 広島 10/25 こんにちは",
        "/roster 札幌 9/9",
    ],
)
async def test_everyone_else_is_refused_the_same_way(make_user: Any, registered: Any, command: str) -> None:
    stranger = make_user(STRANGER)
    await stranger.send(command)
    assert stranger.text() == "⛔ この操作は許可されていません。"


async def test_nothing_matches_says_what_was_looked_for(staff: ChatUser, registered: Any) -> None:
    await staff.send("/roster 札幌 9/9")
    assert staff.text() == "「札幌 9/9」に当たる開催回はありません。"
    await staff.send("/teams 広島 2/30")
    assert "'2/30' は日付ではありません" in staff.text()


async def test_teams_by_place_and_date_show_organisation_types_in_words(
    staff: ChatUser, make_user: Any, registered: Any
) -> None:
    await staff.send("/teams 広島 10/25")
    text = staff.text()
    assert "山田 太郎 — 広島市, 地方公共団体" in text
    assert "Jane Doe — 中国電力, 重要社会基盤事業者" in text
    assert ", local" not in text and ", infra" not in text
    en = make_user(ADMIN_EN, language_code="en")
    await en.send(f"/teams {HIROSHIMA_A}")
    assert "Jane Doe — 中国電力, Critical-infrastructure operator" in en.text()


async def test_broadcast_by_place_and_date_and_ambiguous_lists_commands(
    staff: ChatUser, registered: Any, bot: Any
) -> None:
    await staff.send("/broadcast 広島 こんにちは")
    assert f"<code>/broadcast {HIROSHIMA_A} こんにちは</code>" in staff.text()
    assert not any(type(r).__name__ == "SendMessage" and r.chat_id in (201, 202) for r in bot.requests)
    await staff.send("/broadcast 広島 10/25 会場は3階です")
    await finish_jobs(staff.dp)
    sent = {
        r.chat_id: r.text
        for r in bot.requests
        if type(r).__name__ == "SendMessage" and r.chat_id in (201, 202, 203)
    }
    assert set(sent) == {201, 202} and "会場は3階です" in sent[201]


async def test_help_lists_the_staff_commands_to_staff_only(
    staff: ChatUser, make_user: Any, registered: Any
) -> None:
    await staff.send("/help")
    text = staff.text()
    assert "<b>事務局用コマンド</b>" in text and "/roster SESSION" in text and "広島 10/25" in text
    assert "/remind SESSION" in text and "/broadcast SESSION" in text and "/stats" in text
    stranger = make_user(STRANGER)
    await stranger.send("/help")
    assert "/roster" not in stranger.text() and "事務局用" not in stranger.text()
    await stranger.press(MenuCB(action="help").pack())  # the menu's Help button too
    assert "使い方" in stranger.text() and "/roster" not in stranger.text()
    await staff.press(MenuCB(action="help").pack())
    assert "<b>事務局用コマンド</b>" in staff.text()
    en = make_user(ADMIN_EN, language_code="en")
    await en.send("/help")
    assert "<b>Staff commands</b> (shown to staff only)" in en.text()


async def test_remind_on_another_day_says_when_and_leaves_the_day_before_reminder(
    staff: ChatUser, registered: Any, bot: Any, settings: Settings, catalog: Any
) -> None:
    await staff.send("/remind 広島 10/25")
    await finish_jobs(staff.dp)
    sent = {
        r.chat_id: r.text
        for r in bot.requests
        if type(r).__name__ == "SendMessage" and r.chat_id in (201, 202)
    }
    assert sent[201].startswith("🔔 10月25日（金）の演習のお知らせ")
    assert "明日" not in sent[201]
    assert sent[202].startswith("🔔 About your CYDER session on Fri 25 Oct")
    assert "tomorrow" not in sent[202]
    await staff.send(f"/remind {HIROSHIMA_A}")  # the same day again: once is enough
    assert "送信先がありません" in staff.text()
    # the automatic day-before reminder is still to come, and says "tomorrow"
    day_before = dt.date(2024, 10, 24)
    [(session, people)] = notes.due_reminders(catalog, day_before)
    assert session.id == HIROSHIMA_A and {p.user_id for p in people} == {201, 202}
    before = len(bot.requests)
    clock = Clock(pinned=day_before)
    summary = await reminders.tick(Outbox(bot, catalog, clock), catalog, settings, clock)
    assert summary.sent == 2
    texts = {r.chat_id: r.text for r in bot.requests[before:] if type(r).__name__ == "SendMessage"}
    assert "明日" in texts[201] and "tomorrow" in texts[202]


async def test_remind_the_day_before_is_the_day_before_reminder(
    make_dp: Any, bot: Any, registered: Any, catalog: Any
) -> None:
    staff = ChatUser(make_dp(today=dt.date(2024, 10, 24)), bot, ADMIN)
    await staff.send("/remind 広島 10/25")
    await finish_jobs(staff.dp)
    sent = [r.text for r in bot.requests if type(r).__name__ == "SendMessage" and r.chat_id == 201]
    assert len(sent) == 1 and "明日" in sent[0]
    assert notes.due_reminders(catalog, dt.date(2024, 10, 24)) == []  # not sent twice


async def test_remind_after_the_session_sends_nothing(make_dp: Any, bot: Any, registered: Any) -> None:
    staff = ChatUser(make_dp(today=dt.date(2024, 10, 26)), bot, ADMIN)
    await staff.send(f"/remind {HIROSHIMA_A}")
    assert "終了しています" in staff.text()


async def test_cp932_roster_with_characters_it_lacks_sends_utf8_and_names_them(
    staff: ChatUser, registered: Any, catalog: Any
) -> None:
    register(catalog, HIROSHIMA_A, [Applicant("𠮷田 花子", "髙島市", "local")], today=EARLY, now=EARLY_NOW)
    await staff.send("/roster 広島 10/25 sjis")
    [doc] = staff.sent("SendDocument")
    assert "cp932（Shift_JIS）では 𠮷 を表せない" in doc.caption and "UTF-8" in doc.caption
    assert doc.document.filename.endswith(".csv") and "sjis" not in doc.document.filename
    assert "𠮷田 花子" in doc.document.data.decode("utf-8-sig")
    await staff.send(f"/roster {HIROSHIMA_B1} sjis")  # nothing missing: Shift_JIS as asked
    [doc] = staff.sent("SendDocument")
    assert doc.document.filename.endswith("-sjis.csv") and "⚠️" not in doc.caption
    assert "岡山 一" in doc.document.data.decode("cp932")


def test_staff_help_is_empty_for_everyone_else() -> None:
    assert admin.staff_help(1, Settings(admin_ids=frozenset({2}))) == ""
    assert admin.staff_help(None, Settings(admin_ids=frozenset({2}))) == ""
