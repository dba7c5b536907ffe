"""Domain errors carry gettext message ids (catalog.i18n), translated where they are shown:
Japanese and English from the .po files in the chat and on the web pages, English on the
command line. (tests/test_handlers_misc.py fails when a message id lacks a translation.)"""

from __future__ import annotations

import pytest

from bot.telegram.i18n import say
from catalog import rosters, teams
from catalog.errors import CatalogError, InvalidInput
from catalog.i18n import gettext_lazy
from catalog.registrations import Applicant, register
from tests.util_catalog import NOW, make_catalog

SESSION = "2024-A-13-0709"


def test_a_lazy_message_is_english_until_translated():
    message = gettext_lazy(
        "team {team!r} already has {n} people; a team is at most {size}", team="HIRO", n=4, size=4
    )
    assert str(message) == "team 'HIRO' already has 4 people; a team is at most 4"
    assert say(message, "en") == str(message)
    assert say(message, "ja") == "チーム 'HIRO' はすでに4名です（1チーム4名まで）。"


def test_an_error_shows_its_message_in_each_language(tmp_path):
    catalog = make_catalog(tmp_path / "c.db")
    for i in range(4):
        register(
            catalog,
            SESSION,
            [Applicant(f"p{i}", "広島市", "local")],
            today=NOW.date(),
            now=NOW,
            team_key="HIRO",
        )
    with pytest.raises(InvalidInput) as e:
        teams.check_team_key(catalog, SESSION, "HIRO", "広島市")
    assert e.value.en == "team 'HIRO' already has 4 people; a team is at most 4"  # the CLI's
    assert say(e.value, "ja") == "チーム 'HIRO' はすでに4名です（1チーム4名まで）。"
    with pytest.raises(InvalidInput) as e:
        rosters.export_roster(catalog, [SESSION], "pdf")  # type: ignore[arg-type]
    assert say(e.value, "ja").startswith("名簿の形式 'pdf' は不明です。")
    assert say(e.value, "en").startswith("unknown roster format 'pdf'; choose one of: ")


def test_an_error_still_given_as_a_pair_shows_its_pair():
    error = CatalogError("in English", "日本語で")
    assert (say(error, "en"), say(error, "ja")) == ("in English", "日本語で")


# The Japanese the converted errors and verdicts had as ja/en pairs, now from the .po files.
def test_converted_errors_say_the_same_japanese_as_before(tmp_path):
    from catalog import console, imports, session_lookup
    from catalog.eligibility import Profile
    from catalog.validation import clean_text, truthy

    cases = []
    for call in (
        lambda: clean_text("", "organisation"),
        lambda: clean_text("x" * 101, "name"),
        lambda: truthy("たぶん"),
        lambda: console.clean_reason("x" * 1000),
        lambda: imports.decode(b"\xff\xfe\xfa"),
    ):
        with pytest.raises(CatalogError) as e:
            call()
        cases.append(e.value)
    assert [say(e, "ja") for e in cases] == [
        "所属組織名を入力してください。",
        "氏名が長すぎます（101文字。100文字以内で入力してください）。",
        "'たぶん' は「はい/いいえ」ではありません（はい/いいえ・1/0・true/false・○/× のいずれか）",
        f"理由が長すぎます（1000文字。{console.REASON_LIMIT}文字以内）。",
        "ファイルが UTF-8 でも cp932（Shift_JIS）でもありません。",
    ]
    assert [e.en for e in cases] == [str(e) for e in cases] == [say(e, "en") for e in cases]
    assert cases[0].en == "Please enter your organisation."

    catalog = make_catalog(tmp_path / "c.db")
    with pytest.raises(CatalogError) as e:
        session_lookup.lookup(catalog, "札幌 9/9", today=NOW.date())
    assert say(e.value, "ja") == "「札幌 9/9」に当たる開催回はありません。"
    assert e.value.en == "no session matches '札幌 9/9'"

    contractor = catalog.rules.decide(Profile("local", contractor=True), "B-2")
    assert say(contractor.reason, "ja") == (
        "外部委託先（請負）は民間事業者扱いとなります。受講料は77,000円（税込）です。"
    )
    assert say(contractor.reason, "en") == contractor.reason_en == str(contractor.reason)
    assert contractor.reason_en.startswith("An outside contractor (service contract) counts ")


def test_the_command_line_prints_english(capsys, tmp_path, monkeypatch):
    import json

    from bot.cli import main

    monkeypatch.setenv("CYDER_DB", str(tmp_path / "cli.db"))
    monkeypatch.delenv("CYDER_TODAY", raising=False)
    assert main(["eligibility", "--org-type", "startup"]) == 2
    err = capsys.readouterr().err
    assert "unknown organisation type 'startup'; choose one of: " in err
    assert "組織種別" not in err
    assert main(["eligibility", "--org-type", "local", "--format", "json"]) == 0
    rows = {r["course"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["A"]["reason_en"] == (
        "Staff of a local government (prefecture or municipality) attend free of charge."
    )
    assert rows["A"]["reason_ja"] == "地方公共団体（都道府県・市区町村）の職員は無料で受講できます。"


# The second pass: the schedule sheet, the team rules and the schedule import, which were
# ja/en pairs, say the same Japanese and English as before from the .po files.
def test_schedule_sheet_errors_say_the_old_japanese_and_english():
    from catalog.schedule_sheet import MAX_ROWS, SheetError, read_sheet
    from catalog.session_row import SPREADSHEET_COLUMNS

    columns = ", ".join(SPREADSHEET_COLUMNS)
    cases = {
        b"": ("ファイルが空です。", "the file is empty"),
        b"\0\0\0binary": (
            "表計算ファイルではありません。.xlsx か CSV を指定してください。",
            "not a spreadsheet: give an .xlsx workbook or a CSV file",
        ),
        "course,prefecture,town,first\nA,広島県,広島,2024-10-25\n".encode(): (
            f"1行目: 見出しが違います（unknown column 'town'; missing column 'city'）。列は {columns} です。",
            f"line 1: unknown column 'town'; missing column 'city'; the columns are {columns}",
        ),
        ("course,prefecture,city,first\n" + "A,広島県,広島,2024-10-25\n" * (MAX_ROWS + 1)).encode(): (
            f"{MAX_ROWS}行を超えています。1年度分の日程ではありません。",
            f"more than {MAX_ROWS} rows: this is not one year's schedule",
        ),
        b"\xff\xfe\xfa": (
            "ファイルが UTF-8 でも cp932（Shift_JIS）でもありません。",
            "the file is neither UTF-8 nor cp932 (Shift_JIS) text",
        ),
    }
    for data, (ja, en) in cases.items():
        with pytest.raises(SheetError) as e:
            read_sheet("s.csv", data)
        assert (say(e.value, "ja"), say(e.value, "en"), e.value.en) == (ja, en, en)
    # the Japanese now names what the English names (the placeholders match)
    with pytest.raises(SheetError) as e:
        read_sheet("s.xlsx", b"PK\x03\x04 not a zip")
    assert say(e.value, "ja") == "Excel ファイル（.xlsx）として読めません（BadZipFile）。"
    assert say(e.value, "en") == "not a readable Excel workbook (.xlsx): BadZipFile"


def test_team_exceptions_and_rule_errors_say_the_old_japanese_and_english(tmp_path):
    from catalog.teams import Member, Team, TeamRuleError, flag_exceptions, form_teams, move_member

    a = [Member(i, f"p{i}", "広島市" if i < 3 else f"o{i}") for i in range(1, 9)]
    flagged = flag_exceptions([Team(1, tuple(a[:5])), Team(2, tuple(a[5:]))])[0]
    assert [say(e.message, "ja") for e in flagged.exceptions] == [
        "5名のチームです（1チーム3〜4名）",
        "広島市の方が2名います（分ければ1チーム1名まで）",
    ]
    assert say(flagged.exceptions_said, "ja") == (
        "5名のチームです（1チーム3〜4名）。広島市の方が2名います（分ければ1チーム1名まで）"
    )
    assert say(flagged.exceptions_said, "en") == (
        "a team of 5 (teams are of three or four); 2 people of 広島市 (spread, at most 1 per team)"
    )
    assert flagged.as_dict(say)["exceptions"][1] == {
        "code": "organisation",
        "en": "2 people of 広島市 (spread, at most 1 per team)",
        "ja": "広島市の方が2名います（分ければ1チーム1名まで）",
    }

    catalog = make_catalog(tmp_path / "c.db")
    ids = [
        register(catalog, SESSION, [Applicant(f"人{i}", f"組織{i}", "local")], today=NOW.date(), now=NOW)
        .registrations[0]
        .id
        for i in range(8)
    ]
    teams_now = form_teams(catalog, SESSION, now=NOW)
    mover = next(m for m in teams_now[1].members)
    with pytest.raises(TeamRuleError) as e:
        move_member(catalog, SESSION, mover.registration_id, 1, now=NOW)
    assert mover.registration_id in ids
    assert say(e.value, "ja") == (
        f"{mover.name}さん（#{mover.registration_id}）をチーム 1 に移すと"
        "チームの規則に反します：チーム 1 が5名になります（1チーム4名まで）。"
    )
    assert (
        say(e.value, "en")
        == e.value.en
        == (
            f"moving #{mover.registration_id} {mover.name} into team 1 breaks the team rules: "
            "team 1 would have 5 people (a team is at most four)"
        )
    )


def test_schedule_import_problems_say_the_old_japanese_and_english(tmp_path):
    from catalog import schedule_import

    catalog = make_catalog(tmp_path / "c.db")
    sheet = (
        "\n".join(
            [
                "course,prefecture,city,first,last,id,capacity",
                "A,広島県,広島,2024-11-05,,,",  # 2: fine
                "A,広島県,広島,2024-11-05,,,",  # 3: the same session again
                "C,広島県,広島,2024-11-05,2024-11-05,,",  # 4: C runs two days
                "A,広島県,呉,2024-11-02,,,",  # 5: a Saturday
                "A,広島県,福山,2024-11-06,,,,extra",
            ]
        )
        + "\n"
    )  # 6: a cell too many
    plan = schedule_import.read_and_plan(catalog.store, "s.csv", sheet.encode(), fiscal_year=2024)
    said = {p.line: (say(p.said, "ja"), say(p.said, "en")) for p in plan.blocking()}
    assert said[3] == (
        "3行目: 開催回 2024-A-34-1105 が重複しています（2行目にも）",
        "line 3: duplicate session 2024-A-34-1105 (also at line 2)",
    )
    assert said[4] == (
        "4行目: Cコースは2日間です。最終日は2024-11-06です（2024-11-05ではありません）。",
        "line 4: course C runs 2 day(s): the last day must be 2024-11-06, not 2024-11-05",
    )
    assert said[5] == (
        "5行目: 11月2日は土曜日です（土日・祝日の開催は確認が必要です）",
        "line 5: 2024-11-02 is a Saturday (confirm weekends to import it)",
    )
    assert said[6] == ("6行目: 見出しのない列に1個の値があります", "line 6: 1 cell(s) beyond the last column")
    error = plan.error()
    assert say(error, "ja").startswith("s.csv: 保存していません（4件の問題）: 3行目: 開催回 ")
    assert say(error, "en").startswith("s.csv: nothing saved, 4 problem(s): line 3: duplicate ")

    # the signed preview carries the weekend rows' dates, and says the same after the round trip
    back = schedule_import.ImportPlan.from_json(plan.to_json(), confirm_weekends=False)
    assert [(p.line, say(p.said, "ja"), say(p.said, "en")) for p in back.weekend_rows] == [(5, *said[5])]


def test_unknown_places_and_a_busy_database_say_one_language_each():
    from catalog import places
    from catalog.writer import DatabaseBusy

    with pytest.raises(places.UnknownPlace) as e:
        places.prefecture("広嶋")
    assert say(e.value.said, "ja").startswith("「広嶋」という地名が見つかりません。候補: 広島県")
    assert say(e.value.said, "en").startswith('Unknown place "広嶋"; did you mean: 広島県')
    assert say(DatabaseBusy("save").said, "ja").startswith("データベースが混み合っているため")
    assert say(DatabaseBusy("save").said, "en").startswith("The database is busy")
