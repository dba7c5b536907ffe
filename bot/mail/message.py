"""iMIP messages (RFC 6047) for one registrant, built with Python's `email` package.

One message per person and event, to that person's own address (colleagues
registered by a representative get their own). The shape Outlook, Gmail and
Apple Mail act on:

    multipart/mixed
      multipart/alternative
        text/plain; charset=utf-8        Japanese and English, the reader's first
        text/calendar; method=REQUEST|CANCEL; charset=utf-8
      application/ics; name=cyder-….ics  the same calendar object, as an attachment

The calendar object is `catalog.calendar.registration_file`: the person's copy
with the UID and SEQUENCE the chat file and the personal feed carry. The
day-before reminder is text only (nothing for a calendar to apply).

Building reads the catalog (SQLite): call `build_mail` in a worker thread
(`asyncio.to_thread`). It reads the registration as it is *now*, so a mail
queued before a later change carries the later state; when the state no longer
fits the kind (a confirmation for someone who has since cancelled) it raises
`NothingToSend` instead of mailing something untrue.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from enum import StrEnum

from bot.config import Settings
from bot.telegram.i18n import N_, tr
from catalog import calendar
from catalog.clock import JST
from catalog.registrations import Registration, get_registration
from catalog.service import Catalog
from catalog.sessions import Session


class MailKind(StrEnum):
    CONFIRMATION = "confirmation"  # registered (REQUEST) or waitlisted (REQUEST, TENTATIVE)
    UPDATE = "update"  # the session changed: REQUEST with a higher SEQUENCE
    CANCEL = "cancel"  # the person or the session cancelled: CANCEL
    PROMOTION = "promotion"  # a waitlist place became a seat: REQUEST, CONFIRMED
    REMINDER = "reminder"  # the day before: text only
    CORRECTION = "correction"  # the name or e-mail corrected: REQUEST with a higher SEQUENCE
    ADDRESS_CHANGED = "address_changed"  # CANCEL to the old address (a copy: `registration`)


class NothingToSend(Exception):
    """This mail no longer fits the registration (or it has no address): skip it."""


@dataclass(frozen=True)
class Office:
    """Who mail comes from: `sender` in From, `organizer` (the office) in Reply-To and
    as the invites' ORGANIZER."""

    sender: str
    organizer: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Office:
        return cls(settings.mail_from, settings.organizer_email)


@dataclass(frozen=True)
class Mail:
    """A message ready for `Mailer.send`, with what the outbox may want to record."""

    message: EmailMessage
    kind: MailKind
    registration_id: int
    sequence: int
    message_id: str
    method: str | None  # REQUEST, CANCEL, or None for the reminder


OFFICE_NAME = N_("CYDER office")  # From and Reply-To's name, in the reader's language
SEPARATOR = "-" * 40

# The wording is in the .po files (bot/telegram/locales), as the chat's is: English
# message ids, rendered with `tr` in the reader's language. Each kind's subject and lead,
# by the variant of the state it is in (see `_variant`).
SUBJECTS: dict[tuple[MailKind, str], str] = {
    (MailKind.CONFIRMATION, ""): N_("[CYDER] Registration confirmed - {title}, {dates}"),
    (MailKind.CONFIRMATION, "waitlisted"): N_("[CYDER] Waitlist place - {title}, {dates}"),
    (MailKind.UPDATE, ""): N_("[CYDER] Changed - {title}, {dates}"),
    (MailKind.CANCEL, ""): N_("[CYDER] Registration cancelled - {title}, {dates}"),
    (MailKind.CANCEL, "session_cancelled"): N_("[CYDER] Session cancelled - {title}, {dates}"),
    (MailKind.PROMOTION, ""): N_("[CYDER] A seat for you - {title}, {dates}"),
    (MailKind.REMINDER, ""): N_("[CYDER] Tomorrow - {title}, {dates}"),
    (MailKind.REMINDER, "day"): N_("[CYDER] On {day} - {title}, {dates}"),
    (MailKind.CORRECTION, ""): N_("[CYDER] Details corrected - {title}, {dates}"),
    (MailKind.ADDRESS_CHANGED, ""): N_("[CYDER] E-mail address changed - {title}, {dates}"),
}
LEADS: dict[tuple[MailKind, str], str] = {
    (MailKind.CONFIRMATION, ""): N_(
        "Your registration is confirmed. Open the attached invitation to put the session in your calendar."
    ),
    (MailKind.CONFIRMATION, "waitlisted"): N_(
        "You are on the waitlist, place {n}. If a seat becomes free you will get a new "
        "invitation. The attached invitation shows the session as tentative."
    ),
    (MailKind.UPDATE, ""): N_(
        "The session has changed. The attached invitation updates the event in your calendar."
    ),
    (MailKind.CANCEL, ""): N_(
        "Your registration has been cancelled and your seat released. The attached "
        "cancellation removes the event from your calendar."
    ),
    (MailKind.CANCEL, "session_cancelled"): N_(
        "This session has been cancelled. The attached cancellation removes it from your calendar."
    ),
    (MailKind.PROMOTION, ""): N_(
        "A seat became free: your waitlist place is now a registration. The attached "
        "invitation confirms the event in your calendar."
    ),
    (MailKind.REMINDER, ""): N_("A reminder: your CYDER session is tomorrow."),
    (MailKind.REMINDER, "day"): N_("A reminder: your CYDER session is on {day}."),
    (MailKind.CORRECTION, ""): N_(
        "Your registration details were corrected (name or e-mail address). The attached "
        "invitation updates the event in your calendar."
    ),
    (MailKind.ADDRESS_CHANGED, ""): N_(
        "The e-mail address of this registration was changed: the registration stands, and "
        "its mail now goes to the new address. The attached cancellation removes the event "
        "from the calendar of this address."
    ),
}


def _lang(lang: str) -> str:
    return "en" if (lang or "").startswith("en") else "ja"


def _times(session: Session, lang: str) -> str:
    if session.timed:
        return f"{session.start_time}–{session.end_time} (JST)"
    return tr("not announced", lang)


def _state(session: Session, reg: Registration) -> str:
    """What the mail is about, in the registration's current state."""
    if session.cancelled:
        return "session_cancelled"
    if reg.status == "cancelled":
        return "cancelled"
    return "waitlisted" if reg.status == "waitlisted" else "registered"


def _check(kind: MailKind, state: str) -> None:
    """NothingToSend when the kind no longer fits the state."""
    cancelled = state in ("cancelled", "session_cancelled")
    if kind in (MailKind.CANCEL, MailKind.ADDRESS_CHANGED):
        if not cancelled:
            raise NothingToSend("not cancelled")
    elif cancelled:
        raise NothingToSend(f"{kind} for a cancelled registration")
    elif kind in (MailKind.PROMOTION, MailKind.REMINDER) and state != "registered":
        raise NothingToSend(f"{kind} for a waitlist place")


def _variant(kind: MailKind, state: str, day: str | None) -> str:
    """Which of a kind's wordings fits: "" (the usual), or what differs."""
    if kind is MailKind.CONFIRMATION and state == "waitlisted":
        return "waitlisted"
    if kind is MailKind.CANCEL and state == "session_cancelled":
        return "session_cancelled"
    if kind is MailKind.REMINDER and day:
        return "day"
    return ""


def day_text(day: dt.date, lang: str) -> str:
    """10月25日（金） in Japanese, Fri 25 Oct in English (as the chat's reminders say it)."""
    if lang == "en":
        return f"{day:%a} {day.day} {day:%b}"
    return f"{day.month}月{day.day}日（{'月火水木金土日'[day.weekday()]}）"


def subject(kind: MailKind, state: str, title: str, dates: str, lang: str, day: str | None = None) -> str:
    """`day`: a reminder sent on another day than the day before names the date (None:
    it says "tomorrow"). In English " - ", not ": ": Python folds "Subject: a: b…"
    before its first word."""
    msgid = SUBJECTS[kind, _variant(kind, state, day)]
    return tr(msgid, lang).format(title=title, dates=dates, day=day)


def lead(kind: MailKind, state: str, reg: Registration, lang: str, day: str | None = None) -> str:
    """The sentence that says what happened (`day`: as for `subject`)."""
    msgid = LEADS[kind, _variant(kind, state, day)]
    return tr(msgid, lang).format(n=reg.position or "?", day=day)


def body(
    catalog: Catalog,
    session: Session,
    reg: Registration,
    kind: MailKind,
    state: str,
    lang: str,
    day: dt.date | None = None,
) -> str:
    """The plain-text body in one language (`day`: a reminder's date, when it is not
    sent the day before)."""
    when = day_text(day, lang) if day else None
    year = catalog.year_of(session.fiscal_year)
    lines = [
        tr("Dear {name},", lang).format(name=reg.name),
        "",
        lead(kind, state, reg, lang, when),
        "",
        tr("Course: {course}", lang).format(course=calendar.course_name(catalog, session.course, lang)),
        tr("Dates: {dates}", lang).format(dates=session.dates_text(lang)),
        tr("Times: {times}", lang).format(times=_times(session, lang)),
        tr("Place: {place}", lang).format(place=calendar.location(session, lang)),
        tr("Organisation: {organisation}", lang).format(organisation=reg.organisation or "-"),
    ]
    if lang == "en":  # said to those who read the English half only
        lines.append(tr("The exercise is held in Japanese.", lang))
    lines += [
        tr("Details: {url}", lang).format(url=year.apply_url or "https://cyder.nict.go.jp"),
        "",
        tr(
            "This message was sent automatically by the CYDER registration bot. Replies reach "
            "the CYDER office.",
            lang,
        ),
    ]
    return "\n".join(lines)


def message_id(kind: MailKind, reg: Registration, sequence: int, sender: str) -> str:
    """The same Message-ID for the same mail, so a retry after a lost reply can be
    recognised as a duplicate by the receiving side. No address or name in it."""
    digest = hashlib.sha256(f"{reg.session_id}|{reg.application_id}|{reg.id}".encode())
    domain = sender.rpartition("@")[2] or "cyder-bot.invalid"
    return f"<cyder.{kind.value}.{reg.id}.{sequence}.{digest.hexdigest()[:12]}@{domain}>"


def _reminder_day(kind: MailKind, session: Session, now: dt.datetime) -> dt.date | None:
    """A reminder's date when it is not sent the day before (then it says "tomorrow": None);
    NothingToSend once the session has begun (a reminder delayed that long is no use)."""
    if kind is not MailKind.REMINDER:
        return None
    today = now.astimezone(JST).date()
    if today >= session.first_day:
        raise NothingToSend("the session has begun")
    return None if session.first_day - today == dt.timedelta(days=1) else session.first_day


def build_mail(
    catalog: Catalog,
    registration_id: int,
    kind: MailKind | str,
    *,
    office: Office,
    now: dt.datetime,
    lang: str = "ja",
    registration: Registration | None = None,
) -> Mail:
    """The message for one registrant and one event, in the registration's current state.

    `lang` is the reader's language (the subject's and the calendar's; the body has
    both, this one first). NothingToSend when the registration has no e-mail or the
    kind no longer fits its state; NotFound when it is gone (forgotten). `registration`:
    a copy to mail instead of the stored one (a staff move's old copy, or the copy at an
    address corrected since, to cancel).
    """
    kind = MailKind(kind)
    lang = _lang(lang)
    reg = registration or get_registration(catalog, registration_id)
    if not reg.email:
        raise NothingToSend("no e-mail address")
    session = catalog.session(reg.session_id)
    state = _state(session, reg)
    _check(kind, state)
    day = _reminder_day(kind, session, now)
    sequence = calendar.registration_sequence(session, reg)
    mid = message_id(kind, reg, sequence, office.sender)
    other = "en" if lang == "ja" else "ja"
    text = (
        "\n\n".join(
            [
                body(catalog, session, reg, kind, state, lang, day),
                SEPARATOR,
                body(catalog, session, reg, kind, state, other, day),
            ]
        )
        + "\n"
    )

    msg = EmailMessage(policy=SMTP)
    msg["Message-ID"] = mid
    msg["Date"] = format_datetime(now.astimezone(dt.UTC).replace(microsecond=0), usegmt=True)
    msg["From"] = formataddr((tr(OFFICE_NAME, lang), office.sender))
    msg["Reply-To"] = formataddr((tr(OFFICE_NAME, lang), office.organizer))
    msg["To"] = formataddr((reg.name, reg.email))
    msg["Subject"] = subject(
        kind,
        state,
        calendar.summary(catalog, session, lang),
        session.dates_text(lang),
        lang,
        day_text(day, lang) if day else None,
    )
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    msg["X-Auto-Response-Suppress"] = "All"  # Exchange's way of saying the same
    msg.set_content(text, charset="utf-8")
    method: str | None = None
    if kind is not MailKind.REMINDER:
        file = calendar.registration_file(catalog, reg, lang=lang, organizer=office.organizer)
        method = calendar.registration_method(session, reg)
        ics = file.data.decode("utf-8")
        msg.add_alternative(ics, subtype="calendar", charset="utf-8", cte="base64", params={"method": method})
        msg.add_attachment(file.data, maintype="application", subtype="ics", filename=file.filename)
    msg["Content-Language"] = f"{lang}, {other}"  # after the parts: make_mixed moves Content-*
    return Mail(msg, kind, reg.id, sequence, mid, method)
