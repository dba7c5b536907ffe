"""Last resort: log an unexpected error and tell the user briefly (never crash polling)."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import gettext as _

from bot.telegram.resilience import where

log = logging.getLogger(__name__)

router = Router(name="errors")


@router.errors()
async def on_error(event: ErrorEvent) -> bool:
    # Type and code location only: exception messages may carry what the user typed.
    exc = event.exception
    log.error("error while handling update %s: %s at %s", event.update.update_id,
              type(exc).__name__, where(exc))
    update = event.update
    text = _("Sorry, something went wrong. Please try again.")
    try:
        if update.callback_query:
            await update.callback_query.answer(text, show_alert=True)
        elif update.message:
            await update.message.answer(text)
    except Exception as e:  # noqa: BLE001 - reporting is best effort
        log.warning("could not report the error to the user: %s", type(e).__name__)
    return True
