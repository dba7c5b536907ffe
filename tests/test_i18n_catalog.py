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
    message = gettext_lazy("team {team!r} already has {n} people; a team is at most {size}",
                           team="HIRO", n=4, size=4)
    assert str(message) == "team 'HIRO' already has 4 people; a team is at most 4"
    assert say(message, "en") == str(message)
    assert say(message, "ja") == "チーム 'HIRO' はすでに4名です（1チーム4名まで）。"


def test_an_error_shows_its_message_in_each_language(tmp_path):
    catalog = make_catalog(tmp_path / "c.db")
    for i in range(4):
        register(catalog, SESSION, [Applicant(f"p{i}", "広島市", "local")], today=NOW.date(),
                 now=NOW, team_key="HIRO")
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
    for call in (lambda: clean_text("", "organisation"),
                 lambda: clean_text("x" * 101, "name"),
                 lambda: truthy("たぶん"),
                 lambda: console.clean_reason("x" * 1000),
                 lambda: imports.decode(b"\xff\xfe\xfa")):
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
    assert say(contractor.reason, "ja") == ("外部委託先（請負）は民間事業者扱いとなります。"
                                            "受講料は77,000円（税込）です。")
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
    assert rows["A"]["reason_en"] == ("Staff of a local government (prefecture or municipality) "
                                      "attend free of charge.")
    assert rows["A"]["reason_ja"] == "地方公共団体（都道府県・市区町村）の職員は無料で受講できます。"
