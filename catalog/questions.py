"""What a line typed in the chat asks for: a course, a course and a place, or one of the
common questions (is it free, which level, when is the deadline, how to apply, how to
cancel). Pure text rules: the chat, the CLI and any later front end share them.

`recognise()` runs before a place is guessed, so 無料ですか is answered with the fees
and not with 「もしかして: 春日部市」; `split_course()` takes a course and a place in
either order (B-1 沖縄, 沖縄 B-1, 広島Aコース).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

__all__ = [
    "Intent",
    "Level",
    "Question",
    "SearchText",
    "courses_at_level",
    "match_course",
    "recognise",
    "split_course",
]

Intent = Literal["fee", "level", "course", "deadline", "apply", "cancel"]
Level = Literal["beginner", "intermediate", "advanced"]

# Spellings of a course code, after folding (NFKC, casefold, no spaces, no コース/course).
_ALIASES = {
    "b1": "b-1",
    "b2": "b-2",
    "プレ": "pre",
    "ぷれ": "pre",
    "プレcyder": "pre",
    "ぷれcyder": "pre",
    "プレサイダー": "pre",
    "precyder": "pre",
    "pre-cyder": "pre",
    "online": "pre",
    "オンライン": "pre",
}
_COURSE_WORDS = ("コース", "こーす", "course")
_DASHES = {ord(c): "-" for c in "ー－‐‑–—―−"}


def _fold(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).casefold()


def match_course(token: str, codes: Iterable[str]) -> str | None:
    """The course code `token` names, as people type it: A, a, Aコース, course A, B1, b-1,
    Ｂ－１, B-1コース, C, プレ, プレCYDER, pre-cyder. None when it names none of `codes`."""
    key = _fold(token)
    for word in _COURSE_WORDS:
        key = key.replace(word, "")
    key = _ALIASES.get(key, key)
    key = _ALIASES.get(key.translate(_DASHES), key.translate(_DASHES))
    for code in codes:
        if code.casefold() == key:
            return code
    return None


@dataclass(frozen=True)
class SearchText:
    """A search typed as text: a course code (or None) and the place part ("" if none)."""

    course: str | None
    place: str


# A course code glued to a Japanese place: B-1沖縄, 沖縄B-1, 広島Aコース, プレ東京.
_CODE = r"(?:プレ(?:cyder)?|pre(?:-?cyder)?|[abc](?:[-－]?[12])?)(?:コース|course)?"
_GLUED_FRONT = re.compile(rf"^({_CODE})(?=[^\x00-\x7f])", re.IGNORECASE)
_GLUED_BACK = re.compile(rf"(?<=[^\x00-\x7f])({_CODE})$", re.IGNORECASE)


def split_course(text: str, codes: Sequence[str]) -> SearchText:
    """Split "B-1 沖縄", "沖縄 B-1", "Aコース 広島", "広島Aコース" into course and place."""
    s = unicodedata.normalize("NFKC", text).strip()
    whole = match_course(s, codes)
    if whole is not None:
        return SearchText(whole, "")
    tokens = s.split()
    if len(tokens) >= 2:
        # "course A 広島", "A course Hiroshima": the word and the code as two tokens
        for i in range(len(tokens) - 1):
            pair = tokens[i] + tokens[i + 1]
            if any(w in pair.casefold() for w in _COURSE_WORDS):
                code = match_course(pair, codes)
                if code is not None:
                    return SearchText(code, " ".join(tokens[:i] + tokens[i + 2 :]))
        for i, token in enumerate(tokens):
            code = match_course(token, codes)
            if code is not None:
                return SearchText(code, " ".join(tokens[:i] + tokens[i + 1 :]))
    for pattern in (_GLUED_FRONT, _GLUED_BACK):
        m = pattern.search(s)
        if m:
            code = match_course(m.group(1), codes)
            if code is not None:
                return SearchText(code, (s[: m.start()] + s[m.end() :]).strip())
    return SearchText(None, s)


@dataclass(frozen=True)
class Question:
    """A recognised question: what it is about, and the course or level it names."""

    intent: Intent
    course: str | None = None
    level: Level | None = None


# Keywords by intent, in the order they win when a line has several (申込締切 is about
# the deadline, 申込のキャンセル about cancelling, 初心者でも無料? about the fee).
_KEYWORDS: tuple[tuple[Intent, tuple[str, ...]], ...] = (
    ("cancel", ("キャンセル", "取消", "取り消", "取りやめ", "cancel", "cancellation")),
    (
        "deadline",
        (
            "締切",
            "締め切",
            "〆切",
            "しめきり",
            "期限",
            "いつまで",
            "deadline",
            "deadlines",
            "closing date",
            "until when",
        ),
    ),
    (
        "fee",
        (
            "無料",
            "有料",
            "料金",
            "費用",
            "受講料",
            "参加費",
            "いくら",
            "値段",
            "金額",
            "お金",
            "タダ",
            "fee",
            "fees",
            "cost",
            "costs",
            "price",
            "prices",
            "free",
            "pay",
            "paid",
            "charge",
            "how much",
        ),
    ),
    (
        "level",
        (
            "初心者",
            "初級",
            "中級",
            "上級",
            "レベル",
            "難易度",
            "難しい",
            "むずかしい",
            "入門",
            "初めて",
            "beginner",
            "beginners",
            "novice",
            "level",
            "levels",
            "difficulty",
            "intermediate",
            "advanced",
            "basic",
        ),
    ),
    (
        "apply",
        (
            "申込",
            "申し込",
            "申請",
            "応募",
            "参加したい",
            "受講したい",
            "参加方法",
            "apply",
            "application",
            "register",
            "registration",
            "sign up",
            "signup",
            "enrol",
            "enroll",
        ),
    ),
)
_LEVEL_WORDS: tuple[tuple[Level, tuple[str, ...]], ...] = (
    ("advanced", ("準上級", "上級", "advanced", "expert")),
    ("intermediate", ("中級", "intermediate")),
    ("beginner", ("初心者", "初級", "入門", "初めて", "beginner", "beginners", "novice", "basic")),
)
# "B" alone names two courses (B-1 for local governments, B-2 for everyone else).
_B_FAMILY = frozenset({"b", "bコース", "courseb", "bcourse"})
# Not the cancel question: キャンセル待ち is the waitlist.
_NOT_CANCEL = ("キャンセル待ち", "waitlist", "waiting list")
# A course code inside a sentence: upper-case A/B-1/C standing alone, a code beside
# コース/course, or プレ(CYDER).
_CODE_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9])(B-?[12]|[ABC])(?![A-Za-z0-9-])"
    r"|(?:course\s*)([abc](?:-?[12])?)(?![a-z0-9])"
    r"|(?<![a-z0-9])([abc](?:-?[12])?)\s*(?:コース|course)"
    r"|(プレ(?:cyder)?|pre-?cyder)",
    re.IGNORECASE,
)
# A capital letter only counts when written so ("a company" is no course A).
_UPPER_CODE = re.compile(r"(?<![A-Za-z0-9])(B-?[12]|[ABC])(?![A-Za-z0-9-])")


def _has(text: str, word: str) -> bool:
    if word.isascii():
        return re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", text) is not None
    return word in text


def _course_in(text: str, codes: Sequence[str]) -> str | None:
    for m in _CODE_IN_TEXT.finditer(text):
        if m.group(1) and not _UPPER_CODE.fullmatch(m.group(1)):
            continue
        token = next(g for g in m.groups() if g)
        code = match_course(token, codes)
        if code is not None:
            return code
    return None


def recognise(text: str, codes: Sequence[str]) -> Question | None:
    """The common question `text` asks, or None (then it may be a place).

    無料ですか → fee; 初心者 → level (beginner); Aコース → course A; 締切は? → deadline;
    申込方法 → apply; キャンセルしたい → cancel. A course named beside a question is kept
    (Cコースの料金 → fee, course C); a course with a level word is that course's card."""
    s = unicodedata.normalize("NFKC", text).strip()
    if not s:
        return None
    whole = match_course(s, codes)
    if whole is not None:
        return Question("course", whole)
    folded = s.casefold()
    if _fold(s) in _B_FAMILY:
        return Question("level", None, "intermediate")  # B is B-1 and B-2
    course = _course_in(s, codes)
    cancel_text = folded
    for phrase in _NOT_CANCEL:
        cancel_text = cancel_text.replace(phrase, "")
    for intent, words in _KEYWORDS:
        haystack = cancel_text if intent == "cancel" else folded
        if any(_has(haystack, w) for w in words):
            if intent == "level":
                if course is not None:
                    return Question("course", course)
                level = next((lv for lv, ws in _LEVEL_WORDS if any(_has(folded, w) for w in ws)), None)
                return Question("level", None, level)
            return Question(intent, course)
    if course is not None and _only_course_words(folded):
        return Question("course", course)
    return None


_QUESTION_TAIL = re.compile(
    r"(?:について|とは|って|は|を|の|ですか|ですか\?|教えて|教えてください|詳細|詳しく|内容|"
    r"what is|what's|about|tell me|details|info|information|コース|course|\?|？|!|。|、|\s)+"
)


def _only_course_words(folded: str) -> bool:
    """Whether, the course code and question words aside, nothing is left (Aコースとは?)."""
    rest = _CODE_IN_TEXT.sub("", folded)
    return not _QUESTION_TAIL.sub("", rest).strip()


class _Levelled(Protocol):
    @property
    def code(self) -> str: ...

    @property
    def level_en(self) -> str: ...


_C = TypeVar("_C", bound=_Levelled)


def courses_at_level(courses: Sequence[_C], level: Level | None) -> list[_C]:
    """The courses of one level, read from each course's (English) level in the data:
    beginner → A (Beginner), intermediate → B-1, B-2, advanced → C (Semi-advanced)."""
    if level is None:
        return list(courses)
    return [c for c in courses if level in c.level_en.casefold()]
