"""A region's search results are headed by its name: 中国地方 in Japanese, Chugoku in
English (pinned as they read before the suffix moved to the .po files)."""

from __future__ import annotations

from bot.handlers.sessions import _title
from bot.telegram.callbacks import FindCB
from bot.telegram.i18n import create_i18n
from catalog import places


def titles(lang: str) -> list[str]:
    i18n = create_i18n()
    with i18n.context(), i18n.use_locale(lang):
        return [_title(FindCB(kind="r", key=str(i)), lang) for i in range(len(places.REGIONS))]


JA = ["北海道", "東北", "関東", "信越", "北陸", "東海", "近畿", "中国", "四国", "九州", "沖縄"]
EN = [
    "Hokkaido",
    "Tohoku",
    "Kanto",
    "Shinetsu",
    "Hokuriku",
    "Tokai",
    "Kinki",
    "Chugoku",
    "Shikoku",
    "Kyushu",
    "Okinawa",
]


def test_region_titles_read_as_before() -> None:
    assert titles("ja") == [f"<b>開催回: {r}地方</b>" for r in JA]
    assert titles("en") == [f"<b>Sessions: {r}</b>" for r in EN]
