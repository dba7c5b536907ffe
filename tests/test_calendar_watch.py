"""bot.schedule_watch against the fake Bot API on 127.0.0.1 with a real aiogram Bot."""

import asyncio
import datetime as dt
import logging

import pytest
from icalendar import Calendar

from bot.config import Settings
from bot.telegram import schedule_watch
from bot.telegram.outbox import Outbox
from catalog import calendar as cal
from catalog import registrations as regs
from catalog.clock import Clock
from catalog.registrations import Applicant
from catalog.users import save_user
from schedules import loader
from tests.util_catalog import NOW, edited_schedule, make_catalog

HIROSHIMA_A = "2024-A-34-1025"
ORGANIZER = "office@example.org"
SETTINGS = Settings(organizer_email=ORGANIZER)
CLOCK = Clock(NOW.date())


@pytest.fixture
def catalog(tmp_path):
    c = make_catalog(tmp_path / "c.db")
    save_user(c.store, 102, NOW, lang="en")
    for name, uid in [("山田 太郎", 101), ("Jane Doe", 102), ("電話 受付", None)]:
        regs.register(
            c,
            HIROSHIMA_A,
            [Applicant(name, "広島市", "local", email=f"{uid}@x.jp")],
            today=NOW.date(),
            now=NOW,
            user_id=uid,
        )
    return c


def change(catalog, tmp_path, text, when, name="fy2024.toml"):
    edited = edited_schedule(
        tmp_path, 'city = "広島", first = 2024-10-25 }', f'city = "広島", first = 2024-10-25, {text} }}', name
    )
    loader.load(catalog.store, edited, when)


def sends(tg, chat_id):
    return [
        c for c in tg.calls if c.chat_id == chat_id and c.ok and c.method in ("sendMessage", "sendDocument")
    ]


async def test_registrants_told_once_per_revision_with_the_new_invite(tg_bot, tg, catalog, tmp_path):
    assert await schedule_watch.check_once(tg_bot, catalog, SETTINGS, CLOCK) == {}
    change(catalog, tmp_path, 'venue = "広島会場"', NOW + dt.timedelta(days=1))
    counts = await schedule_watch.check_once(tg_bot, catalog, SETTINGS, CLOCK)
    assert counts == {"sent": 2}  # the two chat users; the phone registration has no chat
    for chat, lang_word in [(101, "変更"), (102, "changed")]:
        message, document = sends(tg, chat)
        assert message.method == "sendMessage" and lang_word in message.text
        assert document.method == "sendDocument"
        filename, data = document.files["document"]
        assert filename.endswith(".ics")
        c = Calendar.from_ical(data)
        assert str(c["METHOD"]) == "REQUEST"
        [event] = c.events
        assert int(event["SEQUENCE"]) == 1 and "広島会場" in str(event["LOCATION"])
    assert await schedule_watch.check_once(tg_bot, catalog, SETTINGS, CLOCK) == {}
    assert len(sends(tg, 101)) == 2
    change(catalog, tmp_path, 'venue = "別会場"', NOW + dt.timedelta(days=2), "b.toml")
    assert await schedule_watch.check_once(tg_bot, catalog, SETTINGS, CLOCK) == {"sent": 2}
    assert len(sends(tg, 101)) == 4


async def test_cancelled_session_sends_the_cancel(tg_bot, tg, catalog, tmp_path):
    edited = edited_schedule(
        tmp_path,
        '  { course = "A", region = "中国", prefecture = "広島県", city = "広島", first = 2024-10-25 },\n',
        "",
    )
    edited.write_text(edited.read_text(encoding="utf-8").replace("A = 64", "A = 63"), encoding="utf-8")
    loader.load(catalog.store, edited, NOW + dt.timedelta(days=1))
    await schedule_watch.check_once(tg_bot, catalog, SETTINGS, CLOCK)
    message, document = sends(tg, 101)
    assert "中止" in message.text
    _, data = document.files["document"]
    c = Calendar.from_ical(data)
    assert str(c["METHOD"]) == "CANCEL" and str(c.events[0]["STATUS"]) == "CANCELLED"


async def test_failures_are_logged_without_personal_data(tg_bot, tg, catalog, tmp_path, caplog):
    tg.block(101)
    change(catalog, tmp_path, 'venue = "広島会場"', NOW + dt.timedelta(days=1))
    tg.fail_next(1, 500, methods=["sendMessage"])
    with caplog.at_level(logging.INFO, logger="cyder.schedule_watch"):
        counts = await schedule_watch.check_once(tg_bot, catalog, SETTINGS, CLOCK)
        # The 500 was a passing failure: that notice is tried again on the next pass.
        counts2 = await schedule_watch.check_once(tg_bot, catalog, SETTINGS, CLOCK)
    both = {k: counts.get(k, 0) + counts2.get(k, 0) for k in {*counts, *counts2}}
    assert both == {"sent": 1, "blocked": 1, "retry": 1}
    assert await schedule_watch.check_once(tg_bot, catalog, SETTINGS, CLOCK) == {}
    for secret in ("山田", "Jane", "@x.jp", "広島会場"):
        assert secret not in caplog.text
    # (the chat rows: registering queues the mail too, for a sender this test does not run)
    results = {
        r["result"]
        for r in catalog.store.query("select result from notifications where channel = 'telegram'")
    }
    assert results == {"sent", "blocked"}


async def test_run_loop_keeps_going_and_stops_on_cancel(tg_bot, tg, catalog, tmp_path):
    change(catalog, tmp_path, 'venue = "広島会場"', NOW + dt.timedelta(days=1))
    task = asyncio.create_task(schedule_watch.run(Outbox(tg_bot, catalog, CLOCK), SETTINGS, interval=0.05))
    for _ in range(100):
        if len(sends(tg, 102)) == 2:
            break
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(sends(tg, 102)) == 2 and cal.pending_change_notices(catalog) == []
