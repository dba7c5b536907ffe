"""Last resort: log an unexpected error and tell the user briefly (never crash polling)."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import gettext as _

log = logging.getLogger(__name__)

router = Router(name="errors")


@router.errors()
async def on_error(event: ErrorEvent) -> bool:
    log.exception("error while handling update %s", event.update.update_id,
                  exc_info=event.exception)
    update = event.update
    text = _("Sorry, something went wrong. Please try again.")
    try:
        if update.callback_query:
            await update.callback_query.answer(text, show_alert=True)
        elif update.message:
            await update.message.answer(text)
    except Exception:
        log.warning("could not report the error to the user", exc_info=True)
    return True
