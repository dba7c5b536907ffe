"""Acknowledged means delivered (issue 9 §5): the notification outbox in the SQLite file
and its sender, against the fake Bot API on 127.0.0.1 with a real aiogram Bot."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlite_utils import Database

from bot.demo.fake_telegram import FakeTelegram, FakeUser
from bot.serve import build_dispatcher
from bot.telegram.notify import Notifier
from bot.telegram.resilience import install_retries
from catalog import notifications as nt
from catalog import registrations as regs
from catalog.clock import Clock
from catalog.registrations import Applicant, RegistrationError
from catalog.store import Store, migrations
from catalog.users import save_user
from tests.conftest import fill
from tests.util_catalog import NOW, make_catalog

HIROSHIMA_A = "2024-A-34-1025"
USER = 7301
CLOCK = Clock(pinned=NOW.date())


def person(name: str = "山田 太郎", email: str = "taro@pref.example.jp") -> Applicant:
    return Applicant(name, "広島県庁", "local", email=email)


@pytest.fixture
def catalog(tmp_path):
    c = make_catalog(tmp_path / "t.db")
    save_user(c.store, USER, NOW, lang="en")
    return c


@pytest.fixture
def bot(one_try_bot):
    """One request per call: what fails is retried by the outbox's sender, row by row."""
    return one_try_bot


def sends(tg: FakeTelegram, chat_id: int = USER) -> list[tuple[str, str]]:
    return [(c.method, c.text) for c in tg.sent_to(chat_id)]


def register(catalog, notify: nt.Notify | None, **kw) -> regs.Registration:
    return regs.register(
        catalog, HIROSHIMA_A, [person()], today=NOW.date(), now=NOW, user_id=USER, notify=notify, **kw
    ).registrations[0]


# -- the outbox in the change's transaction ---------------------------------------------------


def test_the_confirmation_is_queued_in_the_registrations_transaction(catalog):
    notify = nt.Notify(chat_id=USER, payload={"lang": "en"})
    reg = register(catalog, notify)
    [row] = [nt.get(catalog.store, i) for i in notify.enqueued]
    assert row is not None
    assert (row.kind, row.channel, row.chat_id, row.registration_id, row.result) == (
        nt.REGISTERED,
        nt.TELEGRAM,
        USER,
        reg.id,
        nt.PENDING,
    )
    assert row.payload == {"lang": "en", "people": 1}
    # refused (already registered): neither a registration nor a notification
    with pytest.raises(RegistrationError):
        register(catalog, nt.Notify(chat_id=USER))
    assert len(catalog.store.query("select id from notifications")) == 1


def test_a_failing_transaction_takes_its_notification_with_it(catalog):
    with pytest.raises(RuntimeError), catalog.store.write() as db:
        nt.enqueue(db, nt.REGISTERED, now=NOW, chat_id=USER, registration_id=1)
        raise RuntimeError("the change failed after queueing")
    assert catalog.store.query("select id from notifications") == []


def test_cancel_queues_the_cancellation_and_the_promotion_together(catalog):
    fill(catalog, HIROSHIMA_A, 29)
    mine = register(catalog, None)
    waiting = regs.register(
        catalog,
        HIROSHIMA_A,
        [person("Bob", "bob@example.jp")],
        today=NOW.date(),
        now=NOW,
        user_id=7302,
        waitlist=True,
    ).registrations[0]
    notify = nt.Notify(chat_id=USER, payload={"lang": "en", "message_id": 5})
    regs.cancel(catalog, mine.id, today=NOW.date(), now=NOW, user_id=USER, notify=notify)
    rows = [nt.get(catalog.store, i) for i in notify.enqueued]
    assert [(r.kind, r.chat_id, r.registration_id) for r in rows if r] == [
        (nt.CANCELLED, USER, mine.id),
        (nt.PROMOTED, 7302, waiting.id),
    ]
    # the acting chat's payload (its message to edit) stays with its own rows
    assert rows[0] and rows[0].payload == {"lang": "en", "message_id": 5, "was": "registered"}
    assert rows[1] and rows[1].payload == {}


def test_email_rows_when_the_mail_channel_is_asked_for(catalog):
    notify = nt.Notify(channels=(nt.TELEGRAM, nt.EMAIL), chat_id=USER)
    regs.register(
        catalog,
        HIROSHIMA_A,
        [person(), person("同僚 花子", "hanako@pref.example.jp")],
        today=NOW.date(),
        now=NOW,
        user_id=USER,
        notify=notify,
    )
    rows = [nt.get(catalog.store, i) for i in notify.enqueued]
    assert sorted((r.channel, r.chat_id, r.email) for r in rows if r) == [
        (nt.EMAIL, None, "hanako@pref.example.jp"),
        (nt.EMAIL, None, "taro@pref.example.jp"),
        (nt.TELEGRAM, USER, None),
    ]


def test_a_claim_is_exclusive_until_its_process_is_gone(catalog):
    notify = nt.Notify(chat_id=USER, claimed_by="process-a")
    register(catalog, notify)
    [rid] = notify.enqueued
    assert nt.claim(catalog.store, rid, "process-b", now=NOW) is None
    assert nt.due(catalog.store, now=NOW, kinds=nt.KINDS, channels=[nt.TELEGRAM]) == []
    assert nt.release_orphans(catalog.store, "process-b") == 1  # b starts: a is gone
    assert nt.claim(catalog.store, rid, "process-b", now=NOW) is not None
    assert nt.claim(catalog.store, rid, "process-c", now=NOW) is None
    nt.mark_done(catalog.store, rid, nt.SENT, now=NOW)
    assert nt.claim(catalog.store, rid, "process-c", now=NOW) is None  # done is done


def test_the_m002_claim_table_moves_into_the_outbox(tmp_path):
    path = tmp_path / "old.db"
    db = Database(sqlite3.connect(path))
    migrations.apply(db, stop_before="m010_notification_outbox")
    db.execute(
        "insert into sessions (id, fiscal_year, course, prefecture_code, first_day, "
        "last_day) values ('S', 2024, 'A', 34, '2024-10-25', '2024-10-25')"
    )
    db.execute(
        "insert into registrations (id, session_id, user_id, name, status, created_at) "
        "values (1, 'S', 77, 'x', 'registered', '2024-06-01')"
    )
    db.execute("insert into notifications values ('reminder', 'S', 1, '2024-10-24', 'sent')")
    db.execute("insert into notifications values ('revision:2', 'S', 1, '2024-10-20', 'blocked')")
    db.conn.commit()
    db.close()
    store = Store.open(path)
    rows = {r["kind"]: r for r in store.query("select * from notifications")}
    assert rows["reminder"]["dedupe"] == "reminder:S:1" and rows["reminder"]["result"] == "sent"
    assert rows["reminder"]["chat_id"] == 77
    changed = rows[nt.SESSION_CHANGED]
    assert (changed["dedupe"], changed["result"], changed["payload"]) == (
        "session_changed:1:2",
        "blocked",
        '{"revision":2}',
    )


# -- the sender ---------------------------------------------------------------------------------


async def test_what_an_earlier_process_left_is_sent_at_start_up_exactly_once(tg, bot, catalog, settings):
    # A registration committed just before its process died: its row, claimed, unsent.
    register(catalog, nt.Notify(chat_id=USER, payload={"lang": "en"}, claimed_by="dead"))
    notifier = Notifier(catalog, settings, CLOCK)
    job = asyncio.create_task(notifier.run(bot))
    try:
        await tg.wait_for("sendDocument", lambda c: c.chat_id == USER, since=0)
    finally:
        job.cancel()
        await notifier.idle()  # the mark of what was sent outlives the cancel
    assert [m for m, _ in sends(tg)] == ["sendMessage", "sendDocument"]
    assert "Registered!" in sends(tg)[0][1]
    again = Notifier(catalog, settings, CLOCK)  # and the next start sends nothing more
    assert nt.release_orphans(catalog.store, again.owner) == 0
    assert await again.deliver_due(bot) == {}
    assert [r["result"] for r in catalog.store.query("select result from notifications")] == ["sent"]


async def test_two_senders_never_send_one_row_twice(tg, bot, catalog, settings):
    fill(catalog, HIROSHIMA_A, 10)
    for uid in range(9000, 9020):
        regs.register(
            catalog,
            HIROSHIMA_A,
            [person(f"P{uid}", f"p{uid}@example.jp")],
            today=NOW.date(),
            now=NOW,
            user_id=uid,
            notify=nt.Notify(chat_id=uid),
        )
    a, b = (Notifier(catalog, settings, CLOCK, owner=o) for o in ("a", "b"))
    first, second = await asyncio.gather(a.deliver_due(bot), b.deliver_due(bot))
    assert first.get("sent", 0) + second.get("sent", 0) == 20
    for uid in range(9000, 9020):
        assert [m for m, _ in sends(tg, uid)] == ["sendMessage", "sendDocument"]


async def test_a_file_that_failed_after_its_text_is_sent_alone_later(tg, bot, catalog, settings):
    register(catalog, nt.Notify(chat_id=USER, payload={"lang": "en"}))
    notifier = Notifier(catalog, settings, CLOCK, backoff_base=600)
    tg.fail_next(1, 502, methods=["sendDocument"])
    assert await notifier.deliver_due(bot) == {"retry": 1}
    [row] = catalog.store.query("select * from notifications")
    assert (row["result"], row["progress"], row["attempts"], row["last_error"]) == (
        "pending",
        1,
        1,
        "passing",
    )
    assert await notifier.deliver_due(bot) == {}  # backing off (ten minutes or so)
    assert await notifier.deliver_due(bot, ignore_backoff=True) == {"sent": 1}
    assert [m for m, _ in sends(tg)] == ["sendMessage", "sendDocument"]


async def test_backed_off_rows_go_as_soon_as_telegram_answers_again(tg, bot, catalog, settings):
    register(catalog, nt.Notify(chat_id=USER, payload={"lang": "en"}))
    notifier = Notifier(catalog, settings, CLOCK, backoff_base=600, poll=600)
    tg.fail_next(1, 500, methods=["sendMessage"])
    job = asyncio.create_task(notifier.run(bot))
    try:
        while not catalog.store.query("select id from notifications where attempts = 1"):
            await asyncio.sleep(0.02)  # the first try failed; next one in ~10 minutes
        await bot.send_message(4242, "any request that works")  # Telegram is back
        await tg.wait_for("sendDocument", lambda c: c.chat_id == USER, since=0, timeout=10)
    finally:
        job.cancel()
    assert [m for m, _ in sends(tg)] == ["sendMessage", "sendDocument"]


async def test_gives_up_loudly_after_the_last_try(tg, bot, catalog, settings, caplog):
    register(catalog, nt.Notify(chat_id=USER, payload={"lang": "en"}))
    notifier = Notifier(catalog, settings, CLOCK, max_attempts=2)
    tg.fail_next(10, 502, methods=["sendMessage"])
    with caplog.at_level(logging.INFO, logger="cyder.notify"):
        assert await notifier.deliver_due(bot) == {"retry": 1}
        assert await notifier.deliver_due(bot, ignore_backoff=True) == {"failed": 1}
    [row] = catalog.store.query("select result, last_error from notifications")
    assert row == {"result": "failed", "last_error": "gave_up"}
    assert f"registered notification 1 to chat {USER}: gave up after 2 tries" in caplog.text
    assert "山田" not in caplog.text and "taro@" not in caplog.text


async def test_a_reply_lost_after_every_retry_is_followed_up_once(tg, catalog, settings, caplog):
    """Telegram fails the answer to /help beyond the retry budget: the log names the
    method and the chat (no text); the person hears once, when Telegram answers again."""
    bot = Bot(tg.token, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
    install_retries(bot, attempts=2, base_delay=0.001)
    notifier = Notifier(catalog, settings, CLOCK, backoff_base=0.05, follow_up_delay=0)
    dp = build_dispatcher(settings, catalog, CLOCK, notifier=notifier)
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
    job = asyncio.create_task(notifier.run(bot))
    user = FakeUser(id=USER, language_code="en")
    tg.fail_next(5, 502, methods=["sendMessage"])  # the reply, then the first follow-ups
    try:
        with caplog.at_level(logging.INFO):
            tg.user_sends_text(user, "/help")
            sorry = await tg.wait_for("sendMessage", lambda c: c.chat_id == USER, since=0, timeout=20)
            await notifier.idle()
    finally:
        job.cancel()
        await dp.stop_polling()
        await asyncio.wait_for(polling, 10)
        await bot.session.close()
    assert "Sorry" in sorry.text and "/my" in sorry.text
    assert [c.text for c in tg.sent_to(USER)] == [sorry.text]  # once
    assert f"sendMessage to chat {USER} undelivered" in caplog.text
    assert "/help" not in caplog.text
