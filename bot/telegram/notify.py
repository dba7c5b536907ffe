"""The sender of the notification outbox (`catalog.notifications`): what a change queued
in its own transaction is delivered here, after the commit.

- At once: a handler that registered, cancelled or freed a seat passes `Notifier.notify`
  to the catalog call (which queues the rows already claimed by this process) and then
  awaits `Notifier.deliver` — the person still gets the confirmation straight away.
- Later: `Notifier.run`, a background job, sends at start-up what an earlier process
  left (its claims are released first), retries passing failures with backoff (row by
  row, `next_attempt_at`), and sends everything waiting at once when the bot's retry
  layer sees Telegram answer again after an outage.
- Nobody is told twice: a row is claimed before it is sent and marked after; a message
  of several parts (the text, then the calendar file) records each part it sent.

One dispatch point per channel (`Notifier.channels`): "telegram" is here, "email" is
`bot.mail.outbox.MailChannel` (SMTP from the settings; without SMTP_HOST it marks e-mail
rows skipped, so none waits forever). Both are wired by the Notifier itself, so the
handlers' `notify` queues e-mail rows too, and rows queued without one (staff, the CLI,
the web) are sent by the background job.

`FollowUpMiddleware` covers the answers that are not in the outbox: when a handler's
reply still fails after every retry, the chat id and the method are logged (never the
text) and one follow-up is queued for that chat, sent once Telegram answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import os
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from aiogram import BaseMiddleware, Bot, html
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardMarkup,
    Message,
    TelegramObject,
    Update,
)

from bot.config import Settings
from bot.mail.outbox import MailChannel
from bot.telegram import keyboards as kb
from bot.telegram.i18n import create_i18n, tr
from bot.telegram.outbox import Outbox, Outboxes
from bot.telegram.resilience import error_code, is_passing, retry_layer, where
from catalog import calendar, places
from catalog import notifications as nt
from catalog import registrations as regs
from catalog import reminders as chats
from catalog.clock import Clock
from catalog.errors import NotFound
from catalog.service import Catalog
from catalog.sessions import Session
from catalog.users import get_user

log = logging.getLogger("cyder.notify")

# One sending process per database: its claims carry this mark; a new process releases
# the marks of earlier ones (they died holding them).
OWNER = f"{os.getpid()}-{secrets.token_hex(4)}"

# Kinds this sender renders. Chat reminders are sent (at most once) by
# bot.telegram.reminders and never pending here; mail reminders are queued for this sender.
KINDS = (
    nt.REGISTERED,
    nt.WAITLISTED,
    nt.PROMOTED,
    nt.CANCELLED,
    nt.SESSION_CHANGED,
    nt.UNDELIVERED,
    nt.REMINDER,
    nt.CORRECTED,
    nt.STAFF_CANCELLED,
    nt.MOVED,
)

RETRY = nt.RETRY  # a passing failure: the row is tried again later

Channel = Callable[[Bot, nt.Notification, bool], Awaitable[str]]


@dataclass(frozen=True)
class Text:
    """A chat message; with `edit`, it replaces that message of the bot (else is sent)."""

    text: str
    markup: InlineKeyboardMarkup | None = None
    edit: int | None = None


@dataclass(frozen=True)
class Document:
    file: calendar.CalendarFile
    caption: str = ""


Part = Text | Document


# -- what each kind says ------------------------------------------------------------------------


def _lang(catalog: Catalog, row: nt.Notification) -> str:
    lang = row.payload.get("lang")
    if lang in ("ja", "en"):
        return str(lang)
    user = get_user(catalog.store, row.chat_id) if row.chat_id is not None else None
    return "en" if user and (user.lang or "").startswith("en") else "ja"


def _place_text(s: Session, lang: str) -> str:
    """As the handlers write it (bot.handlers.common.place_text)."""
    if lang == "en":
        city = calendar.city_en(s.prefecture_code, s.city)
        pref = places.prefecture(s.prefecture_code).romaji
        return city if city == pref else f"{city} ({pref})"
    return f"{s.city}（{s.prefecture}）"


def change_message(catalog: Catalog, notice: calendar.ChangeNotice, lang: str) -> str:
    """The chat text telling a registrant that their session changed (or was cancelled)."""
    session = catalog.session(notice.session_id)
    lang = "en" if lang == "en" else "ja"
    title = calendar.summary(catalog, session, lang)
    if notice.session_cancelled:
        return tr(
            "❗ {title} ({dates}) has been cancelled. The attached file removes it from your calendar.", lang
        ).format(title=title, dates=session.dates_text(lang))
    return tr(
        "🔔 {title} has changed: {dates}, {place}. The attached file updates your calendar.", lang
    ).format(title=title, dates=session.dates_text(lang), place=calendar.location(session, lang))


def _what(catalog: Catalog, session: Session, lang: str) -> str:
    """A session as staff's messages name it: course (dates, place), HTML-quoted."""
    return html.quote(
        tr("{course} ({dates}, {place})", lang).format(
            course=calendar.course_name(catalog, session.course, lang),
            dates=session.dates_text(lang),
            place=_place_text(session, lang),
        )
    )


def _staff_cancelled(
    catalog: Catalog, reg: regs.Registration, row: nt.Notification, lang: str, organizer: str
) -> list[Part] | None:
    """Staff cancelled `reg`: the reason, and the calendar CANCEL of the person's own seat."""
    if reg.status != "cancelled":
        return None
    what = _what(catalog, catalog.session(reg.session_id), lang)
    for_colleague = reg.user_id is None  # told to the representative who applied
    if for_colleague:
        text = tr("The CYDER office has cancelled the registration of {name} for {what}.", lang).format(
            name=html.quote(reg.name), what=what
        )
    else:
        text = tr("The CYDER office has cancelled your registration for {what}.", lang).format(what=what)
    text += "\n" + tr("Reason: {reason}", lang).format(
        reason=html.quote(str(row.payload.get("reason") or ""))
    )
    parts: list[Part] = [Text("❌ " + text)]
    if not for_colleague and row.payload.get("was") == "registered":
        parts.append(
            Document(
                calendar.registration_file(catalog, reg, lang=lang, organizer=organizer),
                tr("Open this file to remove the event from your calendar.", lang),
            )
        )
    return parts


def _moved(
    catalog: Catalog, reg: regs.Registration, row: nt.Notification, lang: str, organizer: str
) -> list[Part] | None:
    """Staff moved `reg` to another session: the old copy's CANCEL (when it held a seat)
    and the new session's invite (while it has a seat there)."""
    old_id = str(row.payload.get("moved_from") or "")
    new_id = str(row.payload.get("to") or reg.session_id)
    try:
        old, new = catalog.session(old_id), catalog.session(new_id)
    except NotFound:
        return None
    here = reg.session_id == new_id and reg.status != "cancelled"  # not moved on since
    for_colleague = reg.user_id is None
    if for_colleague:
        text = tr("The CYDER office has moved the registration of {name} from {old} to {new}.", lang).format(
            name=html.quote(reg.name), old=_what(catalog, old, lang), new=_what(catalog, new, lang)
        )
    else:
        text = tr("The CYDER office has moved your registration from {old} to {new}.", lang).format(
            old=_what(catalog, old, lang), new=_what(catalog, new, lang)
        )
    if here and reg.status == "waitlisted":
        text += "\n" + tr("In the new session this is a waitlist place: number {n}.", lang).format(
            n=reg.position or 1
        )
    parts: list[Part] = [Text("🔁 " + text)]
    if for_colleague:
        return parts
    if row.payload.get("was") == "registered":
        # the old copy: its session, one SEQUENCE above the last file sent for it
        copy = replace(
            reg,
            session_id=old.id,
            status="cancelled",
            position=None,
            cancelled_at=reg.updated_at,
            sequence=int(row.payload.get("sequence") or 0),
        )
        parts.append(
            Document(
                calendar.registration_file(catalog, copy, lang=lang, organizer=organizer),
                tr("Open this file to remove the event from your calendar.", lang),
            )
        )
    if here and reg.status == "registered":
        parts.append(
            Document(
                calendar.registration_file(catalog, reg, lang=lang, organizer=organizer),
                tr("Your calendar invitation.", lang),
            )
        )
    return parts


def render(catalog: Catalog, settings: Settings, row: nt.Notification) -> list[Part] | None:
    """The parts of a chat notification, from the catalog as it is now; None when there is
    nothing left to tell (the registration is gone, or moved on: a later row tells)."""
    lang = _lang(catalog, row)
    edit = row.payload.get("message_id")
    q = html.quote
    if row.kind == nt.UNDELIVERED:
        return [
            Text(
                tr(
                    "⚠️ Sorry: Telegram did not take my last answer to you, so a "
                    "message may be missing. Please try again; your registrations "
                    "are always in /my.",
                    lang,
                ),
                kb.only_menu(),
            )
        ]
    if row.registration_id is None:
        return None
    try:
        reg = regs.get_registration(catalog, row.registration_id)
        session = catalog.session(reg.session_id)
    except NotFound:
        return None
    where = {
        "course": q(calendar.course_name(catalog, session.course, lang)),
        "dates": q(session.dates_text(lang)),
        "place": q(_place_text(session, lang)),
    }
    mine = tr("See or cancel it any time with /my.", lang)
    organizer = settings.organizer_email
    if row.kind == nt.REGISTERED:
        if reg.status != "registered":
            return None
        text = tr("✅ Registered! {course}, {dates}, {place}.", lang).format(**where)
        people = int(row.payload.get("people") or 1)
        if people > 1:
            text += "\n" + tr("People in this application: {n}.", lang).format(n=people)
        invite = calendar.registration_file(catalog, reg, lang=lang, organizer=organizer)
        return [
            Text(text + "\n" + mine, kb.only_menu(), edit),
            Document(invite, tr("Your calendar invitation.", lang)),
        ]
    if row.kind == nt.WAITLISTED:
        if reg.status != "waitlisted":
            return None
        text = tr(
            "⏳ You are on the waitlist, place {n}. I will tell you here if a seat becomes free.", lang
        ).format(n=reg.position or 1)
        return [Text(text + "\n" + mine, kb.only_menu(), edit)]
    if row.kind == nt.CANCELLED:
        # a waitlist place may be in the calendar too (TENTATIVE, from /my or the feed)
        file = Document(
            calendar.registration_file(catalog, reg, lang=lang, organizer=organizer),
            tr("Open this file to remove the event from your calendar.", lang),
        )
        if row.payload.get("answered"):  # the handler said "Cancelled" itself (colleagues)
            return [file]
        return [Text(tr("Cancelled. Your seat has been released.", lang), kb.only_menu(), edit), file]
    if row.kind == nt.STAFF_CANCELLED:
        return _staff_cancelled(catalog, reg, row, lang, organizer)
    if row.kind == nt.MOVED:
        return _moved(catalog, reg, row, lang, organizer)
    if row.kind == nt.PROMOTED:
        if reg.status != "registered":
            return None
        return [
            Text(
                tr(
                    "🎉 Good news: a seat became free and your waitlist place is now a "
                    "registration for {course} on {dates} in {place}.",
                    lang,
                ).format(**where)
            )
        ]
    if row.kind == nt.SESSION_CHANGED:
        if reg.status == "cancelled" or row.chat_id is None:
            return None
        notice = calendar.ChangeNotice(
            reg.id,
            reg.session_id,
            row.chat_id,
            int(row.payload.get("revision") or 0),
            bool(row.payload.get("cancelled")),
        )
        return [
            Text(change_message(catalog, notice, lang)),
            Document(calendar.registration_file(catalog, reg, lang=lang, organizer=organizer)),
        ]
    return None


def _render_in_locale(catalog: Catalog, settings: Settings, row: nt.Notification) -> list[Part] | None:
    """`render` with the row's language as the current locale (the keyboards use it)."""
    i18n = create_i18n()
    with i18n.context(), i18n.use_locale(_lang(catalog, row)):
        return render(catalog, settings, row)


# -- sending --------------------------------------------------------------------------------------


async def _send_part(bot: Bot, chat_id: int, part: Part) -> None:
    if isinstance(part, Document):
        await bot.send_document(
            chat_id,
            BufferedInputFile(part.file.data, filename=part.file.filename),
            caption=part.caption or None,
        )
        return
    if part.edit is not None:
        try:
            await bot.edit_message_text(
                text=part.text, chat_id=chat_id, message_id=part.edit, reply_markup=part.markup
            )
            return
        except TelegramBadRequest as e:
            if "not modified" in e.message:
                return  # sent before (a retry after a restart): it shows this already
            log.debug("edit refused (%s); sending a new message", error_code(e))
    await bot.send_message(chat_id, part.text, reply_markup=part.markup)


async def send_row(
    bot: Bot,
    catalog: Catalog,
    settings: Settings,
    clock: Clock,
    row: nt.Notification,
    *,
    outbox: Outbox | None = None,
    acting: int | None = None,
) -> str:
    """Send one claimed chat row, part by part from where an earlier try stopped (each part
    sent is recorded). Returns sent, blocked, failed, skipped or retry; marks nothing else.
    With `outbox`, each part waits for its turn within Telegram's limits. `acting`: the chat
    that just pressed the button (it has not blocked the bot)."""
    if row.chat_id is None:
        return nt.FAILED
    chat_id = row.chat_id
    # a read (WAL: it never waits for a writer)
    if chat_id != acting and chats.is_blocked(catalog.store, chat_id):
        return nt.BLOCKED
    parts = _render_in_locale(catalog, settings, row)
    if parts is None:
        return nt.SKIPPED
    for index in range(row.progress, len(parts)):
        part = parts[index]
        try:
            if outbox is None:
                await _send_part(bot, chat_id, part)
            else:
                await outbox.call(chat_id, functools.partial(_send_part, bot, chat_id, part))
        except TelegramForbiddenError:
            await catalog.write(chats.block_chat, catalog.store, chat_id, clock.now(), quick=True)
            return nt.BLOCKED
        except TelegramAPIError as e:
            log.warning("%s notification %s to chat %s: %s", row.kind, row.id, chat_id, error_code(e))
            return RETRY if is_passing(e) else nt.FAILED
        # An edit can be repeated harmlessly ("not modified"); a sent message or file
        # is recorded before the next part, so a later try does not send it again.
        if index + 1 < len(parts) and not (isinstance(part, Text) and part.edit is not None):
            await catalog.write(nt.mark_progress, catalog.store, row.id, index + 1, quick=True)
    return nt.SENT


def _to(row: nt.Notification) -> str:
    """Who a row goes to, for a log line: a chat id, or "mail" (never the address)."""
    return f"chat {row.chat_id}" if row.chat_id is not None else row.channel


class Notifier:
    """Delivers the outbox for one process (one per Dispatcher: handlers get it as
    `notifier`; `bot.serve` runs its `run` job beside the bot)."""

    def __init__(
        self,
        catalog: Catalog,
        settings: Settings,
        clock: Clock,
        *,
        owner: str = OWNER,
        backoff_base: float = 15.0,
        backoff_max: float = 1800.0,
        max_attempts: int = 25,
        poll: float = 30.0,
        concurrency: int = 8,
        follow_up_delay: float = 5.0,
        outboxes: Outboxes | None = None,
    ) -> None:
        self.catalog = catalog
        # paced sends share the bot's Outbox (Telegram's limits) with reminders and broadcasts
        self.outboxes = outboxes or Outboxes(catalog, clock)
        self.settings = settings
        self.clock = clock
        self.owner = owner
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_attempts = max_attempts
        self.poll = poll
        self.concurrency = concurrency
        self.follow_up_delay = follow_up_delay
        self.channels: dict[str, Channel] = {
            nt.TELEGRAM: self._telegram,
            nt.EMAIL: MailChannel.from_settings(catalog, settings, clock),
        }
        self._wake = asyncio.Event()
        self._everything = False  # the next pass ignores backoff (Telegram is back)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sending: set[int] = set()  # rows in flight in this process (until marked)

    # -- for the handlers ---------------------------------------------------------------

    def notify(self, chat_id: int, *, event: TelegramObject | None = None, **payload: Any) -> nt.Notify:
        """What a handler passes to the catalog: rows claimed by this process for every
        channel it dispatches, `payload` (e.g. lang) on the acting chat's rows, and the
        button's message as the one to edit (`event`, a CallbackQuery)."""
        if isinstance(event, CallbackQuery) and isinstance(event.message, Message):
            payload.setdefault("message_id", event.message.message_id)
        return nt.Notify(channels=self.channels_on(), chat_id=chat_id, payload=payload, claimed_by=self.owner)

    def channels_on(self) -> tuple[str, ...]:
        """The channels a change is told on: every one dispatched here, but not the mail
        when it is off (no SMTP_HOST: no e-mail rows are written for the chat's changes)."""
        return tuple(name for name, channel in self.channels.items() if getattr(channel, "enabled", True))

    async def deliver(self, bot: Bot, notify: nt.Notify) -> dict[int, str]:
        """Send the rows a change just queued with `notify` (claimed by this process), in
        order: chat rows at once (the person is waiting), other channels in the
        background. A row that cannot go now is left to `run` (retried with backoff)."""
        ids = list(dict.fromkeys(notify.enqueued))
        if not ids:
            return {}
        # Reads stay on the loop (WAL: a reader never waits for a writer); the marks
        # after sending are writes, done in the background so the handler returns.
        rows = nt.claimed(self.catalog.store, ids, self.owner)
        results: dict[int, str] = {}
        for row in rows:
            if row.channel == nt.TELEGRAM:
                results[row.id] = await self._deliver(
                    bot, row, paced=False, mark_later=True, acting=notify.chat_id
                )
            else:
                self._spawn(self._deliver(bot, row, paced=True))
        return results

    def follow_up(self, chat_id: int) -> None:
        """Queue one "a message may be missing" for a chat whose answer was lost."""
        self._spawn(self._follow_up(chat_id))

    async def _follow_up(self, chat_id: int) -> None:
        await self.catalog.write(
            nt.enqueue_undelivered,
            self.catalog.store,
            chat_id,
            now=self.clock.now(),
            delay=dt.timedelta(seconds=self.follow_up_delay),
        )
        self.wake()

    # -- the background job -------------------------------------------------------------

    def wake(self, *, everything: bool = False) -> None:
        """Have `run` look at the outbox now (`everything`: rows backing off too)."""
        self._everything = self._everything or everything
        self._wake.set()

    def recovered(self) -> None:
        """Telegram answers again: send what waits, backoff or not."""
        self.wake(everything=True)

    async def run(self, bot: Bot) -> None:
        """Background job: at start-up take over what earlier processes left and send it;
        then send what becomes due, when woken or every `poll` seconds, forever."""
        retry_layer(bot).on_recovery(self.recovered)
        released = await self.catalog.write(nt.release_orphans, self.catalog.store, self.owner)
        if released:
            log.info("taking over %d notification(s) an earlier process left", released)
        while True:
            everything, self._everything = self._everything, False
            self._wake.clear()
            try:
                counts = await self.deliver_due(bot, ignore_backoff=everything)
                if counts:
                    log.info("notifications: %s", ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - the job outlives a bad pass
                log.error("notification pass failed: %s", error_code(e))
            pause = await self._until_next()  # before the wait's coroutine exists: a
            with contextlib.suppress(TimeoutError):  # cancel here leaves none unawaited
                await asyncio.wait_for(self._wake.wait(), pause)

    async def _until_next(self) -> float:
        at = await asyncio.to_thread(
            nt.next_due, self.catalog.store, kinds=KINDS, channels=list(self.channels)
        )
        if at is None:
            return self.poll
        wait = (dt.datetime.fromisoformat(at) - self.clock.now()).total_seconds()
        return min(self.poll, max(0.05, wait))

    async def deliver_due(self, bot: Bot, *, ignore_backoff: bool = False) -> dict[str, int]:
        """One pass: claim and send every due row (one chat's rows in order, several
        chats at once). Returns counts by result."""
        ids = await asyncio.to_thread(
            nt.due,
            self.catalog.store,
            now=self.clock.now(),
            kinds=KINDS,
            channels=list(self.channels),
            ignore_backoff=ignore_backoff,
        )
        counts: dict[str, int] = {}
        if not ids:
            return counts
        rows = [r for r in await asyncio.to_thread(self._load, ids) if r is not None]
        by_chat: dict[Any, list[nt.Notification]] = {}
        for row in rows:
            by_chat.setdefault((row.channel, row.chat_id or row.email), []).append(row)
        gate = asyncio.Semaphore(self.concurrency)

        async def one_chat(queue: list[nt.Notification]) -> None:
            async with gate:
                for row in queue:
                    claimed = await self.catalog.write(
                        nt.claim, self.catalog.store, row.id, self.owner, now=self.clock.now(), quick=True
                    )
                    if claimed is None:
                        continue
                    result = await self._deliver(bot, claimed, paced=True)
                    counts[result] = counts.get(result, 0) + 1

        await asyncio.gather(*(one_chat(q) for q in by_chat.values()))
        return counts

    def _load(self, ids: list[int]) -> list[nt.Notification | None]:
        return [nt.get(self.catalog.store, i) for i in ids]

    # -- one row ------------------------------------------------------------------------

    async def _telegram(
        self, bot: Bot, row: nt.Notification, paced: bool, *, acting: int | None = None
    ) -> str:
        outbox = self.outboxes.for_bot(bot) if paced else None
        return await send_row(bot, self.catalog, self.settings, self.clock, row, outbox=outbox, acting=acting)

    def backoff(self, attempts: int) -> float:
        """Seconds before try `attempts + 1` of a row: doubling, capped, with jitter."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** max(0, attempts - 1))
        return ceiling * (0.5 + random.random() / 2)

    async def _deliver(
        self,
        bot: Bot,
        row: nt.Notification,
        *,
        paced: bool,
        mark_later: bool = False,
        acting: int | None = None,
    ) -> str:
        """Send one claimed row on its channel and record how it went (`mark_later`: in
        a background task, so the caller need not wait for the write)."""
        if row.id in self._sending:  # e.g. an id of a write retried after "database locked"
            return RETRY
        self._sending.add(row.id)
        try:
            return await self._deliver_one(bot, row, paced=paced, mark_later=mark_later, acting=acting)
        except BaseException:
            self._sending.discard(row.id)
            raise

    async def _deliver_one(
        self, bot: Bot, row: nt.Notification, *, paced: bool, mark_later: bool, acting: int | None
    ) -> str:
        channel = self.channels.get(row.channel)
        store = self.catalog.store
        if channel is None:  # claimed by a process that had this channel: leave it queued
            await self.catalog.write(
                nt.mark_retry, store, row.id, at=self.clock.now(), error="no_channel", quick=True
            )
            self._sending.discard(row.id)
            return RETRY
        error: str | None
        try:
            if row.channel == nt.TELEGRAM and acting is not None:
                channel = functools.partial(self._telegram, acting=acting)
            result = await channel(bot, row, paced)
        except Exception as e:  # noqa: BLE001 - our own bug in rendering: log, never resend
            log.error("%s notification %s failed: %s at %s", row.kind, row.id, type(e).__name__, where(e))
            result, error = nt.FAILED, type(e).__name__
        else:
            error = None if result in (nt.SENT, nt.SKIPPED) else result
        tries = row.attempts + 1
        if result == RETRY and tries < self.max_attempts:
            at = self.clock.now() + dt.timedelta(seconds=self.backoff(tries))
            await self.catalog.write(nt.mark_retry, store, row.id, at=at, error="passing", quick=True)
            self._sending.discard(row.id)
            log.info(
                "%s notification %s to %s: try %d failed, next at %s",
                row.kind,
                row.id,
                _to(row),
                tries,
                at.isoformat(timespec="seconds"),
            )
            return RETRY
        if result == RETRY:
            log.warning("%s notification %s to %s: gave up after %d tries", row.kind, row.id, _to(row), tries)
            result, error = nt.FAILED, "gave_up"
        # a task of its own, so that cancelling the sender (shutdown) does not lose the
        # mark of a message already sent; `idle()` waits for it
        mark = self._spawn(self._mark_done(row.id, result, error))
        if not mark_later:
            await asyncio.shield(mark)
        return result

    async def _mark_done(self, row_id: int, result: str, error: str | None) -> None:
        try:
            await self.catalog.write(
                nt.mark_done,
                self.catalog.store,
                row_id,
                result,
                now=self.clock.now(),
                error=error,
                quick=True,
            )
        finally:
            self._sending.discard(row_id)

    # -- tasks ------------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def idle(self) -> None:
        """Wait for the background sends started so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def shutdown(self, timeout: float = 10.0) -> None:
        """The Dispatcher's shutdown hook: let the marks of what was sent be written (what
        is still unsent stays queued for the next start)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.idle(), timeout)


class FollowUpMiddleware(BaseMiddleware):
    """An update whose answer could not be delivered even after every retry (Telegram
    down, flood control beyond the budget) is logged by update id, method and chat id,
    and its chat gets one follow-up once Telegram answers again (`Notifier.follow_up`).
    Other errors go on to the error handlers."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        try:
            return await handler(event, data)
        except TelegramAPIError as e:
            if not is_passing(e):
                raise
            chat = data.get("event_chat")
            update_id = event.update_id if isinstance(event, Update) else "?"
            log.warning(
                "update %s: %s to chat %s undelivered: %s",
                update_id,
                e.method.__api_method__,
                chat.id if chat else None,
                error_code(e),
            )
            notifier = data.get("notifier")
            if chat is not None and chat.type == "private" and isinstance(notifier, Notifier):
                notifier.follow_up(chat.id)
            return None
