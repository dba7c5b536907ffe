"""Filters awaited on the event loop, and a cheap one for whole routers.

aiogram runs every synchronous filter through `asyncio.to_thread`: a bare magic filter
(`F.text`) or a bare state (`RegForm.name`) costs a thread hop each time a handler is
tried, and an update may try a dozen. A `Filter` subclass is awaited directly, so the
handlers write `Magic(F.text)` and `StateFilter(RegForm.name)` instead (same answers).

`ButtonOf` tells a button's kind from its data's prefix alone, `AnyCommand` a command
from its first character; as a router's own filters (`ROUTER_FILTERS` in a feature
module, see `bot.handlers`) they spare the router's handlers each update none of them
takes (each would parse the data or the command to say no).
"""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message, TelegramObject
from magic_filter import MagicFilter


class Magic(Filter):
    """`magic` (an aiogram `F` expression) checked against the event, on the loop."""

    __slots__ = ("magic",)

    def __init__(self, magic: MagicFilter) -> None:
        self.magic = magic

    async def __call__(self, event: TelegramObject) -> Any:
        return self.magic.resolve(event)

    def __str__(self) -> str:
        return f"Magic({self.magic!r})"


class ButtonOf(Filter):
    """A button whose callback data is of one of the kinds given (a CallbackData class:
    told by its prefix) or is exactly one of the buttons given (a CallbackData value:
    its packed data), told without parsing the data."""

    __slots__ = ("exact", "kinds", "prefixes", "separator")

    def __init__(self, *buttons: type[CallbackData] | CallbackData) -> None:
        self.kinds = tuple(b for b in buttons if isinstance(b, type))
        self.exact = frozenset(b.pack() for b in buttons if isinstance(b, CallbackData))
        separators = {kind.__separator__ for kind in self.kinds}
        if len(separators) > 1:
            raise ValueError("ButtonOf takes callback data kinds with one separator")
        self.separator = separators.pop() if separators else ":"
        self.prefixes = frozenset(kind.__prefix__ for kind in self.kinds)

    async def __call__(self, query: CallbackQuery) -> bool:
        data = query.data
        if data is None:
            return False
        return data in self.exact or data.split(self.separator, 1)[0] in self.prefixes

    def __str__(self) -> str:
        return f"ButtonOf({', '.join([k.__name__ for k in self.kinds] + sorted(self.exact))})"


class AnyCommand(Filter):
    """A message whose text (or caption) starts with "/" after any spaces: what aiogram's
    `Command` (prefix "/") reads as a command, so a router whose message handlers are all
    commands can let in only these."""

    async def __call__(self, message: Message) -> bool:
        text = message.text or message.caption or ""
        return text.lstrip().startswith("/")
