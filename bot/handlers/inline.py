"""Inline mode: `@bot 広島` in any chat lists matching sessions as shareable results."""

from __future__ import annotations

import asyncio
import datetime as dt

from aiogram import Router
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQuery,
    InlineQueryResultArticle,
    InlineQueryResultUnion,
    InputTextMessageContent,
)
from aiogram.utils.i18n import gettext as _

from bot.handlers.common import course_name, place_text, q, seat_text
from catalog import places, questions
from catalog.clock import Clock
from catalog.service import Catalog
from catalog.sessions import Hit

router = Router(name="inline")

MAX_RESULTS = 20


def _search(catalog: Catalog, text: str, today: dt.date) -> list[Hit]:
    """Upcoming sessions for an inline query: a course, a place, or both in either order
    (B-1 沖縄, 沖縄 B-1); a place typed with a course keeps that course only."""
    text = text.strip()[:100]
    if not text:
        return catalog.upcoming(today, limit=MAX_RESULTS)
    wanted = questions.split_course(text, [c.code for c in catalog.courses()])
    courses = [wanted.course] if wanted.course else []
    if not wanted.place:
        return catalog.upcoming(today, courses=courses, limit=MAX_RESULTS)
    try:
        place = places.resolve_place(wanted.place)
    except places.UnknownPlace:
        return []
    if place.kind == "prefecture" and place.prefecture is not None:
        return catalog.upcoming(
            today, courses=courses, near_prefecture=place.prefecture.code, limit=MAX_RESULTS
        )
    if place.kind == "region" and place.region is not None:
        return catalog.upcoming(today, courses=courses, regions=[place.region.name], limit=MAX_RESULTS)
    assert place.point is not None
    return catalog.upcoming(today, courses=courses, near=place.point, limit=MAX_RESULTS)


@router.inline_query()
async def inline_search(query: InlineQuery, catalog: Catalog, clock: Clock, lang: str) -> None:
    assert query.bot is not None
    me = await query.bot.me()
    results: list[InlineQueryResultUnion] = []
    today = clock.today()
    hits = await asyncio.to_thread(_search, catalog, query.query, today)
    for hit in hits:
        s = hit.session
        title = f"{s.mark(today)} {course_name(catalog, s.course, lang)} · {s.dates_text(lang)}"
        where = place_text(s, lang)
        if hit.distance_km is not None:
            where += f" · {hit.distance_km:,.0f} km"
        link = f"https://t.me/{me.username}?start={s.id}"
        text = "\n".join(
            [
                f"<b>{q(course_name(catalog, s.course, lang))}</b>",
                q(s.dates_text(lang)) + " · " + q(place_text(s, lang)),
                _("💺 Seats: {seats}").format(seats=q(seat_text(s, today))),
            ]
        )
        results.append(
            InlineQueryResultArticle(
                id=s.id,
                title=title,
                description=where,
                input_message_content=InputTextMessageContent(message_text=text),
                reply_markup=InlineKeyboardMarkup(
                    inline_keyboard=[[InlineKeyboardButton(text=_("Open in the bot"), url=link)]]
                ),
            )
        )
    await query.answer(results, cache_time=60, is_personal=False)
