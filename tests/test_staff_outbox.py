"""What staff do is told through the notification outbox: a staff cancel, move or promotion
(from the CLI, the admin page or the staff chat commands) queues the chat message in the
change's own transaction, unclaimed; the bot's sender delivers it later, with the reason
and the calendar files, retries Telegram's passing failures and sends what a restart left,
each once. Against the fake Bot API on 127.0.0.1 with a real aiogram Bot."""

from __future__ import annotations

import asyncio

import pytest
from icalendar import Calendar

from bot.demo.fake_telegram import FakeTelegram
from bot.telegram.notify import Notifier
from catalog import calendar as ics
from catalog import console
from catalog import notifications as nt
from catalog.audit import Actor
from catalog.clock import Clock
from catalog.registrations import Applicant, Registration, get_registration, register
from catalog.users import save_user
from tests.conftest import fill
from tests.util_catalog import NOW, make_catalog

HIROSHIMA = "2024-A-34-1025"
TOKYO = "2024-A-13-0709"
PERSON, WAITING, REP = 7401, 7402, 7403
CLOCK = Clock(pinned=NOW.date())


@pytest.fixture
def catalog(tmp_path):
    c = make_catalog(tmp_path / "t.db")
    save_user(c.store, PERSON, NOW, lang="en")
    return c


@pytest.fixture
def bot(one_try_bot):
    """One request per call: what fails is retried by the outbox's sender, row by row."""
    return one_try_bot


def add(
    catalog,
    session: str,
    name: str,
    user_id: int | None,
    *,
    waitlist: bool = False,
    colleague: str | None = None,
) -> list[Registration]:
    people = [Applicant(name, "広島県庁", "local", email=f"{user_id or 'x'}@pref.example.jp")]
    if colleague:
        people.append(Applicant(colleague, "広島県庁", "local"))
    return register(
        catalog, session, people, today=NOW.date(), now=NOW, user_id=user_id, waitlist=waitlist
    ).registrations


def sends(tg: FakeTelegram, chat_id: int) -> list[str]:
    return [c.method for c in tg.sent_to(chat_id)]


def calendar_of(call) -> tuple[str, str, int]:
    _name, data = call.files["document"]
    cal = Calendar.from_ical(data)
    event = cal.walk("VEVENT")[0]
    return str(cal["method"]), str(event["uid"]), int(event["sequence"])


def staff_cancel(catalog, reg_id: int, reason: str = "Duplicate entry") -> console.Change:
    return console.staff_cancel(catalog, reg_id, reason=reason, actor=Actor.cli(), today=NOW.date(), now=NOW)


def pending_chat_rows(catalog) -> list[dict]:
    return catalog.store.query(
        "select kind, chat_id, claimed_by from notifications where "
        "channel = 'telegram' and result = 'pending' order by id"
    )


async def test_a_staff_cancel_is_queued_unclaimed_and_told_later_with_reason_and_file(
    tg, bot, catalog, settings
):
    fill(catalog, HIROSHIMA, 29)
    [mine] = add(catalog, HIROSHIMA, "Taro Yamada", PERSON)
    [waiting] = add(catalog, HIROSHIMA, "待ち 一郎", WAITING, waitlist=True)
    change = staff_cancel(catalog, mine.id)
    assert change.chats == {PERSON, WAITING}
    # nothing was sent by the change itself: the rows wait for the bot's sender
    assert tg.calls == []
    assert [(r["kind"], r["chat_id"], r["claimed_by"]) for r in pending_chat_rows(catalog)] == [
        (nt.STAFF_CANCELLED, PERSON, None),
        (nt.PROMOTED, WAITING, None),
    ]
    notifier = Notifier(catalog, settings, CLOCK)
    assert (await notifier.deliver_due(bot))["sent"] == 2
    text, cancel = tg.sent_to(PERSON)
    assert text.text.startswith("❌ The CYDER office has cancelled your registration for")
    assert "Reason: Duplicate entry" in text.text
    method, uid, sequence = calendar_of(cancel)
    assert (method, uid, sequence) == ("CANCEL", ics.registration_uid(HIROSHIMA, mine.id), 1)
    [good_news] = tg.sent_to(WAITING)
    assert "空席" in good_news.text
    assert get_registration(catalog, waiting.id).status == "registered"
    assert (await notifier.deliver_due(bot)).get("sent", 0) == 0  # once


async def test_a_staff_move_gives_the_old_cancel_and_the_new_invite_once(tg, bot, catalog, settings):
    [mine] = add(catalog, HIROSHIMA, "Taro Yamada", PERSON)
    console.move(catalog, mine.id, TOKYO, actor=Actor.cli(), today=NOW.date(), now=NOW)
    notifier = Notifier(catalog, settings, CLOCK)
    assert (await notifier.deliver_due(bot))["sent"] == 1
    assert sends(tg, PERSON) == ["sendMessage", "sendDocument", "sendDocument"]
    text, old, new = tg.sent_to(PERSON)
    assert text.text.startswith("🔁 The CYDER office has moved your registration from")
    assert "Hiroshima" in text.text and "Tokyo" in text.text
    assert [calendar_of(old), calendar_of(new)] == [
        ("CANCEL", ics.registration_uid(HIROSHIMA, mine.id), 1),
        ("REQUEST", ics.registration_uid(TOKYO, mine.id), 1),
    ]
    # neither this sender nor the next process sends any of it again
    assert (await notifier.deliver_due(bot, ignore_backoff=True)).get("sent", 0) == 0
    later = Notifier(catalog, settings, CLOCK, owner="later")
    assert nt.release_orphans(catalog.store, later.owner) == 0
    assert await later.deliver_due(bot) == {}
    assert len(tg.sent_to(PERSON)) == 3


async def test_a_telegram_5xx_is_retried_and_nothing_is_lost_or_doubled(tg, bot, catalog, settings):
    [mine] = add(catalog, HIROSHIMA, "Taro Yamada", PERSON)
    console.move(catalog, mine.id, TOKYO, actor=Actor.cli(), today=NOW.date(), now=NOW)
    notifier = Notifier(catalog, settings, CLOCK, backoff_base=600)
    tg.fail_next(1, 502, methods=["sendDocument"])  # the old copy's CANCEL, the first time
    assert (await notifier.deliver_due(bot)).get("retry") == 1  # (the mail: skipped)
    assert sends(tg, PERSON) == ["sendMessage"]
    [row] = catalog.store.query(
        "select result, progress, attempts from notifications where kind = ?", [nt.MOVED]
    )
    assert row == {"result": "pending", "progress": 1, "attempts": 1}
    assert await notifier.deliver_due(bot) == {}  # backing off
    tg.fail_next(1, 500, methods=["sendDocument"])  # and once more
    assert await notifier.deliver_due(bot, ignore_backoff=True) == {"retry": 1}
    assert await notifier.deliver_due(bot, ignore_backoff=True) == {"sent": 1}
    text, old, new = tg.sent_to(PERSON)  # the text once, then each file once
    assert "moved your registration" in text.text
    assert [calendar_of(old)[0], calendar_of(new)[0]] == ["CANCEL", "REQUEST"]
    assert await notifier.deliver_due(bot, ignore_backoff=True) == {}


async def test_a_restart_sends_what_was_left(tg, bot, catalog, settings):
    """A staff cancel saved while no bot ran, and one whose sender died holding its row:
    the next start sends both, once."""
    [first] = add(catalog, HIROSHIMA, "Taro Yamada", PERSON)
    [second] = add(catalog, TOKYO, "Taro Yamada", PERSON)
    staff_cancel(catalog, first.id, "first reason")
    staff_cancel(catalog, second.id, "second reason")
    [held, _left] = [
        r["id"]
        for r in catalog.store.query(
            "select id from notifications where kind = ? order by id", [nt.STAFF_CANCELLED]
        )
    ]
    assert nt.claim(catalog.store, held, "dead-process", now=NOW) is not None
    notifier = Notifier(catalog, settings, CLOCK)
    job = asyncio.create_task(notifier.run(bot))
    try:
        for _ in range(2):
            await tg.wait_for("sendDocument", lambda c: c.chat_id == PERSON, since=0)
        while len(tg.sent_to(PERSON)) < 4:
            await asyncio.sleep(0.02)
    finally:
        job.cancel()
        await notifier.idle()
    texts = [c.text for c in tg.sent_to(PERSON) if c.method == "sendMessage"]
    assert sorted(t.split("Reason: ")[1] for t in texts) == ["first reason", "second reason"]
    assert sends(tg, PERSON) == ["sendMessage", "sendDocument"] * 2
    again = Notifier(catalog, settings, CLOCK, owner="again")
    assert nt.release_orphans(catalog.store, again.owner) == 0
    assert await again.deliver_due(bot) == {}
    assert len(tg.sent_to(PERSON)) == 4


async def test_a_colleague_is_told_to_the_representative_without_files(tg, bot, catalog, settings):
    me, mate = add(catalog, HIROSHIMA, "代表 一郎", REP, colleague="同行 二郎")
    staff_cancel(catalog, mate.id, "本人の申し出")
    console.move(catalog, me.id, TOKYO, actor=Actor.cli(), today=NOW.date(), now=NOW)
    notifier = Notifier(catalog, settings, CLOCK)
    assert (await notifier.deliver_due(bot))["sent"] == 2
    assert sends(tg, REP) == ["sendMessage", "sendMessage", "sendDocument", "sendDocument"]
    cancelled, moved = (c.text for c in tg.sent_to(REP) if c.method == "sendMessage")
    assert "CYDER事務局が 同行 二郎 さんの" in cancelled and "理由：本人の申し出" in cancelled
    assert moved.startswith("🔁 CYDER事務局がお申込みを")


async def test_a_staff_promotion_is_told_in_chat(tg, bot, catalog, settings):
    fill(catalog, HIROSHIMA, 30)
    [waiting] = add(catalog, HIROSHIMA, "Taro Yamada", PERSON, waitlist=True)
    catalog.store.db.execute("update sessions set capacity = 31 where id = ?", [HIROSHIMA])
    catalog.store.db.conn.commit()
    console.promote(catalog, waiting.id, actor=Actor.cli(), today=NOW.date(), now=NOW)
    assert [(r["kind"], r["chat_id"]) for r in pending_chat_rows(catalog)] == [(nt.PROMOTED, PERSON)]
    notifier = Notifier(catalog, settings, CLOCK)
    assert (await notifier.deliver_due(bot))["sent"] == 1
    [text] = tg.sent_to(PERSON)
    assert "Good news" in text.text
