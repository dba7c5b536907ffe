"""Filters awaited on the event loop.

aiogram runs every synchronous filter through `asyncio.to_thread`: a bare magic filter
(`F.text`) or a bare state (`RegForm.name`) costs a thread hop each time a handler is
tried, and an update may try a dozen. A `Filter` subclass is awaited directly, so the
handlers write `Magic(F.text)` and `StateFilter(RegForm.name)` instead (same answers).
"""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.types import TelegramObject
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
