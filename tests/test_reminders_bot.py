"""The reminder task and staff broadcasts, sending through the fake Bot API server."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from dataclasses import dataclass

import pytest
from aiogram import Bot

from bot.config import Settings
from bot.demo.fake_telegram import TOKEN, FakeTelegram, plain_text
from bot.telegram import reminders
from bot.telegram.outbox import Outbox, Outboxes
from catalog import reminders as notes
from catalog.clock import JST
from catalog.registrations import Applicant, register
from catalog.users import save_user
from tests.util_catalog import make_catalog

pytestmark = pytest.mark.telegram_limits

SESSION = "2024-A-13-0709"  # first day Tue 2024-07-09
EARLY = dt.date(2024, 6, 1)
EARLY_NOW = dt.datetime(2024, 6, 1, 10, 0, tzinfo=JST)


@dataclass
class FixedClock:
    at: dt.datetime

    def now(self) -> dt.datetime:
        return self.at

    def today(self) -> dt.date:
        return self.at.date()


@pytest.fixture
def catalog(tmp_path):
    c = make_catalog(tmp_path / "cyder.db")
    save_user(c.store, 102, EARLY_NOW, lang="en")
    for name, org, uid in [
        ("山田 太郎", "横浜市", 101),
        ("Jane Doe", "川崎市", 102),
        ("電話 受付", "相模原市", None),
    ]:
        register(c, SESSION, [Applicant(name, org, "local")], today=EARLY, now=EARLY_NOW, user_id=uid)
    return c


def texts(tg: FakeTelegram) -> dict[int, str]:
    return {c.chat_id: plain_text(c.text) for c in tg.calls if c.method == "sendMessage" and c.ok}


async def test_nothing_before_the_reminder_hour(tg, tg_bot, catalog):
    clock = FixedClock(dt.datetime(2024, 7, 8, 8, 59, tzinfo=JST))
    settings = Settings(reminder_hour=9)
    summary = await reminders.tick(Outbox(tg_bot, catalog, clock), catalog, settings, clock)
    assert summary.total == 0 and texts(tg) == {}


async def test_reminds_each_registered_user_once_in_their_language(tg, tg_bot, catalog, tmp_path):
    clock = FixedClock(dt.datetime(2024, 7, 8, 9, 0, tzinfo=JST))
    settings = Settings(reminder_hour=9)
    summary = await reminders.tick(Outbox(tg_bot, catalog, clock), catalog, settings, clock)
    assert (summary.sent, summary.failed) == (2, 0)
    sent = texts(tg)
    assert set(sent) == {101, 102}
    assert "明日" in sent[101] and "2024年7月9日" in sent[101] and "未発表" in sent[101]
    assert "tomorrow" in sent[102] and "Tue 9 Jul 2024" in sent[102]
    assert "not announced" in sent[102]  # no venue in the data: never invented
    # Later checks the same day, and after a restart, send nothing more.
    again = await reminders.tick(Outbox(tg_bot, catalog, clock), catalog, settings, clock)
    restarted = make_catalog(tmp_path / "cyder.db")
    third = await reminders.tick(Outbox(tg_bot, restarted, clock), restarted, settings, clock)
    assert again.total == third.total == 0
    assert len([c for c in tg.calls if c.method == "sendMessage"]) == 2
    assert set(notes.notification_results(catalog, SESSION).values()) == {"sent"}


async def test_not_on_other_days(tg, tg_bot, catalog):
    settings = Settings(reminder_hour=9)
    for day in (7, 9):
        clock = FixedClock(dt.datetime(2024, 7, day, 12, 0, tzinfo=JST))
        await reminders.tick(Outbox(tg_bot, catalog, clock), catalog, settings, clock)
    assert texts(tg) == {}


async def test_blocked_user_is_marked_and_recorded(tg, tg_bot, catalog):
    tg.block(101)
    clock = FixedClock(dt.datetime(2024, 7, 8, 10, 0, tzinfo=JST))
    summary = await reminders.tick(Outbox(tg_bot, catalog, clock), catalog, Settings(), clock)
    assert (summary.sent, summary.blocked) == (1, 1)
    assert notes.blocked_chats(catalog.store) == {101}
    results = notes.notification_results(catalog, SESSION)
    assert sorted(results.values()) == ["blocked", "sent"]


@dataclass
class CountingClock(FixedClock):
    """Each reminder check asks for today's date once: `checks` rises with every check."""

    checks: int = 0
    checked: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def today(self) -> dt.date:
        self.checks += 1
        self.checked.set()
        return super().today()

    async def wait_checks(self, n: int) -> None:
        target = self.checks + n
        while self.checks < target:
            self.checked.clear()
            await self.checked.wait()


async def test_the_background_task_sends_and_stops_when_cancelled(tg, tg_bot, catalog):
    clock = CountingClock(dt.datetime(2024, 7, 8, 9, 30, tzinfo=JST))
    task = asyncio.create_task(reminders.run(Outbox(tg_bot, catalog, clock), Settings(), every=0.05))
    try:
        await tg.wait_for("sendMessage")
        await asyncio.wait_for(clock.wait_checks(3), 30)  # checks after the sending one
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert sorted(texts(tg)) == [101, 102]
    assert len([c for c in tg.calls if c.method == "sendMessage"]) == 2


async def test_staff_broadcast_reaches_registered_users_with_escaped_text(tg, tg_bot, catalog):
    clock = FixedClock(dt.datetime(2024, 7, 1, 12, 0, tzinfo=JST))
    session = catalog.session(SESSION)
    summary = await reminders.broadcast_session(
        Outbox(tg_bot, catalog, clock), catalog, session, "会場が変わりました <b>3F</b> & more"
    )
    assert summary.sent == 2
    raw = {c.chat_id: c.text for c in tg.calls if c.method == "sendMessage"}
    assert "&lt;b&gt;3F&lt;/b&gt; &amp; more" in raw[101]
    assert "会場が変わりました <b>3F</b> & more" in texts(tg)[102]


async def test_one_outbox_per_bot_so_all_senders_share_the_limits(tg_bot, catalog):
    clock = FixedClock(dt.datetime(2024, 7, 8, 9, 0, tzinfo=JST))
    outboxes = Outboxes(catalog, clock)
    first = outboxes.for_bot(tg_bot)
    assert outboxes.for_bot(tg_bot) is first
    assert outboxes.for_bot(Bot(TOKEN, session=tg_bot.session)) is first  # same token
    assert outboxes.for_bot(Bot("43:OTHER", session=tg_bot.session)) is not first
    assert Outboxes(catalog, clock).for_bot(tg_bot) is not first  # another Dispatcher's
