"""Domain errors that carry the user-facing reason: a gettext message (`catalog.i18n`),
or, where not yet converted, the reason in English and Japanese."""

from __future__ import annotations

from catalog.i18n import ByLang, Joined, Lazy, Said


class CatalogError(Exception):
    """A domain error: `message` (or `ja` and `en`) is what the user is told; `code` is for
    programs. Show it with `bot.telegram.i18n.say(error, lang)`; `str(error)` and `en` are
    the English (what the command line prints)."""

    code = "error"

    def __init__(self, en: str | Said, ja: str | None = None, *, code: str | None = None) -> None:
        self.message: Said | None = en if isinstance(en, Lazy | ByLang | Joined) else None
        super().__init__(str(en))
        self.en = str(en)
        self.ja = ja or self.en
        if code:
            self.code = code

    @property
    def said(self) -> Said:
        """What the error says, to put inside another message (`_l("{x}", x=e.said)`)."""
        return self.message if self.message is not None else ByLang(self.ja, self.en)

    def text(self, lang: str = "ja") -> str:
        """The message in the user's language for an error given as an English/Japanese pair
        (a `message` is translated by the door that shows it: `bot.telegram.i18n.say`)."""
        return self.en if lang.startswith("en") else self.ja


class NotFound(CatalogError):
    code = "not_found"


class InvalidInput(CatalogError):
    code = "invalid"


class ScheduleError(CatalogError):
    """A schedule file that cannot be loaded: names the file, the line and the reason
    (`field` is the key at fault, when there is one)."""

    code = "schedule"

    def __init__(self, path: str, line: int | None, reason: str, *, field: str | None = None) -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason
        self.field = field
