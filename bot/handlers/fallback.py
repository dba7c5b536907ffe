"""What nothing else handled: unknown messages get help; unknown buttons have expired."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot import keyboards as kb

router = Router(name="fallback")


def expired_text() -> str:
    return _("This button has expired.")


@router.callback_query()
async def expired(callback: CallbackQuery) -> None:
    await callback.answer(expired_text(), show_alert=True)


@router.message()
async def unknown(message: Message) -> None:
    await message.answer(
        _("Sorry, I did not understand that. Type a place (広島, Sapporo…) or choose below. "
          "/help lists everything."), reply_markup=kb.main_menu())
