"""Domain errors that carry the user-facing reason in Japanese and English."""

from __future__ import annotations


class CatalogError(Exception):
    """A domain error: `ja` and `en` are what the user is told; `code` is for programs."""

    code = "error"

    def __init__(self, en: str, ja: str | None = None, *, code: str | None = None) -> None:
        super().__init__(en)
        self.en = en
        self.ja = ja or en
        if code:
            self.code = code

    def text(self, lang: str = "ja") -> str:
        """The message in the user's language (Japanese unless `lang` starts with "en")."""
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
