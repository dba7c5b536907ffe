"""What nothing else handled: unknown messages get help; unknown buttons have expired."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

from bot.telegram import keyboards as kb
from bot.telegram.filters import Magic

router = Router(name="fallback")


def expired_text() -> str:
    return _("This button has expired.")


def expire(callback_answer: CallbackAnswer) -> None:
    """Answer a stale or forged button with "this button has expired" (and do nothing)."""
    callback_answer.text = expired_text()
    callback_answer.show_alert = True


@router.callback_query()
async def expired(callback: CallbackQuery, callback_answer: CallbackAnswer) -> None:
    expire(callback_answer)


@router.message(Magic(F.chat.type == "private"))
async def unknown(message: Message) -> None:
    await message.answer(
        _(
            "Sorry, I did not understand that. Type a place (広島, Sapporo…) or choose below. "
            "/help lists everything."
        ),
        reply_markup=kb.main_menu(),
    )
