"""Checks for text people type: names, organisations, e-mail addresses."""

from __future__ import annotations

import re
import unicodedata

from catalog.errors import InvalidInput
from catalog.i18n import gettext_lazy as _l

EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
LIMITS = {"name": 100, "organisation": 200, "department": 200, "email": 254}
LABELS = {
    "name": _l("name"),
    "organisation": _l("organisation"),
    "department": _l("department"),
    "email": _l("e-mail address"),
}


def clean_text(value: str | None, field: str, *, required: bool = True) -> str:
    """NFKC-normalised, trimmed text within the field's length; InvalidInput otherwise."""
    label = LABELS[field]
    text = unicodedata.normalize("NFKC", value or "").strip()
    text = re.sub(r"\s+", " ", text)
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise InvalidInput(_l("The {field} contains control characters.", field=label))
    if required and not text:
        raise InvalidInput(_l("Please enter your {field}.", field=label))
    limit = LIMITS[field]
    if len(text) > limit:
        raise InvalidInput(
            _l(
                "The {field} is too long ({n} characters; at most {limit}).",
                field=label,
                n=len(text),
                limit=limit,
            )
        )
    return text


# What people type to leave an optional field empty (compared after NFKC and casefolding).
SKIP_WORDS = frozenset(
    {
        "省略",
        "しょうりゃく",
        "なし",
        "無し",
        "ナシ",
        "特になし",
        "とくになし",
        "skip",
        "none",
        "n/a",
        "-",
        "--",
        "ー",
        "—",
        "–",
        "―",
        "‐",
    }
)


def is_skip(value: str | None) -> bool:
    """Whether the text means "leave it empty": 省略, なし, skip, none, - and the like."""
    text = unicodedata.normalize("NFKC", value or "").strip().casefold()
    text = text.strip("。.!！「」『』\"'")
    return text in SKIP_WORDS


def _has_letter(text: str) -> bool:
    """At least one letter of any script: Latin, kana, kanji (Unicode category L*)."""
    return any(unicodedata.category(ch).startswith("L") for ch in text)


def clean_name(value: str | None, field: str = "name") -> str:
    """`clean_text` for a person's or an organisation's name, which needs at least one
    letter or kana/kanji: 😀😀 or 123 is not a name."""
    text = clean_text(value, field)
    if not _has_letter(text):
        raise InvalidInput(_l("The {field} needs at least one letter, kana or kanji.", field=LABELS[field]))
    return text


def clean_email(value: str | None, *, required: bool = True) -> str:
    """A plausible e-mail address, lower-cased domain; InvalidInput otherwise."""
    text = clean_text(value, "email", required=required)
    if not text and not required:
        return ""
    if not EMAIL_RE.match(text):
        raise InvalidInput(
            _l("{text!r} does not look like an e-mail address (example: taro@city.example.lg.jp).", text=text)
        )
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


YES_WORDS = ("1", "true", "yes", "y", "t", "はい", "○", "◯", "〇")
NO_WORDS = ("", "0", "false", "no", "n", "f", "いいえ", "×", "✕", "✗")


def truthy(value: str | int | bool | None) -> bool:
    """A yes/no cell as offices write it: はい/いいえ, 1/0, true/false, ○/× (full-width,
    case and surrounding spaces ignored; empty is no). InvalidInput for anything else,
    so a typo is never read as "no"."""
    if isinstance(value, bool):
        return value
    text = unicodedata.normalize("NFKC", str(value if value is not None else "")).strip().lower()
    if text in NO_WORDS:
        return False
    if text in YES_WORDS:
        return True
    raise InvalidInput(
        _l("{value!r} is not a yes/no value (use はい/いいえ, 1/0, true/false or ○/×)", value=value)
    )
