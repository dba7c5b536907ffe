"""What the catalog says to people, as gettext message ids translated where it is shown.

catalog/ knows neither Telegram nor the .po files, so a domain error carries a `Lazy`
message — the English message id and its parameters, as pretix keys its errors to
`gettext_lazy` — and the door that shows it translates it (the chat and the web pages
through `bot.telegram.i18n.say`; the command line prints the English). The .po files
(bot/telegram/locales) stay the one place for the wording, in Japanese and English, and
tests/test_handlers_misc.py fails when a message id (`_l("...")` here) lacks a translation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Lazy:
    """A message id and the values for its `{placeholders}`."""

    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def render(self, gettext: Callable[[str], str]) -> str:
        """The message translated by `gettext`, its placeholders filled in."""
        return gettext(self.msgid).format(**self.params)

    def __str__(self) -> str:
        return self.render(lambda msgid: msgid)


def gettext_lazy(msgid: str, **params: Any) -> Lazy:
    """Mark `msgid` for translation where it is shown (`msgid` is the English text)."""
    return Lazy(msgid, params)
