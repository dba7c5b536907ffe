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
