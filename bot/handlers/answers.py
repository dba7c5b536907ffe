"""Answers to the common questions typed as free text (catalog.questions recognises
them): the fee, the level, a course, the deadline rule, how to apply, how to cancel.
Rendering only; every fact comes from the catalog (rules, courses, year settings)."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.handlers.common import course_level, course_name, q, verdict_text
from bot.handlers.courses import course_view
from bot.telegram import keyboards as kb
from bot.telegram.callbacks import CourseCB, MenuCB, ProfileCB
from bot.telegram.i18n import say
from catalog import questions
from catalog.questions import Question
from catalog.service import Catalog
from catalog.users import User


async def answer(
    message: Message, question: Question, *, catalog: Catalog, user_record: User | None, lang: str
) -> None:
    """Reply to a recognised question with its answer and the buttons to go on."""
    text, markup = render(question, catalog=catalog, user_record=user_record, lang=lang)
    await message.answer(text, reply_markup=markup, disable_web_page_preview=True)


def render(
    question: Question, *, catalog: Catalog, user_record: User | None, lang: str
) -> tuple[str, InlineKeyboardMarkup]:
    if question.intent == "course" and question.course:
        return course_view(catalog, catalog.course(question.course), user_record, lang)
    if question.intent == "fee":
        return _fees(question, catalog, user_record, lang)
    if question.intent == "level":
        return _levels(question, catalog, lang)
    if question.intent == "deadline":
        return _deadline(catalog)
    if question.intent == "apply":
        return _apply(catalog)
    return _cancel()


def _profile_button() -> InlineKeyboardButton:
    return kb.button(_("👤 Set up my profile"), ProfileCB(step="e"))


def _fees(
    question: Question, catalog: Catalog, user_record: User | None, lang: str
) -> tuple[str, InlineKeyboardMarkup]:
    profile = user_record.profile if user_record else None
    lines = [_("<b>Fees</b>")]
    rows = kb.Rows()
    if profile is not None:
        if question.course:
            lines.append(
                f"{q(course_name(catalog, question.course, lang))}: "
                + verdict_text(catalog.verdict(profile, question.course), lang)
            )
            lines.append("")
        lines.append(_("For you (your profile):"))
        for v in catalog.verdicts(profile):
            mark = "✅" if v.eligible else "❌"
            lines.append(f"{mark} {q(course_name(catalog, v.course, lang))}: {q(say(v.fee_said, lang))}")
        rows.row(kb.button(_("👤 Profile"), MenuCB(action="profile")))
    else:
        lines += [q(say(line, lang)) for line in catalog.rules.fee_overview()]
        lines.append("")
        lines.append(_("Set up your profile to see exactly what applies to you."))
        rows.row(_profile_button())
    lines.append(_("<i>Prices: {source}</i>").format(source=q(catalog.year.fees_source)))
    rows.row(kb.button(_("📚 Courses"), MenuCB(action="courses")), kb.back_to_menu())
    return "\n".join(lines), rows.as_markup()


def _levels(question: Question, catalog: Catalog, lang: str) -> tuple[str, InlineKeyboardMarkup]:
    courses = questions.courses_at_level(catalog.courses(), question.level) or list(catalog.courses())
    lines = [_("<b>Courses by level</b>")]
    rows = kb.Rows()
    for c in courses:
        lines.append(
            f"• <b>{q(c.t('name', lang))}</b> — {q(course_level(c, lang))}: {q(c.t('audience', lang))}"
        )
        note = c.t("note", lang)
        if note and question.level is not None:
            lines.append(f"  <i>{q(note)}</i>")
        rows.row(kb.button(f"{c.t('name', lang)} — {course_level(c, lang)}", CourseCB(code=c.code)))
    rows.row(kb.button(_("📚 Courses"), MenuCB(action="courses")), kb.back_to_menu())
    return "\n".join(lines), rows.as_markup()


def _deadline(catalog: Catalog) -> tuple[str, InlineKeyboardMarkup]:
    year = catalog.year
    text = "\n".join(
        [
            _("<b>Application deadline</b>"),
            _(
                "Applications close {n} business days before a session's first day (weekends "
                "and Japanese public holidays do not count), or earlier when it is full. Each "
                "session's card shows its own date."
            ).format(n=year.deadline_business_days),
            _("<i>Source: {source}</i>").format(source=q(year.defaults_source)),
        ]
    )
    return text, kb.markup([[kb.button(_("🔎 Find sessions"), MenuCB(action="find")), kb.back_to_menu()]])


def _apply(catalog: Catalog) -> tuple[str, InlineKeyboardMarkup]:
    url = catalog.year.apply_url
    text = "\n".join(
        [
            _("<b>How to apply</b>"),
            _(
                "Find a session (type a place, choose a region or share your location), open it "
                "and press ✍️ Register. Colleagues (同行者) can come in the same application."
            ),
            _("The official applications are on {url}.").format(url=q(url)),
        ]
    )
    return text, kb.markup(
        [
            [kb.button(_("🔎 Find sessions"), MenuCB(action="find"))],
            [kb.url_button(_("🌐 Apply on the official site"), url)],
            [kb.back_to_menu()],
        ]
    )


def _cancel() -> tuple[str, InlineKeyboardMarkup]:
    text = "\n".join(
        [
            _("<b>Cancelling a registration</b>"),
            _(
                "Open /my, choose the registration and press 🗑 Cancel this registration. If "
                "people are waiting and the deadline has not passed, the first on the waitlist "
                "gets the seat."
            ),
        ]
    )
    return text, kb.markup([[kb.button(_("📝 My registrations"), MenuCB(action="my")), kb.back_to_menu()]])
