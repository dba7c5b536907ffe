"""Saving from chat while the database may be busy.

Every chat write goes through `save(event, catalog, fn, ...)`: the write runs off the
event loop (`Catalog.write`), so while another process holds SQLite's write lock
everyone else is still answered at once. The person whose write waits is told plainly,
on the message whose button they pressed (its buttons go, so it is not pressed twice):
"Busy, your application is being saved…". When the write gets through, the handler
answers as usual (it replaces that message); when the lock is held longer than the
writer's budget, `catalog.writer.DatabaseBusy` reaches the errors router, which says
that nothing was saved and offers the same button again (`tell_not_saved`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

from bot.telegram.i18n import N_
from catalog.service import Catalog

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY = N_("Busy: saving, one moment…")
BUSY_APPLICATION = N_("Busy, your application is being saved… You will see the result here.")
NOT_SAVED = N_(
    "The database is busy, so this was not saved (nothing was changed). Please try again in a minute."
)
TRY_AGAIN = N_("Try again")


async def tell(event: Message | CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Put `text` on the message whose button was pressed (else send it); never raises."""
    try:
        if isinstance(event, CallbackQuery):
            if isinstance(event.message, Message):
                try:
                    await event.message.edit_text(text, reply_markup=markup)
                    return
                except TelegramAPIError:
                    pass  # e.g. too old to edit: say it in a new message
            if event.bot is not None:
                await event.bot.send_message(event.from_user.id, text, reply_markup=markup)
            return
        await event.answer(text, reply_markup=markup)
    except Exception as e:  # noqa: BLE001 - telling is best effort
        log.warning("could not tell user about the busy database: %s", type(e).__name__)


async def save(
    event: Message | CallbackQuery,
    catalog: Catalog,
    fn: Callable[..., T],
    /,
    *args: Any,
    notice: str = BUSY,
    callback_answer: CallbackAnswer | None = None,
    quick: bool = True,
    **kwargs: Any,
) -> T:
    """`await catalog.write(fn, *args, **kwargs)`, telling the person `notice` (a msgid,
    translated here) if the write has to wait for the database. With `callback_answer`,
    the button press is answered at that moment too (its spinner stops). A chat's write
    is a short one (a person's own rows): done on the loop when the lock is free
    (`Catalog.write`'s `quick`); `quick=False` for what may take longer (forming teams)."""

    async def on_busy() -> None:
        text = _(notice)
        if (
            isinstance(event, CallbackQuery)
            and callback_answer is not None
            and not callback_answer.answered
            and not callback_answer.disabled
        ):
            callback_answer.disable()  # answered here, not after the handler
            try:
                await event.answer(text)
            except TelegramAPIError as e:
                log.info("could not answer the button press: %s", type(e).__name__)
        await tell(event, text)

    return await catalog.write(fn, *args, on_busy=on_busy, quick=quick, **kwargs)


async def tell_not_saved(event: Message | CallbackQuery) -> None:
    """After `DatabaseBusy`: nothing was saved; offer the same button again."""
    markup = None
    if isinstance(event, CallbackQuery) and event.data:
        markup = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="🔄 " + _(TRY_AGAIN), callback_data=event.data)]]
        )
    await tell(event, "⚠️ " + _(NOT_SAVED), markup)
