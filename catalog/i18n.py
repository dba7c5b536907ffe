"""What the catalog says to people, as gettext message ids translated where it is shown.

catalog/ knows neither Telegram nor the .po files, so a domain error carries a `Lazy`
message — the English message id and its parameters, as pretix keys its errors to
`gettext_lazy` — and the door that shows it translates it (the chat and the web pages
through `bot.telegram.i18n.say`; the command line prints the English). The .po files
(bot/telegram/locales) stay the one place for the wording, in Japanese and English, and
tests/test_handlers_misc.py fails when a message id (`_l("...")` here) lacks a translation.

A bare word whose Japanese depends on where it is shown (an audit entry's "cancelled" is
取消, a registration's status 取消済) carries a gettext message context
(`pgettext_lazy("audit action", "cancelled")`, msgctxt in the .po files).

A parameter may itself be said: a `Lazy` (a reason inside a message), a `ByLang` (data
that has a Japanese and an English form, such as a course's name_ja/name_en, chosen by
the language it is shown in) or a `Joined` list of such; they are rendered in the same
language as the message around them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

Gettext = Callable[[str], str]


def _identity(msgid: str) -> str:
    return msgid


@dataclass(frozen=True)
class Lazy:
    """A message id and the values for its `{placeholders}`; `context` the gettext
    message context (msgctxt) of a word that needs one."""

    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)
    context: str | None = None

    def render(self, gettext: Gettext = _identity, lang: str = "en") -> str:
        """The message translated by `gettext`, its placeholders filled in (parameters that
        are said themselves rendered in `lang`, the language `gettext` translates into)."""
        params = {k: render(v, gettext, lang) if isinstance(v, _SAID) else v for k, v in self.params.items()}
        if self.context is None:
            return gettext(self.msgid).format(**params)
        # a compiled catalog keys a message with a context as "context\x04msgid"
        key = f"{self.context}\x04{self.msgid}"
        text = gettext(key)
        return (self.msgid if text == key else text).format(**params)

    def fill(self, **params: Any) -> Lazy:
        """This message with (more) values for its placeholders."""
        return replace(self, params={**self.params, **params})

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True)
class ByLang:
    """Text that is not a message id but comes in both languages: data (a course's
    name_ja/name_en, a rule's reason_ja/reason_en) or a domain error still given as an
    English/Japanese pair."""

    ja: str
    en: str

    def pick(self, lang: str) -> str:
        return self.en if lang.startswith("en") else self.ja

    def __str__(self) -> str:
        return self.en


@dataclass(frozen=True)
class Joined:
    """Things said one after another with `sep` between them (a `sep` that is said, such as
    `ByLang("。", "; ")`, takes the language of the message)."""

    sep: str | ByLang
    items: Sequence[Any]

    def __str__(self) -> str:
        return render(self, _identity, "en")


Said = Lazy | ByLang | Joined
_SAID = (Lazy, ByLang, Joined)  # for isinstance: `Lazy | ByLang | Joined` is built anew each time


def render(said: Any, gettext: Gettext = _identity, lang: str = "en") -> str:
    """`said` (a `Lazy`, a `ByLang`, a `Joined`, or plain text) in `lang`; `gettext`
    translates message ids into that language."""
    if isinstance(said, Lazy):
        return said.render(gettext, lang)
    if isinstance(said, ByLang):
        return said.pick(lang)
    if isinstance(said, Joined):
        return render(said.sep, gettext, lang).join(render(i, gettext, lang) for i in said.items)
    return str(said)


Say = Callable[[Any, str], str]
"""How a door says what the catalog says in a language: `bot.telegram.i18n.say`."""


def english(said: Any, lang: str = "en") -> str:
    """`said` in English whatever `lang` is: what the catalog says without the .po files
    (the default `Say` of functions that render text for a door that gives none)."""
    return render(said)


def gettext_lazy(msgid: str, **params: Any) -> Lazy:
    """Mark `msgid` for translation where it is shown (`msgid` is the English text)."""
    return Lazy(msgid, params)


def pgettext_lazy(context: str, msgid: str, **params: Any) -> Lazy:
    """As `gettext_lazy`, for a `msgid` translated differently in `context` (msgctxt)."""
    return Lazy(msgid, params, context)
