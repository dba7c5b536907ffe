"""Reminders the day before a session, sent by the bot process, and staff broadcasts.

`run` is a background job (listed in `bot.serve.BACKGROUND_TASKS`): once a minute,
from `settings.reminder_hour` (JST) on, it reminds every chat user registered for a
session that starts tomorrow. At most once per person and session, even across
restarts: each reminder is claimed in the `notifications` table *before* it is sent
(insert-before-send, unique on kind + session + registration) and marked with the
result afterwards — see `catalog.reminders`. A crash between claim and send loses a
reminder instead of sending it twice. With mail on, everyone registered with an e-mail
address also gets it by mail: queued in the outbox once per registration
(`catalog.reminders.queue_mail_reminders`) and sent by the Notifier, whose mail names the
date instead of "tomorrow" when it goes out later than the day before.

All sending goes through the bot's one `Outbox` (`bot.telegram.outbox.Outboxes`, passed
with the Dispatcher's workflow data), so reminders, staff broadcasts and `/remind` share
Telegram's 30-per-second budget.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

from aiogram import html

from bot.config import Settings
from bot.telegram.i18n import tr
from bot.telegram.outbox import Outbox, Progress, Summary
from catalog import reminders as notes
from catalog.calendar import course_name
from catalog.clock import Clock
from catalog.service import Catalog
from catalog.sessions import Session
from catalog.writer import DatabaseBusy

log = logging.getLogger(__name__)

CHECK_EVERY = 60.0


def day_text(day: dt.date, lang: str) -> str:
    """10月25日（金） in Japanese, Fri 25 Oct in English."""
    if lang.startswith("en"):
        return f"{day:%a} {day.day} {day:%b}"
    return f"{day.month}月{day.day}日（{'月火水木金土日'[day.weekday()]}）"


def reminder_text(catalog: Catalog, session: Session, lang: str, today: dt.date | None = None) -> str:
    """ "Tomorrow: <session>" in the user's language (Telegram HTML, DB text escaped); sent
    on any other day than the day before (`today`), it says the session's date instead
    ("10月25日（金）の演習のお知らせ"), never "tomorrow"."""
    q = html.quote
    na = tr("(not announced yet)", lang)
    time = f"{session.start_time}–{session.end_time}" if (session.start_time and session.end_time) else na
    place = tr("{city}, {prefecture}", lang).format(city=session.city, prefecture=session.prefecture)
    if today is None or notes.is_day_before(session, today):
        head = tr("🔔 Reminder: your CYDER session is tomorrow.", lang)
    else:
        head = tr("🔔 About your CYDER session on {date}", lang).format(
            date=q(day_text(session.first_day, lang))
        )
    lines = [
        head,
        f"<b>{q(course_name(catalog, session.course, lang))}</b>",
        tr("📅 When: {dates}", lang).format(dates=q(session.dates_text(lang))),
        tr("🕘 Hours: {time}", lang).format(time=q(time)),
        tr("📍 Where: {place}", lang).format(place=q(place)),
        tr("🏢 At: {venue}", lang).format(venue=q(session.venue or na)),
        tr("Can't come? Please cancel in /my so someone on the waitlist gets your seat.", lang),
    ]
    return "\n".join(lines)


def broadcast_text(session: Session, text: str, lang: str) -> str:
    """A staff message to a session's registrants, with a header saying which session."""
    header = tr("📣 About your CYDER session on {dates}:", lang).format(
        dates=html.quote(session.dates_text(lang))
    )
    return f"{header}\n\n{html.quote(text)}"


def progress_render(lang: str) -> Callable[[Summary], str]:
    """How staff see a broadcast's progress (their one message, edited)."""

    def render(s: Summary) -> str:
        head = tr("✅ Done", lang) if s.done >= s.total else tr("⏳ Sending…", lang)
        return (
            head
            + "\n"
            + tr("{done}/{total} · sent {sent} · failed {failed} · blocked the bot {blocked}", lang).format(
                done=s.done, total=s.total, sent=s.sent, failed=s.failed, blocked=s.blocked
            )
        )

    return render


async def remind_session(
    outbox: Outbox,
    catalog: Catalog,
    clock: Clock,
    session: Session,
    *,
    progress: Progress | None = None,
    kind: str = notes.REMINDER,
) -> Summary:
    """Remind a session's registered chat users who have not had its `kind` of reminder
    yet (the day-before one unless staff send theirs on another day: `notes.staff_kind`)."""
    people = await asyncio.to_thread(notes.not_yet_reminded, catalog, session.id, kind)
    claimed = []
    for who in people:
        if await catalog.write(notes.claim, catalog, who, clock.now(), kind):
            claimed.append(who)
    by_chat = {who.user_id: who for who in claimed}

    async def record(chat_id: int, result: str) -> None:
        try:
            await catalog.write(notes.mark, catalog, by_chat[chat_id], result, clock.now(), kind)
        except DatabaseBusy:  # the claim stays: never sent twice, its result unrecorded
            log.warning("reminder to %s: result %s not recorded, database busy", chat_id, result)

    today = clock.today()
    messages = [(who.user_id, reminder_text(catalog, session, who.lang, today)) for who in claimed]
    return await outbox.broadcast(messages, progress=progress, on_result=record)


async def broadcast_session(
    outbox: Outbox, catalog: Catalog, session: Session, text: str, *, progress: Progress | None = None
) -> Summary:
    """Send staff's `text` to every registered chat user of a session."""
    people = await asyncio.to_thread(notes.recipients, catalog, session.id)
    messages = [(who.user_id, broadcast_text(session, text, who.lang)) for who in people]
    return await outbox.broadcast(messages, progress=progress)


async def tick(outbox: Outbox, catalog: Catalog, settings: Settings, clock: Clock) -> Summary:
    """One check: from the reminder hour on, remind everyone due for tomorrow's sessions."""
    total = Summary()
    if clock.now().hour < settings.reminder_hour:
        return total
    due = await asyncio.to_thread(notes.due_reminders, catalog, clock.today())
    for session, _people in due:
        s = await remind_session(outbox, catalog, clock, session)
        total.sent += s.sent
        total.failed += s.failed
        total.blocked += s.blocked
        total.total += s.total
        log.info("reminders for %s: sent %d, failed %d, blocked %d", session.id, s.sent, s.failed, s.blocked)
    if settings.mail_enabled:  # by mail too: queued once per person, sent by the Notifier
        mailed = await catalog.write(notes.queue_mail_reminders, catalog, clock.today(), clock.now())
        if mailed:
            log.info("reminders by mail: %d queued", mailed)
    return total


async def run(outbox: Outbox, settings: Settings, *, every: float = CHECK_EVERY) -> None:
    """Background job: check for due reminders once a minute, forever."""
    catalog, clock = outbox.catalog, outbox.clock
    while True:
        try:
            await tick(outbox, catalog, settings, clock)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reminder check failed; trying again in %.0f s", every)
        await asyncio.sleep(every)
