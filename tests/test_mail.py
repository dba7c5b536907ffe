"""bot.mail against a real SMTP server (aiosmtpd on 127.0.0.1): iMIP messages parsed back
with `email`, their calendars with icalendar and with `ical`; failures classified."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from email.message import EmailMessage

import pytest
from ical.calendar_stream import IcsCalendarStream
from icalendar import Calendar

from bot.config import Settings, SettingsError
from bot.mail import (
    Mailer,
    MailKind,
    NothingToSend,
    Office,
    PermanentMailError,
    TemporaryMailError,
    build_mail,
    message,
)
from bot.mail.sender import scrub
from catalog import calendar as cal
from catalog import registrations as regs
from catalog.registrations import Applicant
from schedules import loader
from tests.util_catalog import NOW, edited_schedule
from tests.util_smtp import Inbox, authenticator, free_port, start

HIROSHIMA_A = "2024-A-34-1025"
OFFICE = Office(sender="noreply@cyder.example.org", organizer="office@cyder.example.org")
TODAY = NOW.date()
BOUND = 20  # seconds: no SMTP test may hang


def mail_settings(server, **kw) -> Settings:
    kw.setdefault("smtp_starttls", False)
    return Settings(
        smtp_host=server.host,
        smtp_port=server.port,
        mail_per_minute=6000,
        smtp_timeout=5,
        organizer_email=OFFICE.organizer,
        smtp_from=OFFICE.sender,
        **kw,
    )


def yamada(**kw):
    kw.setdefault("email", "taro@city.example.lg.jp")
    return Applicant(name="山田 太郎", organisation="広島市役所", org_type="local", **kw)


# a registration as the pure wording functions take it (no catalog needed)
PERSON = regs.Registration(
    id=1,
    session_id=HIROSHIMA_A,
    user_id=7,
    application_id="app",
    name="山田 太郎",
    organisation="広島市役所",
    org_type="local",
    department="",
    email="taro@city.example.lg.jp",
    prefecture="広島県",
    contractor=False,
    dispatched=False,
    team_key=None,
    status="registered",
    source="chat",
    created_at=NOW.isoformat(),
    cancelled_at=None,
    sequence=0,
)


def register(catalog, people=None, **kw):
    return regs.register(catalog, HIROSHIMA_A, people or [yamada()], today=TODAY, now=NOW, user_id=7, **kw)


def parts(msg: EmailMessage) -> dict[str, EmailMessage]:
    """The message's leaf parts by content type."""
    return {p.get_content_type(): p for p in msg.walk() if not p.is_multipart()}


def calendars(msg: EmailMessage) -> tuple[Calendar, bytes]:
    part = parts(msg)["text/calendar"]
    data = part.get_content().encode("utf-8")
    IcsCalendarStream.calendar_from_ics(data.decode("utf-8"))  # a second parser accepts it
    return Calendar.from_ical(data), data


async def send(settings: Settings, message: EmailMessage) -> None:
    mailer = Mailer.from_settings(settings)
    assert mailer is not None
    async with asyncio.timeout(BOUND):
        await mailer.send(message)


# -- settings ---------------------------------------------------------------------------------


def test_mail_is_off_without_smtp_host_and_needs_an_organizer_when_on():
    off = Settings.from_env({})
    assert not off.mail_enabled and Mailer.from_settings(off) is None
    with pytest.raises(SettingsError, match="CYDER_ORGANIZER"):
        Settings.from_env({"SMTP_HOST": "smtp.example.org"})
    with pytest.raises(SettingsError, match="SMTP_PASSWORD"):
        Settings.from_env(
            {"SMTP_HOST": "smtp.example.org", "CYDER_ORGANIZER": "o@example.org", "SMTP_USER": "bot"}
        )
    with pytest.raises(SettingsError, match="SMTP_STARTTLS"):
        Settings.from_env({"SMTP_STARTTLS": "maybe"})
    with pytest.raises(SettingsError, match="CYDER_ORGANIZER"):
        Settings.from_env({"CYDER_ORGANIZER": "not an address"})
    on = Settings.from_env(
        {
            "SMTP_HOST": "smtp.example.org",
            "SMTP_PORT": "2525",
            "CYDER_ORGANIZER": "office@example.org",
            "SMTP_USER": "bot",
            "SMTP_PASSWORD": "s3cret-pw",
            "SMTP_STARTTLS": "false",
            "SMTP_RATE_PER_MINUTE": "12",
        }
    )
    assert on.mail_enabled and on.mail_from == "office@example.org"
    assert (on.smtp_port, on.smtp_starttls, on.mail_per_minute) == (2525, False, 12)
    assert "s3cret-pw" not in repr(on)
    mailer = Mailer.from_settings(on)
    assert mailer is not None and "s3cret-pw" not in repr(mailer.config)


# -- messages ---------------------------------------------------------------------------------


async def test_confirmation_arrives_as_an_imip_request(catalog, smtp_server):
    reg = register(catalog).registrations[0]
    mail = await asyncio.to_thread(
        build_mail, catalog, reg.id, MailKind.CONFIRMATION, office=OFFICE, now=NOW, lang="ja"
    )
    await send(mail_settings(smtp_server), mail.message)
    [got] = smtp_server.inbox.messages
    assert got.rcpt_tos == ["taro@city.example.lg.jp"]
    raw_headers = got.data.split(b"\r\n\r\n", 1)[0]
    raw_headers.decode("ascii")  # every header 7-bit: Japanese is RFC 2047 encoded
    assert b"Subject: =?utf-8?" in raw_headers
    msg = got.message()
    assert msg["Subject"] == "【CYDER】お申込みを受け付けました: CYDER A（初級） 広島 2024年10月25日(金)"
    assert msg["Message-ID"] == mail.message_id and msg["Message-ID"].startswith("<cyder.")
    assert msg["Date"].datetime == NOW
    assert msg["From"].addresses[0].addr_spec == OFFICE.sender
    assert msg["Reply-To"].addresses[0].addr_spec == OFFICE.organizer
    assert msg["To"].addresses[0].addr_spec == "taro@city.example.lg.jp"
    assert msg["Auto-Submitted"] == "auto-generated"
    # multipart/mixed( multipart/alternative(text/plain, text/calendar), application/ics )
    assert msg.get_content_type() == "multipart/mixed"
    alternative, attachment = msg.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.get_payload()] == ["text/plain", "text/calendar"]
    text = alternative.get_payload()[0].get_content()
    assert "山田 太郎 様" in text and "お申込みを受け付けました" in text
    assert "Dear 山田 太郎" in text and "Your registration is confirmed" in text
    assert text.index("お申込み") < text.index("Your registration")  # the reader's language first
    ical_part = alternative.get_payload()[1]
    assert ical_part.get_param("method") == "REQUEST"
    assert ical_part.get_content_charset().upper() == "UTF-8"
    c, data = calendars(msg)
    assert str(c["METHOD"]) == "REQUEST"
    assert attachment.get_content_type() == "application/ics"
    assert attachment.get_filename() == f"cyder-{HIROSHIMA_A}.ics"
    assert attachment.get_content() == data  # the same calendar object as the attachment
    [ev] = c.events
    assert str(ev["UID"]) == cal.registration_uid(HIROSHIMA_A, reg.id)
    assert int(ev["SEQUENCE"]) == mail.sequence == 0
    assert str(ev["ORGANIZER"]) == f"mailto:{OFFICE.organizer}"
    att = ev["ATTENDEE"]
    assert str(att) == "mailto:taro@city.example.lg.jp"
    assert (att.params["RSVP"], att.params["PARTSTAT"]) == ("FALSE", "NEEDS-ACTION")
    assert str(ev["STATUS"]) == "CONFIRMED"


async def test_english_reader_gets_an_english_subject_and_calendar(catalog, smtp_server):
    reg = register(catalog).registrations[0]
    mail = build_mail(catalog, reg.id, "confirmation", office=OFFICE, now=NOW, lang="en")
    await send(mail_settings(smtp_server), mail.message)
    msg = smtp_server.inbox.messages[0].message()
    assert msg["Subject"] == "[CYDER] Registration confirmed - CYDER A (Beginner) Hiroshima, Fri 25 Oct 2024"
    text = parts(msg)["text/plain"].get_content()
    assert text.index("Your registration") < text.index("お申込み")
    c, _ = calendars(msg)
    assert str(c.events[0]["SUMMARY"]) == "CYDER A (Beginner) Hiroshima"


# The wording, as it read when it was written in bot/mail/message.py (before it moved to
# the .po files): every subject and lead, and a whole body in each language.
WORDING = {
    ("ja", MailKind.CONFIRMATION, "registered", None): (
        "【CYDER】お申込みを受け付けました: TITLE DATES",
        "お申込みを受け付けました。添付の招待を開くと、カレンダーに予定が追加されます。",
    ),
    ("ja", MailKind.CONFIRMATION, "waitlisted", None): (
        "【CYDER】キャンセル待ちに登録しました: TITLE DATES",
        "キャンセル待ち（3番目）に登録しました。空席が出た場合は、改めて招待をお送りします。"
        "添付の招待では仮の予定として表示されます。",
    ),
    ("ja", MailKind.UPDATE, "registered", None): (
        "【CYDER】開催内容が変更されました: TITLE DATES",
        "開催内容が変更されました。添付の招待でカレンダーの予定が更新されます。",
    ),
    ("ja", MailKind.CANCEL, "cancelled", None): (
        "【CYDER】お申込みを取り消しました: TITLE DATES",
        "お申込みを取り消し、お席を解放しました。添付の取消でカレンダーから予定が削除されます。",
    ),
    ("ja", MailKind.CANCEL, "session_cancelled", None): (
        "【CYDER】開催中止のお知らせ: TITLE DATES",
        "この開催回は中止になりました。添付の取消でカレンダーから予定が削除されます。",
    ),
    ("ja", MailKind.PROMOTION, "registered", None): (
        "【CYDER】キャンセル待ちから繰り上がりました: TITLE DATES",
        "空席が出たため、キャンセル待ちからお申込みに繰り上がりました。"
        "添付の招待でカレンダーの予定が確定します。",
    ),
    ("ja", MailKind.REMINDER, "registered", None): (
        "【CYDER】明日の開催のお知らせ: TITLE DATES",
        "明日はCYDERの開催日です。",
    ),
    ("ja", MailKind.REMINDER, "registered", "DAY"): (
        "【CYDER】DAYの開催のお知らせ: TITLE DATES",
        "DAYはCYDERの開催日です。",
    ),
    ("en", MailKind.CONFIRMATION, "registered", None): (
        "[CYDER] Registration confirmed - TITLE, DATES",
        "Your registration is confirmed. Open the attached invitation to put the session in your calendar.",
    ),
    ("en", MailKind.CONFIRMATION, "waitlisted", None): (
        "[CYDER] Waitlist place - TITLE, DATES",
        "You are on the waitlist, place 3. If a seat becomes free you will get a new "
        "invitation. The attached invitation shows the session as tentative.",
    ),
    ("en", MailKind.UPDATE, "registered", None): (
        "[CYDER] Changed - TITLE, DATES",
        "The session has changed. The attached invitation updates the event in your calendar.",
    ),
    ("en", MailKind.CANCEL, "cancelled", None): (
        "[CYDER] Registration cancelled - TITLE, DATES",
        "Your registration has been cancelled and your seat released. The attached "
        "cancellation removes the event from your calendar.",
    ),
    ("en", MailKind.CANCEL, "session_cancelled", None): (
        "[CYDER] Session cancelled - TITLE, DATES",
        "This session has been cancelled. The attached cancellation removes it from your calendar.",
    ),
    ("en", MailKind.PROMOTION, "registered", None): (
        "[CYDER] A seat for you - TITLE, DATES",
        "A seat became free: your waitlist place is now a registration. The attached "
        "invitation confirms the event in your calendar.",
    ),
    ("en", MailKind.REMINDER, "registered", None): (
        "[CYDER] Tomorrow - TITLE, DATES",
        "A reminder: your CYDER session is tomorrow.",
    ),
    ("en", MailKind.REMINDER, "registered", "DAY"): (
        "[CYDER] On DAY - TITLE, DATES",
        "A reminder: your CYDER session is on DAY.",
    ),
}

BODY_JA = """\
山田 太郎 様

お申込みを受け付けました。添付の招待を開くと、カレンダーに予定が追加されます。

コース: Aコース
日程: 2024年10月25日(金)
時間: 未発表
会場: 広島県 広島
所属: 広島市役所
詳細: https://cyder.nict.go.jp

このメールはCYDER申込ボットから自動送信しています。ご返信はCYDER事務局に届きます。"""

BODY_EN = """\
Dear 山田 太郎,

Your registration is confirmed. Open the attached invitation to put the session in your calendar.

Course: Course A
Dates: Fri 25 Oct 2024
Times: not announced
Place: Hiroshima, Japan
Organisation: 広島市役所
The exercise is held in Japanese.
Details: https://cyder.nict.go.jp

This message was sent automatically by the CYDER registration bot. Replies reach the CYDER office."""


@pytest.mark.parametrize(("lang", "kind", "state", "day"), list(WORDING))
def test_subjects_and_leads_read_as_they_always_did(lang, kind, state, day):
    reg = dataclasses.replace(PERSON, position=3)
    assert (
        message.subject(kind, state, "TITLE", "DATES", lang, day),
        message.lead(kind, state, reg, lang, day),
    ) == WORDING[lang, kind, state, day]


def test_a_whole_mail_reads_as_it_always_did(catalog):
    reg = register(catalog).registrations[0]
    for lang, first, second in (("ja", BODY_JA, BODY_EN), ("en", BODY_EN, BODY_JA)):
        mail = build_mail(catalog, reg.id, "confirmation", office=OFFICE, now=NOW, lang=lang)
        text = mail.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert text == f"{first}\n\n{'-' * 40}\n\n{second}\n"
        assert mail.message["From"].addresses[0].display_name == (
            "CYDER 事務局" if lang == "ja" else "CYDER office"
        )
    assert build_mail(catalog, reg.id, "confirmation", office=OFFICE, now=NOW, lang="en").message[
        "Subject"
    ] == ("[CYDER] Registration confirmed - CYDER A (Beginner) Hiroshima, Fri 25 Oct 2024")


async def test_colleagues_get_their_own_invite_at_their_own_address(catalog, smtp_server):
    colleague = Applicant(
        name="鈴木 花子", organisation="広島市役所", org_type="local", email="hanako@city.example.lg.jp"
    )
    rep, other = register(catalog, [yamada(), colleague]).registrations
    settings = mail_settings(smtp_server)
    for reg in (rep, other):
        await send(settings, build_mail(catalog, reg.id, "confirmation", office=OFFICE, now=NOW).message)
    got = smtp_server.inbox.messages
    assert [m.rcpt_tos for m in got] == [["taro@city.example.lg.jp"], ["hanako@city.example.lg.jp"]]
    uids = [str(calendars(m.message())[0].events[0]["UID"]) for m in got]
    assert uids == [cal.registration_uid(HIROSHIMA_A, rep.id), cal.registration_uid(HIROSHIMA_A, other.id)]
    second = got[1].message()
    assert "鈴木 花子 様" in parts(second)["text/plain"].get_content()
    assert "taro@" not in got[1].data.decode("ascii", "replace")


async def test_update_cancel_and_reminder(catalog, smtp_server, tmp_path):
    reg = register(catalog).registrations[0]
    settings = mail_settings(smtp_server)
    first = build_mail(catalog, reg.id, "confirmation", office=OFFICE, now=NOW)
    reminder = build_mail(catalog, reg.id, MailKind.REMINDER, office=OFFICE, now=NOW)
    assert reminder.method is None
    assert {p.get_content_type() for p in reminder.message.walk()} == {"text/plain"}
    # months ahead it names the date; "tomorrow" only the day before; nothing once begun
    assert "10月25日（金）の開催のお知らせ" in reminder.message["Subject"]
    assert "明日" not in reminder.message.get_body(("plain",)).get_content()
    eve = dt.datetime(2024, 10, 24, 9, 0, tzinfo=NOW.tzinfo)
    tomorrow = build_mail(catalog, reg.id, MailKind.REMINDER, office=OFFICE, now=eve)
    assert "明日の開催のお知らせ" in tomorrow.message["Subject"]
    assert "tomorrow" in tomorrow.message.get_body(("plain",)).get_content()
    with pytest.raises(NothingToSend):
        build_mail(catalog, reg.id, MailKind.REMINDER, office=OFFICE, now=eve + dt.timedelta(days=1))
    moved = edited_schedule(
        tmp_path,
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = 2024-10-25, venue = "広島県情報プラザ" }',
    )
    loader.load(catalog.store, moved, NOW + dt.timedelta(days=1))
    update = build_mail(catalog, reg.id, MailKind.UPDATE, office=OFFICE, now=NOW + dt.timedelta(days=1))
    assert update.sequence > first.sequence and update.message_id != first.message_id
    regs.cancel(catalog, reg.id, today=TODAY, now=NOW + dt.timedelta(days=2), user_id=7)
    cancel = build_mail(catalog, reg.id, MailKind.CANCEL, office=OFFICE, now=NOW + dt.timedelta(days=2))
    assert cancel.sequence > update.sequence and cancel.method == "CANCEL"
    for mail in (update, cancel):
        await send(settings, mail.message)
    got_update, got_cancel = (m.message() for m in smtp_server.inbox.messages)
    c, _ = calendars(got_update)
    assert "広島県情報プラザ" in str(c.events[0]["LOCATION"])
    assert "開催内容が変更されました" in got_update["Subject"]
    c, _ = calendars(got_cancel)
    assert parts(got_cancel)["text/calendar"].get_param("method") == "CANCEL"
    assert str(c["METHOD"]) == "CANCEL" and str(c.events[0]["STATUS"]) == "CANCELLED"
    assert c.events[0]["ATTENDEE"].params["PARTSTAT"] != "DECLINED"
    assert "お申込みを取り消しました" in got_cancel["Subject"]
    # What no longer fits is not mailed.
    for kind in (MailKind.CONFIRMATION, MailKind.UPDATE, MailKind.PROMOTION, MailKind.REMINDER):
        with pytest.raises(NothingToSend):
            build_mail(catalog, reg.id, kind, office=OFFICE, now=NOW)


async def test_waitlist_confirmation_then_promotion(catalog, smtp_server):
    from tests.conftest import fill

    fill(catalog, HIROSHIMA_A, catalog.session(HIROSHIMA_A).capacity)
    waiting = register(catalog, waitlist=True).registrations[0]
    assert waiting.status == "waitlisted"
    settings = mail_settings(smtp_server)
    tentative = build_mail(catalog, waiting.id, "confirmation", office=OFFICE, now=NOW)
    with pytest.raises(NothingToSend):
        build_mail(catalog, waiting.id, "promotion", office=OFFICE, now=NOW)
    seat = regs.for_session(catalog, HIROSHIMA_A)[0]
    outcome = regs.cancel(catalog, seat.id, today=TODAY, now=NOW + dt.timedelta(hours=1))
    assert [r.id for r in outcome.promoted] == [waiting.id]
    promotion = build_mail(catalog, waiting.id, "promotion", office=OFFICE, now=NOW + dt.timedelta(hours=1))
    for mail in (tentative, promotion):
        await send(settings, mail.message)
    a, b = (calendars(m.message())[0].events[0] for m in smtp_server.inbox.messages)
    assert str(a["UID"]) == str(b["UID"])
    assert str(a["STATUS"]) == "TENTATIVE" and str(b["STATUS"]) == "CONFIRMED"
    assert int(b["SEQUENCE"]) > int(a["SEQUENCE"])
    assert "キャンセル待ちから繰り上がりました" in smtp_server.inbox.messages[1].message()["Subject"]


def test_no_mail_for_a_person_without_an_address(catalog):
    reg = register(catalog, [yamada(email="")]).registrations[0]
    with pytest.raises(NothingToSend):
        build_mail(catalog, reg.id, "confirmation", office=OFFICE, now=NOW)


# -- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "reply", "error", "code"),
    [
        ("rcpt", "451 4.3.0 Try again later", TemporaryMailError, 451),
        ("rcpt", "550 5.1.1 <taro@city.example.lg.jp>: Recipient address rejected", PermanentMailError, 550),
        ("data", "451 4.7.1 Greylisted, come back later", TemporaryMailError, 451),
        ("data", "554 5.7.1 Message rejected", PermanentMailError, 554),
    ],
)
async def test_refusals_are_classified(catalog, where, reply, error, code, caplog):
    inbox = Inbox(
        rcpt_reply=reply if where == "rcpt" else None, data_reply=reply if where == "data" else None
    )
    controller, server = start(inbox)
    try:
        reg = register(catalog).registrations[0]
        mail = build_mail(catalog, reg.id, "confirmation", office=OFFICE, now=NOW)
        with caplog.at_level(logging.INFO, logger="cyder.mail"), pytest.raises(error) as info:
            await send(mail_settings(server), mail.message)
    finally:
        controller.stop()
    assert info.value.code == code and info.value.temporary is (error is TemporaryMailError)
    assert inbox.messages == []
    logged = caplog.text + str(info.value)
    assert mail.message_id in caplog.text
    for secret in ("taro@", "city.example.lg.jp", "山田"):  # never an address or a name
        assert secret not in logged


async def test_connection_refused_is_temporary(catalog):
    reg = register(catalog).registrations[0]
    mail = build_mail(catalog, reg.id, "confirmation", office=OFFICE, now=NOW)
    settings = Settings(
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        smtp_starttls=False,
        smtp_timeout=5,
        organizer_email=OFFICE.organizer,
    )
    with pytest.raises(TemporaryMailError) as info:
        await send(settings, mail.message)
    assert not info.value.setup


async def test_login_and_tls_problems_are_temporary_setup_errors(catalog):
    controller, server = start(Inbox(), authenticator=authenticator("bot", "right"), auth_require_tls=False)
    try:
        reg = register(catalog).registrations[0]
        mail = build_mail(catalog, reg.id, "confirmation", office=OFFICE, now=NOW)
        with pytest.raises(TemporaryMailError) as wrong:
            await send(mail_settings(server, smtp_user="bot", smtp_password="wrong"), mail.message)
        assert wrong.value.setup and wrong.value.code == 535
        with pytest.raises(TemporaryMailError) as no_tls:  # STARTTLS required, not offered
            await send(
                mail_settings(server, smtp_starttls=True, smtp_user="bot", smtp_password="right"),
                mail.message,
            )
        assert no_tls.value.setup
        await send(mail_settings(server, smtp_user="bot", smtp_password="right"), mail.message)
    finally:
        controller.stop()
    assert len(server.inbox.messages) == 1


async def test_a_bad_address_is_permanent_and_never_reaches_the_server(smtp_server):
    msg = EmailMessage()
    msg["From"] = OFFICE.sender
    msg["To"] = "not-an-address"
    msg["Message-ID"] = "<x@cyder.example.org>"
    msg.set_content("x")
    with pytest.raises(PermanentMailError):
        await send(mail_settings(smtp_server), msg)
    assert smtp_server.inbox.messages == []


async def test_a_run_of_mail_goes_through_one_by_one(catalog, smtp_server):
    people = [
        Applicant(
            name=f"職員{i}", organisation="広島市役所", org_type="local", email=f"staff{i}@city.example.lg.jp"
        )
        for i in range(5)
    ]
    outcome = register(catalog, people)
    mailer = Mailer.from_settings(mail_settings(smtp_server))
    assert mailer is not None
    async with asyncio.timeout(BOUND):
        await asyncio.gather(
            *(
                mailer.send(build_mail(catalog, r.id, "confirmation", office=OFFICE, now=NOW).message)
                for r in outcome.registrations
            )
        )
    assert sorted(m.rcpt_tos[0] for m in smtp_server.inbox.messages) == sorted(p.email for p in people)


def test_scrub_removes_addresses():
    assert scrub("550 5.1.1 <taro@city.example.lg.jp>: no such user") == ("550 5.1.1 <address>: no such user")
