"""Translations: aiogram's I18n fed from the .po files, compiled in memory with Babel.

No compiled .mo files are committed: `PoI18n.find_locales()` reads each
`locales/<lang>/LC_MESSAGES/messages.po` and compiles it on start.
The user's language is their saved choice (/lang), else Telegram's
`language_code` (ja -> Japanese, anything else -> English).
"""

from __future__ import annotations

import functools
import gettext
import io
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from catalog.errors import CatalogError
from catalog.i18n import ByLang, Joined, Lazy, render

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
LANGS = ("ja", "en")


@functools.lru_cache(maxsize=8)
def _compile(po_path: Path, mtime: float) -> bytes:
    with po_path.open("rb") as fp:
        catalog = read_po(fp, locale=po_path.parent.parent.name, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    return buf.getvalue()


class PoI18n(I18n):
    """`I18n` that compiles the .po files in memory instead of reading .mo files."""

    def find_locales(self) -> dict[str, gettext.GNUTranslations]:
        translations: dict[str, gettext.GNUTranslations] = {}
        for folder in sorted(self.path.iterdir()):
            po = folder / "LC_MESSAGES" / f"{self.domain}.po"
            if not po.is_file():
                continue
            data = _compile(po, po.stat().st_mtime)
            translations[folder.name] = Translations(fp=io.BytesIO(data), domain=self.domain)
        return translations

    @contextmanager
    def context(self) -> Generator[I18n, None, None]:
        # ContextInstanceMixin keeps one ContextVar per class; aiogram's gettext reads I18n's.
        token = I18n.set_current(self)
        try:
            yield self
        finally:
            I18n.reset_current(token)


@functools.lru_cache(maxsize=1)
def create_i18n() -> PoI18n:
    """The shared translations object (read-only after loading)."""
    return PoI18n(path=LOCALES_DIR, default_locale="ja", domain=DOMAIN)


def lang_of(telegram_user: User | None, saved: str | None = None) -> str:
    """The language to talk in: the saved choice, else ja for Japanese Telegram, else en."""
    if saved in LANGS:
        return saved
    code = (telegram_user.language_code or "") if telegram_user else ""
    if not telegram_user:
        return "ja"
    return "ja" if code.lower().startswith("ja") else "en"


class UserI18nMiddleware(I18nMiddleware):
    """Locale from the user's saved language (set by the profile loader), else Telegram's."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        if "lang" in data:
            return str(data["lang"])
        return lang_of(data.get("event_from_user"))


def tr(text: str, lang: str) -> str:
    """Translate `text` into `lang` outside a handler's locale (e.g. a message to another user)."""
    return create_i18n().gettext(text, locale=lang)


def say(said: Lazy | ByLang | Joined | CatalogError | str, lang: str) -> str:
    """What the catalog says (a `Lazy` message, a `ByLang` pair, or a domain error) in
    `lang`, from the .po files; an error still given as an English/Japanese pair shows
    its pair, and plain text (a row check's English) is shown as it is."""
    message = said.said if isinstance(said, CatalogError) else said
    return render(message, lambda msgid: tr(msgid, lang), lang)


def N_(text: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    """Mark `text` for extraction; it is translated where it is shown."""
    return text
