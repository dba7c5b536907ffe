"""Rendering shared by the handlers: session lines and cards, course cards, dates."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from aiogram import Bot, html
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.telegram.i18n import say
from catalog import places
from catalog.calendar import CalendarFile, city_en, course_name
from catalog.eligibility import Profile, Verdict
from catalog.service import Catalog, Course, OnlineWindow
from catalog.sessions import Session

log = logging.getLogger(__name__)

WEEKDAYS_JA = "月火水木金土日"
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def q(value: Any) -> str:
    """HTML-escape any user or database text."""
    return html.quote(str(value))


def short_date(d: dt.date, lang: str) -> str:
    if lang == "en":
        return f"{WEEKDAYS_EN[d.weekday()]} {d.day} {d:%b}"
    return f"{d.month}/{d.day}({WEEKDAYS_JA[d.weekday()]})"


def long_date(d: dt.date, lang: str) -> str:
    if lang == "en":
        return f"{WEEKDAYS_EN[d.weekday()]} {d.day} {d:%b} {d.year}"
    return f"{d.year}年{d.month}月{d.day}日({WEEKDAYS_JA[d.weekday()]})"


def session_dates(s: Session, lang: str) -> str:
    if s.first_day == s.last_day:
        return short_date(s.first_day, lang)
    return f"{short_date(s.first_day, lang)}–{short_date(s.last_day, lang)}"


def place_text(s: Session, lang: str) -> str:
    if lang == "en":
        city = city_en(s.prefecture_code, s.city)
        pref = places.prefecture(s.prefecture_code).romaji
        return city if city == pref else f"{city} ({pref})"
    return f"{s.city}（{s.prefecture}）"


def seat_text(s: Session, today: dt.date | None = None) -> str:
    """Seats as the site marks them; with `today`, × once applications have closed."""
    if s.cancelled:
        return _("✖️ cancelled")
    if today is not None and s.is_closed(today):
        return _("× applications closed")
    if s.seats_left <= 0:
        return _("× full (waitlist: {n})").format(n=s.waitlisted)
    if s.seat_mark == "△":
        return _("△ nearly full ({n} seats left)").format(n=s.seats_left)
    return _("○ seats available ({n} left)").format(n=s.seats_left)


def session_line(
    catalog: Catalog, s: Session, lang: str, distance_km: float | None = None, today: dt.date | None = None
) -> str:
    """One result line: mark, dates, course, place, distance; × and 締切 once applications
    have closed (a closed session never shows ○), （終了） once it is over."""
    mark = ("✖️" if s.cancelled else s.seat_mark) if today is None else s.mark(today)
    dist = f" · {distance_km:,.0f} km" if distance_km is not None else ""
    ended = _(" (ended)") if today and s.last_day < today else ""
    if today and not ended and not s.cancelled and s.is_closed(today):
        ended = _(" (applications closed)")
    return f"{mark} <b>{q(session_dates(s, lang))}</b> {q(s.course)} {q(place_text(s, lang))}{dist}{ended}"


def verdict_text(verdict: Verdict | None, lang: str, *, closed: bool = False) -> str:
    """Whether the user may attend and what it costs; with `closed` (applications over)
    the verdict says so instead of "you may attend"."""
    if verdict is None:
        return _("👤 Set up your profile to see whether you may attend and what it costs.")
    reason = say(verdict.reason, lang)
    if verdict.eligible and closed:
        return (
            _("🔒 Applications for this session are closed: you can no longer register for it.")
            + f"\n<i>{q(reason)}</i>"
        )
    if verdict.eligible:
        return (
            _("✅ You may attend — {fee}").format(fee=q(say(verdict.fee_said, lang)))
            + f"\n<i>{q(reason)}</i>"
        )
    return _("❌ Not for you: {reason}").format(reason=q(reason))


def course_level(course: Course, lang: str) -> str:
    """The course's level, or for a course without one (プレCYDER, "-" in the data) its
    format: オンライン / online."""
    level = course.t("level", lang).strip()
    if level and level not in ("-", "—", "–"):
        return level
    return _("online") if course.format == "online" else _("on site")


def place_label(place: places.Place, lang: str) -> str:
    """A place as a suggestion button shows it: 広島県 / Hiroshima (prefecture),
    中国地方 / Chugoku (region), 北広島市 / Kitahiroshima."""
    name = place.name_en if lang == "en" else place.name
    if place.kind == "prefecture":
        return _("{name} (prefecture)").format(name=name)
    if place.kind == "region":
        return _("{name} (region)").format(name=name)
    return name


def session_card(catalog: Catalog, s: Session, profile: Profile | None, today: dt.date, lang: str) -> str:
    verdict = catalog.verdict(profile, s.course) if profile else None
    na = _("not announced")
    time = f"{s.start_time}–{s.end_time}" if s.start_time and s.end_time else na
    year = catalog.year_of(s.fiscal_year)
    label = year.label_en if lang == "en" else year.label_ja
    venue = s.venue or na
    lines = [
        f"<b>{q(course_name(catalog, s.course, lang))}</b> · {q(label)}",
        _("📅 Date: {dates}").format(dates=q(s.dates_text(lang))),
        _("🕘 Time: {time}").format(time=q(time)),
        _("📍 Place: {place}").format(
            place=q(place_text(s, lang) if lang == "en" else f"{s.prefecture} {s.city}")
        ),
        _("🏢 Venue: {venue}").format(venue=q(venue)),
        _("💺 Seats: {seats}").format(seats=q(seat_text(s, today))),
    ]
    if s.waitlisted and s.seats_left > 0:
        lines.append(_("⏳ Waitlist: {n}").format(n=s.waitlisted))
    if s.cancelled:
        lines.append(_("This session has been cancelled."))
    elif s.is_open(today):
        lines.append(_("🗓 Apply by: {date}").format(date=q(long_date(s.deadline, lang))))
    else:
        lines.append(_("🔒 Applications closed on {date}.").format(date=q(long_date(s.deadline, lang))))
    lines.append("")
    lines.append(verdict_text(verdict, lang, closed=not s.cancelled and not s.is_open(today)))
    lines.append(f"<code>{q(s.id)}</code>")
    return "\n".join(lines)


def course_card(
    course: Course,
    verdict: Verdict | None,
    lang: str,
    windows: Sequence[OnlineWindow] = (),
    apply_url: str = "",
) -> str:
    online = course.format == "online"
    fmt = _("online") if online else _("on site")
    if course.days:
        fmt = _("{fmt}, {days}").format(fmt=fmt, days=_("{n} day(s)").format(n=course.days))
    title = f"<b>{q(course.t('name', lang))}</b> — {q(course_level(course, lang))}"
    lines = [
        title,
        _("👥 For: {who}").format(who=q(course.t("audience", lang))),
        _("🎯 You learn: {what}").format(what=q(course.t("learn", lang))),
        _("🏛 Organisations: {orgs}").format(orgs=q(course.t("organisations", lang))),
        _("🧭 Format: {fmt}").format(fmt=fmt),
        _("📍 Where: {where}").format(where=q(course.t("where", lang))),
        _("🗓 Period: {period}").format(period=q(course.t("period", lang))),
    ]
    if online:
        for w in windows:
            label = w.label_en if lang == "en" else w.label_ja
            lines.append(f"• {q(label)}: {q(long_date(w.first, lang))} – {q(long_date(w.last, lang))}")
        if apply_url:
            lines.append(
                _(
                    "💻 An online course, taken at your own workplace during one of "
                    "the windows above; there are no sessions to book here. Apply on "
                    "the official site: {url}"
                ).format(url=q(apply_url))
            )
    note = course.t("note", lang)
    if note:
        lines.append(f"<i>{q(note)}</i>")
    lines.append("")
    lines.append(verdict_text(verdict, lang))
    return "\n".join(lines)


async def show(
    event: Message | CallbackQuery,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
    *,
    edit: bool = False,
) -> None:
    """Answer a message, or for a button press send (or with `edit`, replace) a message."""
    if isinstance(event, CallbackQuery):
        msg = event.message
        if edit and isinstance(msg, Message):
            try:
                await msg.edit_text(text, reply_markup=markup)
                return
            except TelegramBadRequest as e:
                if "not modified" in str(e.message):
                    return  # the same button pressed twice: the message already shows it
                log.debug("edit failed; sending a new message", exc_info=True)
            except TelegramAPIError:
                log.debug("edit failed; sending a new message", exc_info=True)
        await event.bot.send_message(event.from_user.id, text, reply_markup=markup)  # type: ignore[union-attr]
        return
    await event.answer(text, reply_markup=markup)


async def send_file(bot: Bot, chat_id: int, file: CalendarFile, caption: str = "") -> None:
    await bot.send_document(
        chat_id, BufferedInputFile(file.data, filename=file.filename), caption=caption or None
    )
