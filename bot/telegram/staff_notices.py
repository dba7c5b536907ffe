"""Telling registrants in chat what staff did: a cancel (with its reason), a move to
another session (the old calendar copy cancelled, the new one invited), a promotion.

`tell` is the one door the admin page, the CLI and the staff chat commands use. It sends
now, through the bot given (promotions through the same sender as a cancel's, the
`tell_promoted` of the chat); to queue instead (a persisted outbox), re-point `tell`.
Failures are logged by chat id and never raised: the change is already committed.
"""

from __future__ import annotations

import logging

from aiogram import Bot

from bot.config import Settings
from bot.handlers.common import course_name, place_text, q, send_file, tell_promoted
from bot.telegram.i18n import tr
from catalog import calendar as ics
from catalog import users
from catalog.console import Notice
from catalog.registrations import Registration
from catalog.service import Catalog

log = logging.getLogger(__name__)


def _lang(catalog: Catalog, chat_id: int) -> str:
    record = users.get_user(catalog.store, chat_id)
    return record.lang if record and record.lang in ("ja", "en") else "ja"


def _what(catalog: Catalog, reg: Registration, lang: str) -> str:
    s = catalog.session(reg.session_id)
    course, dates, place = course_name(catalog, s.course, lang), s.dates_text(lang), place_text(s, lang)
    return tr("{course} ({dates}, {place})", lang).format(course=course, dates=dates, place=place)


async def _cancelled(bot: Bot, catalog: Catalog, settings: Settings, n: Notice,
                     chat_id: int, lang: str) -> None:
    what = q(_what(catalog, n.registration, lang))
    if n.for_colleague:
        text = tr("The CYDER office has cancelled the registration of {name} for {what}.",
                  lang).format(name=q(n.registration.name), what=what)
    else:
        text = tr("The CYDER office has cancelled your registration for {what}.",
                  lang).format(what=what)
    text += "\n" + tr("Reason: {reason}", lang).format(reason=q(n.reason))
    await bot.send_message(chat_id, "❌ " + text)
    if not n.for_colleague and n.before is not None and n.before.status == "registered":
        await send_file(bot, chat_id, ics.cancel_file(catalog, n.registration, lang=lang,
                                                      organizer=settings.organizer_email),
                        tr("Open this file to remove the event from your calendar.", lang))


async def _moved(bot: Bot, catalog: Catalog, settings: Settings, n: Notice, chat_id: int,
                 lang: str) -> None:
    before = n.before
    assert before is not None
    old, new = q(_what(catalog, before, lang)), q(_what(catalog, n.registration, lang))
    if n.for_colleague:
        text = tr("The CYDER office has moved the registration of {name} from {old} to {new}.",
                  lang).format(name=q(n.registration.name), old=old, new=new)
    else:
        text = tr("The CYDER office has moved your registration from {old} to {new}.",
                  lang).format(old=old, new=new)
    if n.registration.status == "waitlisted":
        text += "\n" + tr("In the new session this is a waitlist place: number {n}.",
                          lang).format(n=n.registration.position or 1)
    await bot.send_message(chat_id, "🔁 " + text)
    if n.for_colleague:
        return
    old_copy = n.old_copy
    if before.status == "registered" and old_copy is not None:
        await send_file(bot, chat_id, ics.cancel_file(catalog, old_copy, lang=lang,
                                                      organizer=settings.organizer_email),
                        tr("Open this file to remove the event from your calendar.", lang))
    if n.registration.status == "registered":
        await send_file(bot, chat_id, ics.invite_file(catalog, n.registration, lang=lang,
                                                      organizer=settings.organizer_email),
                        tr("Your calendar invitation.", lang))


async def tell(bot: Bot | None, catalog: Catalog, settings: Settings,
               notices: list[Notice]) -> int:
    """Send each notice to its chat; how many chats were told (0 without a bot)."""
    if bot is None:
        return 0
    told: set[int] = set()
    promoted = [n.registration for n in notices if n.kind == "promoted" and n.chat_id]
    for n in notices:
        if n.chat_id is None or n.kind == "promoted":
            continue
        lang = _lang(catalog, n.chat_id)
        try:
            if n.kind == "cancelled":
                await _cancelled(bot, catalog, settings, n, n.chat_id, lang)
            elif n.kind == "moved":
                await _moved(bot, catalog, settings, n, n.chat_id, lang)
            else:
                continue
            told.add(n.chat_id)
        except Exception:
            log.warning("could not tell chat %s about a staff %s", n.chat_id, n.kind,
                        exc_info=True)
    if promoted:
        await tell_promoted(bot, catalog, promoted)
        told.update(n.chat_id for n in notices if n.kind == "promoted" and n.chat_id)
    return len(told)
