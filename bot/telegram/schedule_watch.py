"""Tell registrants in chat when their session changes, with the re-issued .ics.

Google Calendar refreshes subscriptions only every several hours, so chat is how
urgent changes travel. Every `INTERVAL` seconds the loop asks the catalog who
needs telling (`catalog.calendar.pending_change_notices`: the session's revision
is above the last one they were told about), queues each notice in the notification
outbox, claimed by this process (at most once per revision), and sends a short
message plus the invite — or, for a cancelled session, the CANCEL — as a document
(`bot.telegram.notify.send_row`). A passing failure drops the claim so the next pass
tries again; a notice left claimed by a process that died is sent by the next one at
start-up (`Notifier.run`). With mail on, each registrant whose invite went by mail gets
the update (or the cancel) by mail too: queued here once per revision
(`catalog.calendar.queue_change_mails`), sent by the Notifier's job. Logs carry
registration ids and error types, never names, e-mail addresses or message texts.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.config import Settings
from bot.telegram.notify import OWNER, RETRY, change_message, send_row
from bot.telegram.outbox import Outbox
from catalog import calendar
from catalog import notifications as nt
from catalog import reminders as chats
from catalog.clock import Clock
from catalog.service import Catalog

log = logging.getLogger("cyder.schedule_watch")

INTERVAL = 60.0

message = change_message  # the chat text for one notice (plain text, only the session)


async def notify(
    bot: Any, catalog: Catalog, notice: calendar.ChangeNotice, settings: Settings, clock: Clock
) -> str:
    """Claim and send one notice; returns sent, blocked, failed, retry or skipped."""
    if not await catalog.write(
        calendar.mark_notified, catalog, notice, now=clock.now(), result="sending", claimed_by=OWNER
    ):
        return "skipped"
    if await asyncio.to_thread(chats.is_blocked, catalog.store, notice.user_id):
        await catalog.write(calendar.finish_notice, catalog, notice, "blocked")
        return "blocked"
    row_id = calendar.change_notice_id(catalog, notice)  # reads stay on the loop
    row = nt.get(catalog.store, row_id) if row_id else None
    if row is None:
        return "skipped"
    result = await send_row(bot, catalog, settings, clock, row)
    if result == RETRY:
        log.warning("change notice for registration %s: passing failure, will retry", notice.registration_id)
        await catalog.write(calendar.release_notice, catalog, notice, now=clock.now())
        return "retry"
    if result == nt.SKIPPED:
        result = "failed"  # pending_change_notices listed it, so it was there to tell
    await catalog.write(calendar.finish_notice, catalog, notice, result)
    return result


async def check_once(bot: Any, catalog: Catalog, settings: Settings, clock: Clock) -> dict[str, int]:
    """One pass: tell everyone who needs telling. Returns counts by result."""
    counts: dict[str, int] = {}
    notices = await asyncio.to_thread(calendar.pending_change_notices, catalog)
    for notice in notices:
        result = await notify(bot, catalog, notice, settings, clock)
        counts[result] = counts.get(result, 0) + 1
    if notices:
        log.info("schedule changes: %s", ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    if settings.mail_enabled:  # the mail (UPDATE or CANCEL): queued, sent by the Notifier
        mailed = await catalog.write(calendar.queue_change_mails, catalog, now=clock.now())
        if mailed:
            log.info("schedule changes: %d mail(s) queued", mailed)
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
