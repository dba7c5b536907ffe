"""Mail for real (issue 11 §1): every change that should mail goes through the persisted
notification outbox to a real SMTP server (aiosmtpd on 127.0.0.1), sent by the Notifier
with a real catalog on a real SQLite file; the chat through the real Dispatcher. Each
message is parsed back with `email`, its calendar with icalendar. Every wait is bounded."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from typing import Any

from icalendar import Calendar

from bot.config import Settings
from bot.telegram import reminders as bot_reminders
from bot.telegram import schedule_watch
from bot.telegram.callbacks import MyCB, RegCB, SessionCB
from bot.telegram.factory import create_dispatcher
from bot.telegram.notify import Notifier
from bot.telegram.outbox import Outboxes
from catalog import calendar as cal
from catalog import notifications as nt
from catalog import registrations as regs
from catalog import reminders as notes
from catalog.clock import Clock
from catalog.registrations import Applicant
from schedules import loader
from tests.conftest import ChatUser, fill
from tests.test_handlers import set_profile
from tests.util_catalog import NOW, SCHEDULE
from tests.util_smtp import Inbox, start

HIROSHIMA_A = "2024-A-34-1025"
LINE = '{ course = "A", region = "中国", prefecture = "広島県", city = "広島", first = 2024-10-25 }'
BOUND = 20.0  # seconds: no wait here is longer
TARO = "taro@city.example.lg.jp"
CLOCK = Clock(pinned=NOW.date())


def mail_on(settings: Settings, server: Any) -> Settings:
    return dataclasses.replace(
        settings,
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_starttls=False,
        mail_per_minute=6000,
        smtp_timeout=5,
    )


def taro(email: str = TARO, name: str = "山田 太郎") -> Applicant:
    return Applicant(name=name, organisation="広島市役所", org_type="local", email=email)


async def until(condition: Callable[[], bool], what: str, timeout: float = BOUND) -> None:
    """Wait for `condition`, at most `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def pump(notifier: Notifier, bot: Any) -> dict[str, int]:
    """One pass of the sender's job over what is due, and the marks written."""
    async with asyncio.timeout(BOUND):
        counts = await notifier.deliver_due(bot)
        await notifier.idle()
    return counts


def mails(server: Any, address: str | None = None) -> list[EmailMessage]:
    return [m.message() for m in server.inbox.messages if address is None or address in m.rcpt_tos]


def invite(msg: EmailMessage) -> dict[str, Any]:
    """The calendar part of a mail, parsed: method (of the part and of the calendar), UID,
    SEQUENCE, STATUS, first day."""
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    c = Calendar.from_ical(part.get_content().encode("utf-8"))
    [event] = c.events
    assert part.get_param("method") == str(c["METHOD"])
    return {
        "method": str(c["METHOD"]),
        "uid": str(event["UID"]),
        "sequence": int(event["SEQUENCE"]),
        "status": str(event["STATUS"]),
        "start": event.decoded("DTSTART"),
    }


def ours(caplog: Any) -> str:
    """What the bot logged (not the test's SMTP server, which logs its dialogue)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("cyder"))


def rows(catalog: Any, where: str = "1") -> list[dict[str, Any]]:
    return catalog.store.query(f"select * from notifications where {where} order by id")


def schedule_with(tmp_path: Any, name: str, replacement: str) -> Any:
    text = SCHEDULE.read_text(encoding="utf-8")
    assert LINE in text
    path = tmp_path / name
    path.write_text(text.replace(LINE, replacement, 1), encoding="utf-8")
    return path


# -- the chat ---------------------------------------------------------------------------------


async def test_registering_in_chat_mails_each_person_their_own_invite_and_the_cancel(
    catalog, settings, bot, smtp_server
):
    settings = mail_on(settings, smtp_server)
    notifier = Notifier(catalog, settings, CLOCK)
    user = ChatUser(create_dispatcher(settings, catalog, CLOCK, notifier=notifier), bot)
    await set_profile(user)
    await user.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
    for text in ("山田 太郎", "広島県庁", "情報政策課"):
        await user.send(text)
    assert "確認メールとカレンダー招待をお送りします" in user.text()  # mail is on: it says so
    await user.send(TARO)
    await user.press(RegCB(action="add").pack())
    await user.send("同僚 花子")
    await user.send("hanako@city.example.lg.jp")
    await user.press(RegCB(action="done").pack())
    await user.press(RegCB(action="ok").pack())
    assert "申込が完了しました" in user.text()
    async with asyncio.timeout(BOUND):
        await notifier.idle()  # the mail goes in the background, after the chat's answer
    me, mate = regs.for_session(catalog, HIROSHIMA_A)
    assert {m.rcpt_tos[0] for m in smtp_server.inbox.messages} == {TARO, "hanako@city.example.lg.jp"}
    for reg in (me, mate):
        [msg] = mails(smtp_server, reg.email)
        assert msg["To"].addresses[0].addr_spec == reg.email
        assert reg.name in msg.get_body(("plain",)).get_content()
        got = invite(msg)
        assert (got["method"], got["uid"], got["status"]) == (
            "REQUEST",
            cal.registration_uid(HIROSHIMA_A, reg.id),
            "CONFIRMED",
        )
        assert got["sequence"] == cal.registration_sequence(catalog.session(HIROSHIMA_A), reg)
    first = invite(mails(smtp_server, TARO)[0])
    # the person cancels their own seat in /my: the CANCEL of the same event, by mail
    await user.press(MyCB(action="yes", reg=me.id).pack())
    async with asyncio.timeout(BOUND):
        await notifier.idle()
    invitation, cancel = mails(smtp_server, TARO)
    got = invite(cancel)
    assert (got["method"], got["uid"], got["status"]) == ("CANCEL", first["uid"], "CANCELLED")
    assert got["sequence"] > first["sequence"]
    assert len(mails(smtp_server, "hanako@city.example.lg.jp")) == 1  # her seat stands
    assert not rows(catalog, "result = 'pending'")
    assert await pump(notifier, bot) == {}  # nothing left, nothing sent again
    assert len(smtp_server.inbox.messages) == 3


async def test_without_smtp_host_nothing_is_mailed_promised_or_left_in_the_outbox(
    catalog, settings, bot, smtp_server
):
    assert not settings.mail_enabled
    notifier = Notifier(catalog, settings, CLOCK)
    user = ChatUser(create_dispatcher(settings, catalog, CLOCK, notifier=notifier), bot)
    await set_profile(user)
    await user.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
    for text in ("山田 太郎", "広島県庁", "情報政策課"):
        await user.send(text)
    question = user.text()
    assert "メールは送りません" in question and "招待" not in question
    await user.send(TARO)
    await user.press(RegCB(action="done").pack())
    await user.press(RegCB(action="ok").pack())
    assert "申込が完了しました" in user.text()
    # staff register someone too (no chat): their mail row is queued, then skipped
    regs.register(
        catalog, HIROSHIMA_A, [taro("hanako@city.example.lg.jp", "同僚 花子")], today=NOW.date(), now=NOW
    )
    async with asyncio.timeout(BOUND):
        await notifier.idle()
    await pump(notifier, bot)
    assert smtp_server.inbox.messages == []
    assert not rows(catalog, "result = 'pending'")
    assert [r["result"] for r in rows(catalog, "channel = 'email'")] == ["skipped"]


# -- the life of a registration by mail (made by staff: no chat) --------------------------------


async def test_waitlist_promotion_session_moved_and_cancel_each_mailed_once(
    catalog, settings, tg_bot, smtp_server, tmp_path
):
    settings = mail_on(settings, smtp_server)
    notifier = Notifier(catalog, settings, CLOCK)
    fill(catalog, HIROSHIMA_A, catalog.session(HIROSHIMA_A).capacity)
    reg = regs.register(
        catalog, HIROSHIMA_A, [taro()], today=NOW.date(), now=NOW, waitlist=True
    ).registrations[0]
    await pump(notifier, tg_bot)
    assert len(smtp_server.inbox.messages) == catalog.session(HIROSHIMA_A).capacity + 1
    uid = cal.registration_uid(HIROSHIMA_A, reg.id)
    [waiting] = mails(smtp_server, TARO)
    assert "キャンセル待ち" in waiting["Subject"]
    steps = [invite(waiting)]

    # a seat frees up: the person who cancels gets the CANCEL, Taro a new REQUEST
    seat = regs.for_session(catalog, HIROSHIMA_A)[0]
    regs.cancel(catalog, seat.id, today=NOW.date(), now=NOW + dt.timedelta(hours=1))
    await pump(notifier, tg_bot)
    [freed] = mails(smtp_server, seat.email)[1:]
    assert invite(freed)["method"] == "CANCEL"
    [promoted] = mails(smtp_server, TARO)[1:]
    assert "繰り上がりました" in promoted["Subject"]
    steps.append(invite(promoted))

    # the session moves to another day: an UPDATE (REQUEST) for everyone mailed before
    moved = schedule_with(
        tmp_path,
        "moved.toml",
        LINE.replace("first = 2024-10-25 }", f'first = 2024-10-28, id = "{HIROSHIMA_A}" }}'),
    )
    assert loader.load(catalog.store, moved, NOW + dt.timedelta(days=1)).updated == [HIROSHIMA_A]
    await schedule_watch.check_once(tg_bot, catalog, settings, CLOCK)
    await schedule_watch.check_once(tg_bot, catalog, settings, CLOCK)  # queued once only
    await pump(notifier, tg_bot)
    [update] = mails(smtp_server, TARO)[2:]
    assert "変更されました" in update["Subject"]
    steps.append(invite(update))
    assert len(mails(smtp_server, seat.email)) == 2  # cancelled before: not told again

    # staff cancel Taro: the CANCEL of the same event
    regs.cancel(catalog, reg.id, today=NOW.date(), now=NOW + dt.timedelta(days=2))
    await pump(notifier, tg_bot)
    [cancel] = mails(smtp_server, TARO)[3:]
    steps.append(invite(cancel))

    assert [(s["method"], s["status"], s["start"]) for s in steps] == [
        ("REQUEST", "TENTATIVE", dt.date(2024, 10, 25)),
        ("REQUEST", "CONFIRMED", dt.date(2024, 10, 25)),
        ("REQUEST", "CONFIRMED", dt.date(2024, 10, 28)),
        ("CANCEL", "CANCELLED", dt.date(2024, 10, 28)),
    ]
    assert {s["uid"] for s in steps} == {uid}
    sequences = [s["sequence"] for s in steps]
    assert sequences == sorted(set(sequences)), sequences
    # each Message-ID once: nothing was mailed twice
    ids = [m["Message-ID"] for m in mails(smtp_server)]
    assert len(ids) == len(set(ids))
    await schedule_watch.check_once(tg_bot, catalog, settings, CLOCK)
    assert await pump(notifier, tg_bot) == {}
    assert not rows(catalog, "result = 'pending'")


async def test_a_seat_given_by_staff_is_mailed(catalog, settings, tg_bot, smtp_server):
    from catalog import console
    from catalog.audit import Actor

    settings = mail_on(settings, smtp_server)
    notifier = Notifier(catalog, settings, CLOCK)
    fill(catalog, HIROSHIMA_A, catalog.session(HIROSHIMA_A).capacity - 1)
    fill(catalog, HIROSHIMA_A, 1, prefix="q")  # the last seat
    reg = regs.register(
        catalog, HIROSHIMA_A, [taro()], today=NOW.date(), now=NOW, waitlist=True
    ).registrations[0]
    await pump(notifier, tg_bot)
    last = next(r for r in regs.for_session(catalog, HIROSHIMA_A) if r.name == "q0")
    # staff cancel without promoting (after the deadline nobody moves up by themselves) ...
    later = catalog.session(HIROSHIMA_A).deadline + dt.timedelta(days=1)
    console.staff_cancel(
        catalog, last.id, reason="重複", actor=Actor.cli(), today=later, now=NOW + dt.timedelta(hours=1)
    )
    # ... then give the seat by hand
    console.promote(catalog, reg.id, actor=Actor.cli(), today=later, now=NOW + dt.timedelta(hours=2))
    await pump(notifier, tg_bot)
    waiting, promoted = mails(smtp_server, TARO)
    assert (invite(promoted)["method"], invite(promoted)["status"]) == ("REQUEST", "CONFIRMED")
    assert invite(promoted)["sequence"] > invite(waiting)["sequence"]
    assert invite(mails(smtp_server, last.email)[-1])["method"] == "CANCEL"


# -- failures ---------------------------------------------------------------------------------


async def test_a_451_is_retried_with_backoff_then_delivered_once(catalog, settings, tg_bot, caplog):
    inbox = Inbox(data_reply="451 4.7.1 Greylisted, come back later")
    controller, server = start(inbox)
    settings = mail_on(settings, server)
    notifier = Notifier(catalog, settings, CLOCK, backoff_base=0.05, backoff_max=0.2, poll=0.2)
    job = asyncio.create_task(notifier.run(tg_bot))
    try:
        with caplog.at_level(logging.INFO):
            reg = regs.register(catalog, HIROSHIMA_A, [taro()], today=NOW.date(), now=NOW).registrations[0]
            notifier.wake()
            await until(lambda: (rows(catalog)[0]["attempts"] or 0) >= 2, "two refused tries")
            [row] = rows(catalog)
            assert (row["result"], row["last_error"]) == ("pending", "passing")
            assert row["next_attempt_at"] is not None  # backed off, row by row
            assert inbox.messages == []
            inbox.data_reply = None  # the server takes mail again
            await until(lambda: rows(catalog)[0]["result"] == "sent", "the mail sent")
            assert await notifier.deliver_due(tg_bot) == {}
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)
        controller.stop()
    [got] = inbox.messages
    assert got.rcpt_tos == [TARO]
    assert invite(got.message())["uid"] == cal.registration_uid(HIROSHIMA_A, reg.id)
    assert "try 1 failed" in caplog.text
    for secret in ("taro@", "city.example.lg.jp", "山田"):
        assert secret not in ours(caplog)


async def test_a_550_is_given_up_with_a_log_line_and_never_resent(catalog, settings, tg_bot, caplog):
    inbox = Inbox(rcpt_reply="550 5.1.1 <taro@city.example.lg.jp>: Recipient address rejected")
    controller, server = start(inbox)
    settings = mail_on(settings, server)
    try:
        notifier = Notifier(catalog, settings, CLOCK)
        regs.register(catalog, HIROSHIMA_A, [taro()], today=NOW.date(), now=NOW)
        with caplog.at_level(logging.INFO):
            assert await pump(notifier, tg_bot) == {"failed": 1}
        [row] = rows(catalog)
        assert (row["result"], row["attempts"]) == ("failed", 1)
        assert f"registered mail notification {row['id']} given up: SMTP 550" in caplog.text
        for secret in ("taro@", "city.example.lg.jp", "山田"):
            assert secret not in ours(caplog)
        inbox.rcpt_reply = None
        again = Notifier(catalog, settings, CLOCK, owner="next-start")  # a restart
        assert await pump(again, tg_bot) == {}
    finally:
        controller.stop()
    assert inbox.messages == []


async def test_a_restart_mails_what_a_dead_process_left_exactly_once(catalog, settings, tg_bot, smtp_server):
    settings = mail_on(settings, smtp_server)
    # committed, claimed by a process that died before sending
    regs.register(
        catalog,
        HIROSHIMA_A,
        [taro()],
        today=NOW.date(),
        now=NOW,
        user_id=7,
        notify=nt.Notify(channels=(nt.EMAIL,), chat_id=7, claimed_by="dead"),
    )
    notifier = Notifier(catalog, settings, CLOCK, owner="first-start", poll=0.1)
    job = asyncio.create_task(notifier.run(tg_bot))  # takes over the dead one's claim
    try:
        await until(lambda: rows(catalog)[0]["result"] == "sent", "the mail sent")
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)
    # and the start after that has nothing to take over, nothing to send
    assert nt.release_orphans(catalog.store, "second-start") == 0
    assert await pump(Notifier(catalog, settings, CLOCK, owner="second-start"), tg_bot) == {}
    assert len(smtp_server.inbox.messages) == 1
    assert rows(catalog)[0]["attempts"] == 1


# -- the day-before reminder ----------------------------------------------------------------------


async def test_the_day_before_reminder_is_mailed_once(catalog, settings, tg_bot, smtp_server):
    settings = mail_on(settings, smtp_server)
    eve = Clock(pinned=dt.date(2024, 10, 24))
    reg = regs.register(catalog, HIROSHIMA_A, [taro()], today=NOW.date(), now=NOW, user_id=7).registrations[0]
    regs.register(
        catalog,
        HIROSHIMA_A,
        [taro("jiro@city.example.lg.jp", "山田 次郎")],
        today=NOW.date(),
        now=NOW,
        waitlist=False,
    )
    notifier = Notifier(catalog, settings, eve)
    await pump(notifier, tg_bot)  # the confirmations
    smtp_server.inbox.messages.clear()
    outbox = Outboxes(catalog, eve).for_bot(tg_bot)
    evening = dataclasses.replace(settings, reminder_hour=0)
    for _ in range(2):  # the job checks every minute: once per person all the same
        await bot_reminders.tick(outbox, catalog, evening, eve)
        await pump(notifier, tg_bot)
    reminded = [m.message() for m in smtp_server.inbox.messages]
    assert sorted(m["To"].addresses[0].addr_spec for m in reminded) == ["jiro@city.example.lg.jp", TARO]
    for msg in reminded:
        assert "明日の開催のお知らせ" in msg["Subject"]
        assert {p.get_content_type() for p in msg.walk()} == {"text/plain"}
    assert notes.queue_mail_reminders(catalog, eve.today(), eve.now()) == 0
    # the chat reminder went too, and is not taken for the mail one (or the other way)
    assert notes.notification_results(catalog, HIROSHIMA_A) == {reg.id: "sent"}


async def test_no_reminder_mail_when_mail_is_off_or_too_late(catalog, settings, tg_bot):
    eve = Clock(pinned=dt.date(2024, 10, 24))
    regs.register(catalog, HIROSHIMA_A, [taro()], today=NOW.date(), now=NOW)
    outbox = Outboxes(catalog, eve).for_bot(tg_bot)
    await bot_reminders.tick(outbox, catalog, dataclasses.replace(settings, reminder_hour=0), eve)
    assert not rows(catalog, "kind = 'reminder'")
    # queued on the eve, sent only once the session has begun: skipped, not "tomorrow"
    assert notes.queue_mail_reminders(catalog, eve.today(), eve.now()) == 1
    server_settings = dataclasses.replace(settings, smtp_host="127.0.0.1", smtp_port=9, smtp_starttls=False)
    late = Notifier(catalog, server_settings, Clock(pinned=dt.date(2024, 10, 25)))
    assert (await pump(late, tg_bot)).get("skipped") == 1
    assert [r["result"] for r in rows(catalog, "kind = 'reminder'")] == ["skipped"]


async def test_a_staff_move_mails_the_cancel_of_the_old_copy_and_the_new_invite(
    catalog, settings, tg_bot, smtp_server
):
    from catalog import console
    from catalog.audit import Actor

    settings = mail_on(settings, smtp_server)
    notifier = Notifier(catalog, settings, CLOCK)
    old = "2024-A-13-0709"
    reg = regs.register(catalog, old, [taro()], today=NOW.date(), now=NOW).registrations[0]
    await pump(notifier, tg_bot)
    change = console.move(
        catalog, reg.id, HIROSHIMA_A, actor=Actor.cli(), today=NOW.date(), now=NOW + dt.timedelta(hours=1)
    )
    await pump(notifier, tg_bot)
    first, cancel, new = (invite(m) for m in mails(smtp_server, TARO))
    old_copy = change.notices[0].old_copy
    assert old_copy is not None
    assert (cancel["method"], cancel["uid"]) == ("CANCEL", first["uid"])
    assert cancel["uid"] == cal.registration_uid(old, reg.id)
    assert cancel["sequence"] == cal.registration_sequence(catalog.session(old), old_copy)
    assert cancel["sequence"] > first["sequence"]
    assert (new["method"], new["uid"], new["status"]) == (
        "REQUEST",
        cal.registration_uid(HIROSHIMA_A, reg.id),
        "CONFIRMED",
    )
    await schedule_watch.check_once(tg_bot, catalog, settings, CLOCK)
    assert await pump(notifier, tg_bot) == {}  # each once; no "changed" for the new copy
    assert len(smtp_server.inbox.messages) == 3


async def test_a_run_of_mail_keeps_the_configured_rate(catalog, settings, tg_bot, smtp_server):
    settings = dataclasses.replace(mail_on(settings, smtp_server), mail_per_minute=120)
    notifier = Notifier(catalog, settings, CLOCK)  # SMTP_RATE_PER_MINUTE=120: one per 0.5 s
    people = [taro(f"staff{i}@city.example.lg.jp", f"職員{i}") for i in range(3)]
    regs.register(catalog, HIROSHIMA_A, people, today=NOW.date(), now=NOW)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await pump(notifier, tg_bot) == {"sent": 3}
    assert loop.time() - started >= 0.9  # three mails, paced: at least two gaps of 0.5 s
    assert len(smtp_server.inbox.messages) == 3


async def test_a_larger_capacity_tells_the_promoted_in_chat_and_by_mail(
    catalog, settings, tg, tg_bot, smtp_server
):
    """Staff raising a session's capacity on the schedule page promotes the waitlist: the
    promoted hear it in chat and by mail, through the outbox (it used to be saved only)."""
    from catalog import schedule_edit

    settings = mail_on(settings, smtp_server)
    notifier = Notifier(catalog, settings, CLOCK)
    fill(catalog, HIROSHIMA_A, catalog.session(HIROSHIMA_A).capacity)
    reg = regs.register(
        catalog, HIROSHIMA_A, [taro()], today=NOW.date(), now=NOW, user_id=4242, waitlist=True
    ).registrations[0]
    assert reg.status == "waitlisted"
    await pump(notifier, tg_bot)
    before = len(mails(smtp_server, TARO))
    result = schedule_edit.edit_session(
        catalog.store,
        HIROSHIMA_A,
        {"capacity": str(catalog.session(HIROSHIMA_A).capacity + 1)},
        now=NOW + dt.timedelta(hours=1),
        today=NOW.date(),
    )
    assert result.promoted == (reg.id,)
    await pump(notifier, tg_bot)
    said = "\n".join(c.text for c in tg.sent_to(4242))
    assert "キャンセル待ちから" in said and "確定しました" in said
    [promoted] = mails(smtp_server, TARO)[before:]
    assert (invite(promoted)["method"], invite(promoted)["status"]) == ("REQUEST", "CONFIRMED")
    await pump(notifier, tg_bot)  # nobody is told twice
    assert len(mails(smtp_server, TARO)) == before + 1
    assert said == "\n".join(c.text for c in tg.sent_to(4242))


# -- corrected details ----------------------------------------------------------------------------


def attendee(msg: EmailMessage) -> tuple[str, str]:
    """The invite's ATTENDEE: (address, CN)."""
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    [event] = Calendar.from_ical(part.get_content().encode("utf-8")).events
    who = event["ATTENDEE"]
    return str(who).removeprefix("mailto:"), str(who.params["CN"])


async def test_a_corrected_address_gets_the_invite_and_the_old_one_its_cancel(
    catalog, settings, tg_bot, smtp_server
):
    from catalog import console
    from catalog.audit import Actor

    settings = mail_on(settings, smtp_server)
    notifier = Notifier(catalog, settings, CLOCK)
    reg = regs.register(catalog, HIROSHIMA_A, [taro()], today=NOW.date(), now=NOW).registrations[0]
    await pump(notifier, tg_bot)
    [first] = (invite(m) for m in mails(smtp_server, TARO))
    fixed = "taro.yamada@city.example.lg.jp"
    console.edit(catalog, reg.id, actor=Actor.cli(), now=NOW + dt.timedelta(hours=1), email=fixed)
    assert await pump(notifier, tg_bot) == {"sent": 2}
    _invitation, cancel_mail = mails(smtp_server, TARO)
    [request_mail] = mails(smtp_server, fixed)
    cancel, request = invite(cancel_mail), invite(request_mail)
    assert (cancel["method"], cancel["status"], cancel["uid"]) == ("CANCEL", "CANCELLED", first["uid"])
    assert (request["method"], request["status"], request["uid"]) == ("REQUEST", "CONFIRMED", first["uid"])
    assert cancel["sequence"] > first["sequence"] and request["sequence"] > first["sequence"]
    assert attendee(cancel_mail)[0] == TARO and attendee(request_mail)[0] == fixed
    assert "メールアドレスを変更しました" in cancel_mail["Subject"]
    assert "お申込みはそのまま有効" in cancel_mail.get_body(("plain",)).get_content()
    assert fixed not in cancel_mail.as_string()  # the old address is not told the new one
    assert "お申込み内容を訂正しました" in request_mail["Subject"]
    assert "お申込み内容（お名前・メールアドレス）を訂正しました。" in (
        request_mail.get_body(("plain",)).get_content()
    )
    # a second correction mails again, with a SEQUENCE higher still
    console.edit(catalog, reg.id, actor=Actor.cli(), now=NOW + dt.timedelta(hours=2), name="山田 太朗")
    assert await pump(notifier, tg_bot) == {"sent": 1}
    [_, again] = mails(smtp_server, fixed)
    assert invite(again)["sequence"] > request["sequence"]
    assert attendee(again) == (fixed, "山田 太朗")
    # nothing changed: nothing mailed
    console.edit(
        catalog, reg.id, actor=Actor.cli(), now=NOW + dt.timedelta(hours=3), name="山田 太朗", email=fixed
    )
    assert await pump(notifier, tg_bot) == {}
    assert len(smtp_server.inbox.messages) == 4


async def test_a_corrected_name_is_one_request_with_the_new_name(catalog, settings, tg_bot, smtp_server):
    from catalog import console
    from catalog.audit import Actor

    settings = mail_on(settings, smtp_server)
    notifier = Notifier(catalog, settings, CLOCK)
    fill(catalog, HIROSHIMA_A, catalog.session(HIROSHIMA_A).capacity)
    reg = regs.register(
        catalog, HIROSHIMA_A, [taro()], today=NOW.date(), now=NOW, waitlist=True
    ).registrations[0]
    await pump(notifier, tg_bot)
    [waiting] = mails(smtp_server, TARO)
    console.edit(
        catalog,
        reg.id,
        actor=Actor.cli(),
        now=NOW + dt.timedelta(hours=1),
        name="山田 太朗",
        organisation="広島市役所 情報政策課",
    )
    assert await pump(notifier, tg_bot) == {"sent": 1}
    [_, fixed] = mails(smtp_server, TARO)
    got = invite(fixed)
    assert (got["method"], got["status"], got["uid"]) == (
        "REQUEST",
        "TENTATIVE",
        invite(waiting)["uid"],
    )  # still a waitlist place
    assert got["sequence"] > invite(waiting)["sequence"]
    assert attendee(fixed) == (TARO, "山田 太朗")
    assert "山田 太朗 様" in fixed.get_body(("plain",)).get_content()
    # the department alone is not on the invite: no mail; nor for a cancelled registration
    console.edit(catalog, reg.id, actor=Actor.cli(), now=NOW + dt.timedelta(hours=2), department="DX推進室")
    regs.cancel(catalog, reg.id, today=NOW.date(), now=NOW + dt.timedelta(hours=3))
    await pump(notifier, tg_bot)
    smtp_server.inbox.messages.clear()
    console.edit(catalog, reg.id, actor=Actor.cli(), now=NOW + dt.timedelta(hours=4), name="山田 太郎")
    assert await pump(notifier, tg_bot) == {}
    assert smtp_server.inbox.messages == []


async def test_a_representative_correcting_a_colleague_in_chat_mails_them(
    catalog, settings, bot, smtp_server
):
    from bot.telegram.callbacks import MateCB
    from catalog import colleagues as mates
    from tests.test_handlers_colleagues import apply

    settings = mail_on(settings, smtp_server)
    notifier = Notifier(catalog, settings, CLOCK)
    user = ChatUser(create_dispatcher(settings, catalog, CLOCK, notifier=notifier), bot)
    await set_profile(user)
    await apply(user, (("同行 二郎", "jiro@pref.hiroshima.lg.jp"),))
    async with asyncio.timeout(BOUND):
        await notifier.idle()
    [app] = mates.applications_of(catalog, user.user.id)
    jiro = app.colleagues[0]
    [first] = mails(smtp_server, "jiro@pref.hiroshima.lg.jp")
    await user.press(MateCB(action="show", reg=jiro.id).pack())
    await user.click("メールアドレスを変更")
    await user.send("jiro2@pref.hiroshima.lg.jp")
    assert "✅ 変更しました。" in user.text()
    await pump(notifier, bot)
    [_, cancel] = mails(smtp_server, "jiro@pref.hiroshima.lg.jp")
    [request] = mails(smtp_server, "jiro2@pref.hiroshima.lg.jp")
    assert invite(cancel)["method"] == "CANCEL" and invite(request)["method"] == "REQUEST"
    assert invite(cancel)["uid"] == invite(request)["uid"] == invite(first)["uid"]
    assert invite(request)["sequence"] > invite(first)["sequence"]
    await user.click("氏名を変更")
    await user.send("同行 次郎")
    await pump(notifier, bot)
    [_, renamed] = mails(smtp_server, "jiro2@pref.hiroshima.lg.jp")
    assert attendee(renamed) == ("jiro2@pref.hiroshima.lg.jp", "同行 次郎")
    assert invite(renamed)["sequence"] > invite(request)["sequence"]


# -- the same kind of event again is told again ----------------------------------------------------

TOKYO_A = "2024-A-13-0709"


async def test_promoted_a_second_time_in_another_session_is_told_again(
    catalog, settings, tg, tg_bot, smtp_server
):
    """Promoted, moved by staff to another session's waitlist, promoted there: both
    promotions are told in chat and by mail (the key names the session and the sequence),
    each once."""
    from catalog import console, schedule_edit
    from catalog.audit import Actor

    settings = mail_on(settings, smtp_server)
    notifier = Notifier(catalog, settings, CLOCK)

    def raise_capacity(session_id: str, hours: int) -> tuple[int, ...]:
        capacity = catalog.session(session_id).capacity
        return schedule_edit.edit_session(
            catalog.store,
            session_id,
            {"capacity": str(capacity + 1)},
            now=NOW + dt.timedelta(hours=hours),
            today=NOW.date(),
        ).promoted

    fill(catalog, HIROSHIMA_A, catalog.session(HIROSHIMA_A).capacity)
    fill(catalog, TOKYO_A, catalog.session(TOKYO_A).capacity, prefix="t")
    reg = regs.register(
        catalog, HIROSHIMA_A, [taro()], today=NOW.date(), now=NOW, user_id=4242, waitlist=True
    ).registrations[0]
    await pump(notifier, tg_bot)
    assert raise_capacity(HIROSHIMA_A, 1) == (reg.id,)
    await pump(notifier, tg_bot)
    change = console.move(
        catalog,
        reg.id,
        TOKYO_A,
        actor=Actor.cli(),
        today=NOW.date(),
        now=NOW + dt.timedelta(hours=2),
        waitlist=True,
    )
    assert change.after.status == "waitlisted"
    await pump(notifier, tg_bot)
    assert raise_capacity(TOKYO_A, 3) == (reg.id,)
    await pump(notifier, tg_bot)
    assert await pump(notifier, tg_bot) == {}  # and nothing twice
    got = [invite(m) for m in mails(smtp_server, TARO)]
    assert [(g["method"], g["status"], g["uid"]) for g in got] == [
        ("REQUEST", "TENTATIVE", cal.registration_uid(HIROSHIMA_A, reg.id)),
        ("REQUEST", "CONFIRMED", cal.registration_uid(HIROSHIMA_A, reg.id)),  # promoted
        ("CANCEL", "CANCELLED", cal.registration_uid(HIROSHIMA_A, reg.id)),  # moved away
        ("REQUEST", "TENTATIVE", cal.registration_uid(TOKYO_A, reg.id)),  # its waitlist
        ("REQUEST", "CONFIRMED", cal.registration_uid(TOKYO_A, reg.id)),
    ]  # promoted again
    said = [c.text for c in tg.sent_to(4242) if "キャンセル待ちから" in (c.text or "")]
    assert len(said) == 2, said


async def test_moved_there_and_back_is_mailed_each_time(catalog, settings, tg_bot, smtp_server):
    from catalog import console
    from catalog.audit import Actor

    settings = mail_on(settings, smtp_server)
    notifier = Notifier(catalog, settings, CLOCK)
    reg = regs.register(catalog, HIROSHIMA_A, [taro()], today=NOW.date(), now=NOW).registrations[0]
    await pump(notifier, tg_bot)
    for hours, target in ((1, TOKYO_A), (2, HIROSHIMA_A)):
        console.move(
            catalog, reg.id, target, actor=Actor.cli(), today=NOW.date(), now=NOW + dt.timedelta(hours=hours)
        )
        await pump(notifier, tg_bot)
    got = [invite(m) for m in mails(smtp_server, TARO)]
    here, there = (cal.registration_uid(s, reg.id) for s in (HIROSHIMA_A, TOKYO_A))
    assert [(g["method"], g["uid"]) for g in got] == [
        ("REQUEST", here),
        ("CANCEL", here),
        ("REQUEST", there),
        ("CANCEL", there),
        ("REQUEST", here),
    ]
    sequences = [g["sequence"] for g in got if g["uid"] == here]
    assert sequences == sorted(set(sequences))  # back home, above the cancel before
    # and back home, the session's changes are told again (revisions of this session)
    regs.cancel(catalog, reg.id, today=NOW.date(), now=NOW + dt.timedelta(hours=3))
    await pump(notifier, tg_bot)
    assert invite(mails(smtp_server, TARO)[-1])["method"] == "CANCEL"
    assert await pump(notifier, tg_bot) == {}


async def test_a_session_change_after_a_move_is_mailed_though_the_old_session_changed_more(
    catalog, settings, tg_bot, smtp_server
):
    """What was told is counted per session: revision 1 of the new session is news even
    after revision 2 of the old one was mailed."""
    from catalog import console, schedule_edit
    from catalog.audit import Actor

    settings = mail_on(settings, smtp_server)
    notifier = Notifier(catalog, settings, CLOCK)
    reg = regs.register(catalog, HIROSHIMA_A, [taro()], today=NOW.date(), now=NOW).registrations[0]
    await pump(notifier, tg_bot)

    async def change(session_id: str, venue: str, hours: int) -> None:
        schedule_edit.edit_session(
            catalog.store, session_id, {"venue": venue}, now=NOW + dt.timedelta(hours=hours), today=NOW.date()
        )
        await schedule_watch.check_once(tg_bot, catalog, settings, CLOCK)
        await pump(notifier, tg_bot)

    await change(HIROSHIMA_A, "会場その1", 1)
    await change(HIROSHIMA_A, "会場その2", 2)
    assert catalog.session(HIROSHIMA_A).revision == 2
    console.move(
        catalog, reg.id, TOKYO_A, actor=Actor.cli(), today=NOW.date(), now=NOW + dt.timedelta(hours=3)
    )
    await pump(notifier, tg_bot)
    await change(TOKYO_A, "東京の会場", 4)
    assert catalog.session(TOKYO_A).revision == 1
    last = mails(smtp_server, TARO)[-1]
    assert "変更されました" in last["Subject"]
    assert (invite(last)["method"], invite(last)["uid"]) == ("REQUEST", cal.registration_uid(TOKYO_A, reg.id))
    assert "東京の会場" in last.get_body(("plain",)).get_content()
    await change(TOKYO_A, "東京の会場", 5)  # no change: nothing
    assert len(mails(smtp_server, TARO)) == 6  # invite, 2 updates, cancel + invite, update


# -- the serving process: staff changes wake the sender ------------------------------------------


async def test_a_web_admin_change_is_mailed_at_once_not_at_the_next_poll(
    tmp_path, smtp_server, unused_tcp_port
):
    """`serve` gives the web app the Notifier its background job runs: a correction made
    on the admin page is mailed within seconds, though the sender polls every 30 s."""
    import inspect
    import re
    from urllib.parse import urlsplit

    import aiohttp

    from bot import serve as runner
    from bot.demo.fake_telegram import FakeTelegram
    from bot.runtime import open_catalog

    assert inspect.signature(Notifier).parameters["poll"].default >= 30  # what serve runs
    async with FakeTelegram() as fake:
        settings = Settings(
            bot_token=fake.token,
            telegram_api_base=fake.base_url,
            db_path=tmp_path / "serve.db",
            today=NOW.date(),
            http_port=unused_tcp_port,
            admin_token="a-long-admin-token-for-tests",
            smtp_host=smtp_server.host,
            smtp_port=smtp_server.port,
            smtp_starttls=False,
            mail_per_minute=6000,
            smtp_timeout=5,
            organizer_email="office@cyder.example.org",
        )
        before = open_catalog(settings)
        reg = regs.register(before, HIROSHIMA_A, [taro()], today=NOW.date(), now=NOW).registrations[0]
        before.store.close()
        stop = asyncio.Event()
        ready = asyncio.Event()
        serving = asyncio.create_task(
            runner.serve(settings, stop=stop, install_signals=False, on_ready=lambda app: ready.set())
        )
        base = f"http://127.0.0.1:{unused_tcp_port}"

        def csrf(text: str) -> str:
            m = re.search(r'name="csrf" value="([^"]+)"', text)
            assert m
            return m.group(1)

        try:
            async with asyncio.timeout(BOUND):
                await ready.wait()
            # the start-up pass sends what was queued before
            await until(lambda: len(mails(smtp_server, TARO)) == 1, "the confirmation")
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                async with http.get(f"{base}/admin/login") as page:
                    token = csrf(await page.text())
                async with http.post(
                    f"{base}/admin/login", data={"token": settings.admin_token, "csrf": token}
                ) as signed:
                    assert signed.status == 200
                async with http.get(f"{base}/admin/registrations/{reg.id}") as page:
                    token = csrf(await page.text())
                async with http.post(
                    f"{base}/admin/registrations/{reg.id}/edit",
                    data={"csrf": token, "email": "taro2@city.example.lg.jp"},
                    allow_redirects=False,
                ) as done:
                    assert done.status == 303
                    assert "done=edited" in urlsplit(done.headers["Location"]).query
                loop = asyncio.get_running_loop()
                started = loop.time()
                await until(
                    lambda: len(mails(smtp_server, "taro2@city.example.lg.jp")) == 1,
                    "the corrected invite",
                    timeout=5.0,
                )
                await until(lambda: len(mails(smtp_server, TARO)) == 2, "the old one's cancel", timeout=5.0)
                assert loop.time() - started < 5.0
        finally:
            stop.set()
            await asyncio.wait_for(serving, BOUND)
    assert invite(mails(smtp_server, "taro2@city.example.lg.jp")[0])["method"] == "REQUEST"
    assert invite(mails(smtp_server, TARO)[1])["method"] == "CANCEL"


@contextlib.asynccontextmanager
async def sender_job(notifier: Notifier, bot: Any) -> AsyncIterator[None]:
    """The Notifier's background job, as serve runs it, for the duration."""
    job = asyncio.create_task(notifier.run(bot))
    try:
        await asyncio.sleep(0.2)  # its start-up pass, then it waits for a wake or its poll
        yield
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)


async def test_a_staff_chat_command_wakes_the_sender(catalog, settings, bot, tg_bot, smtp_server):
    settings = dataclasses.replace(mail_on(settings, smtp_server), admin_ids=frozenset({5001}))
    notifier = Notifier(catalog, settings, CLOCK, poll=600)
    staff = ChatUser(create_dispatcher(settings, catalog, CLOCK, notifier=notifier), bot, 5001)
    reg = regs.register(catalog, HIROSHIMA_A, [taro()], today=NOW.date(), now=NOW).registrations[0]
    async with sender_job(notifier, tg_bot):
        await until(lambda: len(mails(smtp_server, TARO)) == 1, "the confirmation", 5.0)
        await staff.send(f"/cancel_reg {reg.id} 重複")
        assert "取り消" in staff.text() or "Cancelled" in staff.text()
        await until(lambda: len(mails(smtp_server, TARO)) == 2, "the cancel", timeout=5.0)
    assert invite(mails(smtp_server, TARO)[1])["method"] == "CANCEL"


async def test_a_web_schedule_edit_wakes_the_sender(catalog, settings, tg_bot, smtp_server, tmp_path):
    from aiohttp.test_utils import TestClient, TestServer

    from bot.web.app import create_web_app
    from bot.web.keys import NOTIFIER
    from tests.test_admin_web import TOKEN, csrf_of, sign_in

    settings = dataclasses.replace(mail_on(settings, smtp_server), admin_token=TOKEN)
    notifier = Notifier(catalog, settings, CLOCK, poll=600)
    fill(catalog, HIROSHIMA_A, catalog.session(HIROSHIMA_A).capacity)
    # before the edits by the clock the web uses (the real time of day on NOW's date)
    regs.register(
        catalog,
        HIROSHIMA_A,
        [taro()],
        today=NOW.date(),
        now=CLOCK.now() - dt.timedelta(minutes=1),
        waitlist=True,
    )
    app = create_web_app(settings, catalog, CLOCK)
    app[NOTIFIER] = notifier
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        async with sender_job(notifier, tg_bot):
            await until(lambda: len(mails(smtp_server, TARO)) == 1, "the waitlist's", 5.0)
            await sign_in(client)
            form = await client.get(f"/admin/sessions/{HIROSHIMA_A}/edit")
            capacity = catalog.session(HIROSHIMA_A).capacity
            done = await client.post(
                f"/admin/sessions/{HIROSHIMA_A}/edit",
                data={"csrf": csrf_of(await form.text()), "capacity": str(capacity + 1)},
                allow_redirects=False,
            )
            assert done.status == 303 and "promoted=1" in done.headers["Location"]
            await until(lambda: len(mails(smtp_server, TARO)) == 2, "the promotion", 5.0)
            # a venue: the session's change is queued and mailed at once too
            form = await client.get(f"/admin/sessions/{HIROSHIMA_A}/edit")
            done = await client.post(
                f"/admin/sessions/{HIROSHIMA_A}/edit",
                data={"csrf": csrf_of(await form.text()), "venue": "広島県情報プラザ"},
                allow_redirects=False,
            )
            assert done.status == 303
            await until(lambda: len(mails(smtp_server, TARO)) == 3, "the update", 5.0)
    finally:
        await client.close()
    promoted, changed = mails(smtp_server, TARO)[1:]
    assert "繰り上がりました" in promoted["Subject"] and "変更されました" in changed["Subject"]


async def test_a_web_schedule_edit_is_told_in_chat_at_once_not_at_the_watch(
    catalog, settings, tg, tg_bot, tmp_path
):
    """A venue changed on the admin page reaches the registrant's chat within seconds,
    with the re-issued invite, though the schedule watch is not running and the sender
    polls every 600 s; and only once (the watch, passing later, finds nobody to tell)."""
    from aiohttp.test_utils import TestClient, TestServer

    from bot.telegram import schedule_watch
    from bot.web.app import create_web_app
    from bot.web.keys import NOTIFIER
    from tests.test_admin_web import TOKEN, csrf_of, sign_in

    settings = dataclasses.replace(settings, admin_token=TOKEN)
    notifier = Notifier(catalog, settings, CLOCK, poll=600)
    regs.register(
        catalog,
        HIROSHIMA_A,
        [taro()],
        today=NOW.date(),
        now=CLOCK.now() - dt.timedelta(minutes=1),
        user_id=4343,
    )
    app = create_web_app(settings, catalog, CLOCK)
    app[NOTIFIER] = notifier
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        async with sender_job(notifier, tg_bot):
            before = len(tg.sent_to(4343))  # registered without the chat (nothing queued)
            await sign_in(client)
            form = await client.get(f"/admin/sessions/{HIROSHIMA_A}/edit")
            done = await client.post(
                f"/admin/sessions/{HIROSHIMA_A}/edit",
                data={"csrf": csrf_of(await form.text()), "venue": "広島県情報プラザ"},
                allow_redirects=False,
            )
            assert done.status == 303
            await until(
                lambda: any("変更" in (c.text or "") for c in tg.sent_to(4343)[before:]),
                "the change notice",
                5.0,
            )
            await until(
                lambda: any(c.method == "sendDocument" for c in tg.sent_to(4343)[before:]),
                "the re-issued invite",
                5.0,
            )
            told = len(tg.sent_to(4343))
            assert await schedule_watch.check_once(tg_bot, catalog, settings, CLOCK) == {}
            await notifier.idle()
            assert len(tg.sent_to(4343)) == told
    finally:
        await client.close()
