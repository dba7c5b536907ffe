"""Tell registrants in chat when their session changes, with the re-issued .ics.

Google Calendar refreshes subscriptions only every several hours, so chat is how
urgent changes travel. Every `INTERVAL` seconds the loop asks the catalog who
needs telling (`catalog.calendar.pending_change_notices`: the session's revision
is above the last one they were told about), claims each notice (at most once per
revision) and sends a short message plus the invite — or, for a cancelled
session, the CANCEL — as a document. Logs carry registration ids and error types,
never names, e-mail addresses or message texts.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram.exceptions import (
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile

from bot.config import Settings
from bot.telegram.outbox import Outbox
from catalog import calendar
from catalog import reminders as chats
from catalog.clock import Clock
from catalog.registrations import get_registration
from catalog.service import Catalog
from catalog.users import get_user

log = logging.getLogger("cyder.schedule_watch")

INTERVAL = 60.0
PASSING = (TelegramNetworkError, TelegramServerError, TelegramRetryAfter)


def message(catalog: Catalog, notice: calendar.ChangeNotice, lang: str) -> str:
    """The chat text for one notice (plain text, no user data besides the session)."""
    session = catalog.session(notice.session_id)
    title = calendar.summary(catalog, session, lang)
    if lang == "en":
        if notice.session_cancelled:
            return (f"❗ {title} ({session.dates_text('en')}) has been cancelled. "
                    "The attached file removes it from your calendar.")
        return (f"🔔 {title} has changed: {session.dates_text('en')}, "
                f"{calendar.location(session, 'en')}. The attached file updates your calendar.")
    if notice.session_cancelled:
        return (f"❗ {title}（{session.dates_text('ja')}）は中止になりました。"
                "添付のファイルでカレンダーから削除できます。")
    return (f"🔔 {title} の内容が変更されました: {session.dates_text('ja')}、"
            f"{calendar.location(session, 'ja')}。添付のファイルでカレンダーを更新できます。")


def _prepare(catalog: Catalog, notice: calendar.ChangeNotice,
             organizer: str) -> tuple[str, calendar.CalendarFile]:
    user = get_user(catalog.store, notice.user_id)
    lang = "en" if user and (user.lang or "").startswith("en") else "ja"
    reg = get_registration(catalog, notice.registration_id)
    build = calendar.cancel_file if notice.session_cancelled else calendar.invite_file
    return message(catalog, notice, lang), build(catalog, reg, lang=lang, organizer=organizer)


async def notify(bot: Any, catalog: Catalog, notice: calendar.ChangeNotice,
                 settings: Settings, clock: Clock) -> str:
    """Claim and send one notice; returns sent, blocked, failed, retry or skipped."""
    if not await catalog.write(calendar.mark_notified, catalog, notice, now=clock.now(),
                               result="sending"):
        return "skipped"
    if await asyncio.to_thread(chats.is_blocked, catalog.store, notice.user_id):
        await catalog.write(calendar.finish_notice, catalog, notice, "blocked")
        return "blocked"
    try:
        text, file = await asyncio.to_thread(_prepare, catalog, notice, settings.organizer_email)
        await bot.send_message(notice.user_id, text)
        await bot.send_document(notice.user_id,
                                BufferedInputFile(file.data, filename=file.filename))
        result = "sent"
    except TelegramForbiddenError:
        await catalog.write(chats.block_chat, catalog.store, notice.user_id, clock.now())
        result = "blocked"
    except PASSING as e:
        log.warning("change notice for registration %s: %s, will retry",
                    notice.registration_id, type(e).__name__)
        await catalog.write(calendar.release_notice, catalog, notice)
        return "retry"
    except Exception as e:  # a bad request or our own bug: log it, never resend
        log.warning("change notice for registration %s failed: %s",
                    notice.registration_id, type(e).__name__)
        result = "failed"
    await catalog.write(calendar.finish_notice, catalog, notice, result)
    return result


async def check_once(bot: Any, catalog: Catalog, settings: Settings,
                     clock: Clock) -> dict[str, int]:
    """One pass: tell everyone who needs telling. Returns counts by result."""
    counts: dict[str, int] = {}
    notices = await asyncio.to_thread(calendar.pending_change_notices, catalog)
    for notice in notices:
        result = await notify(bot, catalog, notice, settings, clock)
        counts[result] = counts.get(result, 0) + 1
    if notices:
        log.info("schedule changes: %s", ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    return counts


async def run(outbox: Outbox, settings: Settings, *, interval: float = INTERVAL) -> None:
    """The background loop the runner starts beside the bot (its outbox carries the bot,
    the catalog and the clock); cancelled on shutdown."""
    while True:
        try:
            await check_once(outbox.bot, outbox.catalog, settings, outbox.clock)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.error("schedule watch pass failed: %s", type(e).__name__)
        await asyncio.sleep(interval)
