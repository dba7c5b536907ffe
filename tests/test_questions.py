"""catalog.questions: course codes as people type them, a course and a place in either
order, and the common questions recognised before any place is guessed (issue 12)."""

from __future__ import annotations

import pytest

from catalog.questions import (
    Question,
    SearchText,
    courses_at_level,
    match_course,
    recognise,
    split_course,
)
from tests.util_catalog import make_catalog

CODES = ["A", "B-1", "B-2", "C", "PRE"]


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("A", "A"),
        ("a", "A"),
        ("Aコース", "A"),
        ("Ａコース", "A"),
        ("course A", "A"),
        ("B-1", "B-1"),
        ("b1", "B-1"),
        ("Ｂ－１", "B-1"),
        ("B－1コース", "B-1"),
        ("B-2", "B-2"),
        ("C", "C"),
        ("プレ", "PRE"),
        ("プレCYDER", "PRE"),
        ("pre-cyder", "PRE"),
        ("PRE", "PRE"),
    ],
)
def test_match_course(token: str, code: str) -> None:
    assert match_course(token, CODES) == code


@pytest.mark.parametrize("token", ["B", "D", "Aomori", "広島", "", "B-3", "a-1"])
def test_match_course_refuses(token: str) -> None:
    assert match_course(token, CODES) is None


def test_the_catalog_reads_courses_the_same_way(tmp_path) -> None:  # type: ignore[no-untyped-def]
    catalog = make_catalog(tmp_path / "q.db")
    assert catalog.course("Aコース").code == "A"  # was refused: コース folded to コ-ス first
    assert catalog.course("Ｂ－１").code == "B-1"
    assert catalog.course("プレ").code == "PRE"


@pytest.mark.parametrize(
    ("text", "course", "place"),
    [
        ("B-1 沖縄", "B-1", "沖縄"),
        ("沖縄 B-1", "B-1", "沖縄"),
        ("B-1沖縄", "B-1", "沖縄"),
        ("広島Aコース", "A", "広島"),
        ("Aコース 広島", "A", "広島"),
        ("B-1 Okinawa", "B-1", "Okinawa"),
        ("Okinawa b1", "B-1", "Okinawa"),
        ("course C Tokyo", "C", "Tokyo"),
        ("B-1", "B-1", ""),
        ("広島", None, "広島"),
        ("Aomori", None, "Aomori"),
        ("Chiba", None, "Chiba"),
    ],
)
def test_split_course(text: str, course: str | None, place: str) -> None:
    assert split_course(text, CODES) == SearchText(course, place)


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("無料ですか", Question("fee")),
        ("料金はいくら？", Question("fee")),
        ("Cコースの料金", Question("fee", "C")),
        ("Is it free?", Question("fee")),
        ("How much does course A cost?", Question("fee", "A")),
        ("初心者", Question("level", None, "beginner")),
        ("初級", Question("level", None, "beginner")),
        ("中級", Question("level", None, "intermediate")),
        ("レベル", Question("level")),
        ("Bコース", Question("level", None, "intermediate")),
        ("beginner", Question("level", None, "beginner")),
        ("Aコース", Question("course", "A")),
        ("A", Question("course", "A")),
        ("B-1", Question("course", "B-1")),
        ("B-2", Question("course", "B-2")),
        ("C", Question("course", "C")),
        ("プレ", Question("course", "PRE")),
        ("プレCYDERとは", Question("course", "PRE")),
        ("Aコースのレベル", Question("course", "A")),
        ("What is course C?", Question("course", "C")),
        ("締切", Question("deadline")),
        ("申込締切はいつ？", Question("deadline")),
        ("deadline", Question("deadline")),
        ("申込", Question("apply")),
        ("申し込み方法", Question("apply")),
        ("How do I apply?", Question("apply")),
        ("キャンセル", Question("cancel")),
        ("申込をキャンセルしたい", Question("cancel")),
        ("cancel", Question("cancel")),
    ],
)
def test_recognise(text: str, question: Question) -> None:
    assert recognise(text, CODES) == question


@pytest.mark.parametrize(
    "text",
    [
        "広島",
        "hiroshima",
        "倉吉",
        "Aomori",
        "呉市",
        "広島県広島市中区基町",
        "a company",
        "qwxzv plover",
        "キャンセル待ち",
        "",
    ],
)
def test_places_and_chatter_are_no_questions(text: str) -> None:
    assert recognise(text, CODES) is None


def test_courses_at_level_read_from_the_data(tmp_path) -> None:  # type: ignore[no-untyped-def]
    courses = make_catalog(tmp_path / "l.db").courses()
    assert [c.code for c in courses_at_level(courses, "beginner")] == ["A"]
    assert [c.code for c in courses_at_level(courses, "intermediate")] == ["B-1", "B-2"]
    assert [c.code for c in courses_at_level(courses, "advanced")] == ["C"]
    assert len(courses_at_level(courses, None)) == len(courses)
