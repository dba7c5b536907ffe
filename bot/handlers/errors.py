"""Last resort: log an unexpected error and tell the user briefly (never crash polling)."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import gettext as _

from bot.telegram.resilience import where
from bot.telegram.writes import tell_not_saved
from catalog.writer import DatabaseBusy

log = logging.getLogger(__name__)

router = Router(name="errors")


@router.errors(ExceptionTypeFilter(DatabaseBusy))
async def on_busy(event: ErrorEvent) -> bool:
    """A write ran out of time while another process held the database: nothing was
    saved, and the person is told so, with the same button to try again."""
    log.warning("update %s: database busy, nothing saved", event.update.update_id)
    target = event.update.callback_query or event.update.message
    if target is not None:
        await tell_not_saved(target)
    return True


@router.errors()
async def on_error(event: ErrorEvent) -> bool:
    # Type and code location only: exception messages may carry what the user typed.
    exc = event.exception
    log.error(
        "error while handling update %s: %s at %s", event.update.update_id, type(exc).__name__, where(exc)
    )
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
