"""Staff commands in chat through the real Dispatcher with a recording Bot session."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import openpyxl
import pytest

from bot.config import Settings
from bot.handlers import admin
from catalog import teams
from catalog.clock import JST
from catalog.registrations import Applicant, register
from catalog.users import save_user

ADMIN = 5001
STRANGER = 5002
SESSION = "2024-A-13-0709"
EARLY = dt.date(2024, 6, 1)
EARLY_NOW = dt.datetime(2024, 6, 1, 10, 0, tzinfo=JST)
PEOPLE = [
    ("山田 太郎", "横浜市", 101),
    ("Jane <Doe>", "川崎市", 102),
    ("佐藤 花子", "東京都庁", None),
    ("鈴木 一郎", "相模原市", None),
    ("高橋 次郎", "横浜市", None),
    ("田中 三郎", "千葉市", None),
    ("伊藤 四郎", "さいたま市", None),
    ("渡辺 五郎", "川崎市", None),
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(bot_token="42:TEST", db_path=tmp_path / "t.db", admin_ids=frozenset({ADMIN}))


@pytest.fixture
def registered(catalog):
    save_user(catalog.store, 102, EARLY_NOW, lang="en")
    for name, org, uid in PEOPLE:
        register(catalog, SESSION, [Applicant(name, org, "local")], today=EARLY, now=EARLY_NOW, user_id=uid)
    return catalog


@pytest.fixture
def staff(make_user):
    return make_user(ADMIN)


async def finish_jobs(dp) -> None:
    """Wait for the background jobs the staff commands started (the Dispatcher's `jobs`)."""
    await dp["jobs"].join()


@pytest.mark.parametrize(
    "command",
    [
        "/roster",
        f"/roster {SESSION}",
        "/roster 2099-X-99-0101",
        f"/roster {SESSION} xlsx",
        f"/teams {SESSION}",
        "/teams nope",
        f"/remind {SESSION}",
        "/remind nope",
        f"/broadcast {SESSION} hello",
        "/broadcast nope hello",
        "/stats",
    ],
)
async def test_everyone_else_is_refused_and_learns_nothing(make_user, registered, command):
    stranger = make_user(STRANGER)
    requests = await stranger.send(command)
    assert [type(r).__name__ for r in requests] == ["SendMessage"]
    assert stranger.text() == "⛔ この操作は許可されていません。"
    assert teams.current_teams(registered, SESSION) == []


async def test_roster_is_a_utf8_bom_csv_document_by_default(staff, registered):
    await staff.send(f"/roster {SESSION}")
    [doc] = staff.sent("SendDocument")
    assert doc.document.filename.endswith(".csv")
    data = doc.document.data
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r["氏名"] for r in rows] == [p[0] for p in PEOPLE]  # the staff's language
    assert SESSION in doc.caption


async def test_roster_as_xlsx_on_request(staff, registered):
    await staff.send(f"/roster {SESSION} xlsx")
    [doc] = staff.sent("SendDocument")
    assert doc.document.filename.endswith(".xlsx")
    wb = openpyxl.load_workbook(io.BytesIO(doc.document.data))
    values = [c.value for row in wb.active.iter_rows() for c in row]
    assert "山田 太郎" in values and "渡辺 五郎" in values


async def test_roster_bad_format_and_unknown_session_get_clear_answers(staff, registered):
    await staff.send(f"/roster {SESSION} pdf")
    assert "csv" in staff.text() and not staff.sent("SendDocument")
    await staff.send("/roster 2099-X-99-0101")
    assert "見つかりません" in staff.text()
    await staff.send("/roster")
    assert "/roster" in staff.text()


async def test_teams_forms_and_shows_teams_with_escaped_names(staff, registered):
    await staff.send(f"/teams {SESSION}")
    text = staff.text()
    assert "チーム1" in text and "チーム2" in text and "チーム3" not in text
    assert "Jane &lt;Doe&gt;" in text
    formed = teams.current_teams(registered, SESSION)
    assert sorted(len(t.members) for t in formed) == [4, 4]


@pytest.mark.parametrize(
    ("language_code", "said"),
    [
        ("ja", "⚠️ 5名のチームです（1チーム3〜4名）"),
        ("en", "⚠️ a team of 5 (teams are of three or four)"),
    ],
)
async def test_teams_shows_each_exception_under_its_team(make_user, catalog, language_code, said):
    for name, org, _uid in PEOPLE[:5]:  # five people: one team of five, flagged
        register(catalog, SESSION, [Applicant(name, org, "local")], today=EARLY, now=EARLY_NOW)
    staff = make_user(ADMIN, language_code=language_code)
    await staff.send(f"/teams {SESSION}")
    lines = staff.text().splitlines()
    header = next(i for i, line in enumerate(lines) if "(5)" in line)
    assert lines[header + 1] == said  # under the team, before its members
    assert lines[header + 2].startswith("• ")
    assert sum(line.startswith("⚠️") for line in lines) == 1


async def test_teams_with_nobody_registered(staff, catalog):
    await staff.send(f"/teams {SESSION}")
    assert "チームはありません" in staff.text()


async def test_stats_counts_registrations_per_course_and_region(staff, registered):
    await staff.send("/stats")
    text = staff.text()
    assert "コース・地域別" in text
    line = next(x for x in text.splitlines() if x.startswith("A 関東"))
    assert "申込 8/" in line


async def test_remind_sends_now_with_progress_then_not_twice(staff, registered, bot, dp):
    await staff.send(f"/remind {SESSION}")
    assert staff.text() == "⏳ 送信中…"
    await finish_jobs(dp)
    sends = [r for r in bot.requests if type(r).__name__ == "SendMessage" and r.chat_id != ADMIN]
    assert sorted(r.chat_id for r in sends) == [101, 102]
    by_chat = {r.chat_id: r.text for r in sends}
    # sent on 6/1 for 7/9: the date, never "tomorrow" (the day before, see test_remind_day)
    assert "7月9日（火）の演習のお知らせ" in by_chat[101] and "明日" not in by_chat[101]
    assert "About your CYDER session on Tue 9 Jul" in by_chat[102]
    assert "tomorrow" not in by_chat[102]
    edits = [r for r in bot.requests if type(r).__name__ == "EditMessageText"]
    assert edits and edits[-1].chat_id == ADMIN
    assert "送信完了" in edits[-1].text and "2/2" in edits[-1].text
    await staff.send(f"/remind {SESSION}")
    assert "送信先がありません" in staff.text()


async def test_broadcast_reaches_registrants_escaped(staff, registered, bot, dp):
    await staff.send(f"/broadcast {SESSION} 持ち物: <PC> & 筆記用具")
    await finish_jobs(dp)
    sends = {
        r.chat_id: r.text
        for r in bot.requests
        if type(r).__name__ == "SendMessage" and r.chat_id in (101, 102)
    }
    assert set(sends) == {101, 102}
    assert "持ち物: &lt;PC&gt; &amp; 筆記用具" in sends[101]
    edits = [r for r in bot.requests if type(r).__name__ == "EditMessageText"]
    assert "2/2" in edits[-1].text


async def test_broadcast_needs_text(staff, registered):
    await staff.send(f"/broadcast {SESSION}")
    assert "/broadcast" in staff.text()


async def test_staff_commands_appear_only_in_admins_menus(bot):
    settings = Settings(admin_ids=frozenset({ADMIN, 5003}))
    await admin.set_staff_commands(bot, settings)
    calls = [r for r in bot.requests if type(r).__name__ == "SetMyCommands"]
    assert sorted(c.scope.chat_id for c in calls) == [ADMIN, 5003]
    names = [c.command for c in calls[0].commands]
    assert {"roster", "teams", "remind", "broadcast", "stats", "start"} <= set(names)
    assert any("名簿" in c.description for c in calls[0].commands)
