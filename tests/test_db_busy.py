"""While another connection holds SQLite's write lock (a staff import, `db load`), the bot
keeps answering everyone; the person whose write waits is told, then confirmed or told to
try again (issue 9 §1). Real SQLite file, real Dispatcher, real HTTP app on 127.0.0.1."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram import Dispatcher
from aiohttp.test_utils import TestServer

from bot.config import Settings
from bot.telegram.callbacks import RegCB, SessionCB
from bot.telegram.i18n import say
from bot.web.app import create_web_app
from catalog import registrations as regs
from catalog import users
from catalog.clock import Clock
from catalog.service import Catalog
from catalog.writer import DatabaseBusy, Writer
from tests.conftest import ChatUser, MockedBot
from tests.test_handlers import HIROSHIMA_A, set_profile
from tests.test_handlers_registration import register

DEADLINE = 20.0  # a failing test gives up waiting after this long (never a pass condition)


class LockHolder:
    """A second connection holding the write lock (BEGIN IMMEDIATE, with an uncommitted
    change) on a thread of its own, until `release()` — or `DEADLINE`, so that a test
    failing on a frozen event loop still ends."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.locked = threading.Event()
        self._release = threading.Event()
        self.released = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("insert into blocked_chats (user_id, blocked_at) values (-1, 'x')")
            self.locked.set()
            self._release.wait(DEADLINE)
            self.released.set()  # before the lock goes: whatever was answered until now
            conn.execute("ROLLBACK")  # was answered while it was held
        finally:
            conn.close()

    def __enter__(self) -> LockHolder:
        self._thread.start()
        assert self.locked.wait(5)
        return self

    def release(self) -> None:
        self._release.set()
        self._thread.join()

    def __exit__(self, *exc: object) -> None:
        self.release()


def said_to(bot: MockedBot, chat_id: int) -> list[str]:
    """Every text the bot sent to or edited in this chat, in order."""
    return [
        str(r.text)
        for r in bot.requests
        if type(r).__name__ in ("SendMessage", "EditMessageText")
        and getattr(r, "chat_id", None) == chat_id
        and getattr(r, "text", None)
    ]


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (giving the loop away) until `condition()` holds; fail after DEADLINE."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + DEADLINE
    while not condition():
        if loop.time() > give_up:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.01)


def rows_of(path: Path, user_id: int) -> list[tuple[Any, ...]]:
    """The user's registrations as another process would read them (committed only)."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "select session_id, status, name from registrations where user_id = ?", [user_id]
        ).fetchall()
    finally:
        conn.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "t.db"  # the `catalog` fixture's file


async def ready_to_confirm(user: ChatUser) -> None:
    await set_profile(user)
    await register(user, name="山田 太郎", email="taro@pref.hiroshima.lg.jp")
    assert "申込内容の確認" in user.text()


async def others_are_served(
    bot: MockedBot, make_user: Any, http: aiohttp.ClientSession, server: TestServer, holder: LockHolder
) -> None:
    """Several other people (and the HTTP app) are answered while the lock is held."""
    for i, (kind, what) in enumerate(
        [
            ("send", "/start"),
            ("send", "広島"),
            ("press", SessionCB(id=HIROSHIMA_A).pack()),
            ("send", "/my"),
            ("send", "/help"),
            ("send", "/find"),
        ]
    ):
        other = make_user(5000 + i, "ja")
        await (other.send(what) if kind == "send" else other.press(what))
        assert said_to(bot, other.user.id), f"{what!r} got no answer"
        assert not holder.released.is_set(), f"{what!r} was answered only after the lock"
    assert "広島" in "\n".join(said_to(bot, 5001))  # the search found the sessions
    for path in ("/healthz", "/calendar/sessions.ics"):
        async with http.get(server.make_url(path)) as resp:
            assert resp.status == 200, path
            await resp.read()
        assert not holder.released.is_set(), f"{path} was answered only after the lock"


async def test_others_are_answered_while_locked_and_the_registrant_is_told_then_confirmed(
    user: ChatUser,
    bot: MockedBot,
    make_user: Any,
    catalog: Catalog,
    db_path: Path,
    settings: Settings,
    clock: Clock,
) -> None:
    await ready_to_confirm(user)
    app = create_web_app(settings, catalog, clock)
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as http:
        with LockHolder(db_path) as holder:
            confirm = asyncio.create_task(user.press(RegCB(action="ok").pack()))
            # the registering user is told plainly that the database is busy …
            await until(
                lambda: any("混み合っています" in t for t in said_to(bot, user.user.id)), "the busy notice"
            )
            assert not holder.released.is_set()
            notice = [t for t in said_to(bot, user.user.id) if "混み合っています" in t][-1]
            assert "お申し込みを保存しています" in notice
            # … while everyone else is answered at once
            await others_are_served(bot, make_user, http, server, holder)
            assert not confirm.done()
            assert rows_of(db_path, user.user.id) == []
        # the lock is gone: the application is saved and confirmed
        await asyncio.wait_for(confirm, DEADLINE)
    after_lock = said_to(bot, user.user.id)
    assert "申込が完了しました" in after_lock[-1]
    assert rows_of(db_path, user.user.id) == [(HIROSHIMA_A, "registered", "山田 太郎")]
    assert [type(r).__name__ for r in user.last].count("SendDocument") == 1  # the invite
    assert catalog.writer.busy_attempts >= 1 and catalog.writer.gave_up == 0


async def test_a_lock_held_past_the_budget_ends_in_try_again_and_saves_nothing(
    user: ChatUser, bot: MockedBot, catalog: Catalog, db_path: Path, dp: Dispatcher
) -> None:
    await ready_to_confirm(user)
    catalog.writer = Writer(catalog.store, budget=0.5)  # shorter than the lock below
    with LockHolder(db_path) as holder:
        await user.press(RegCB(action="ok").pack())
        assert not holder.released.is_set()
        told = said_to(bot, user.user.id)
        assert any("混み合っています" in t for t in told)
        assert "保存できませんでした" in told[-1] and "何も変更されていません" in told[-1]
        assert "エラーが発生しました" not in "\n".join(told)  # not the generic apology
        assert ("🔄 もう一度試す", RegCB(action="ok").pack()) in user.buttons_all()
        assert rows_of(db_path, user.user.id) == []
    assert catalog.writer.gave_up == 1
    assert rows_of(db_path, user.user.id) == []  # nothing half saved
    assert regs.for_user(catalog, user.user.id) == []
    # the dialogue waited at its last step: "try again" now saves it
    await user.click("もう一度試す")
    assert "申込が完了しました" in user.text()
    assert rows_of(db_path, user.user.id) == [(HIROSHIMA_A, "registered", "山田 太郎")]


async def test_a_profile_answer_waits_too_and_is_then_saved(
    user: ChatUser, bot: MockedBot, catalog: Catalog, db_path: Path
) -> None:
    from bot.telegram.callbacks import LangCB

    with LockHolder(db_path):
        press = asyncio.create_task(user.press(LangCB(lang="en").pack()))
        await until(
            lambda: any("混み合っています" in t for t in said_to(bot, user.user.id)), "the busy notice"
        )
        assert users.get_user(catalog.store, user.user.id) is None
    await asyncio.wait_for(press, DEADLINE)
    record = users.get_user(catalog.store, user.user.id)
    assert record is not None and record.lang == "en"
    assert "Language set: English" in said_to(bot, user.user.id)[-1]


# -- the writer itself ----------------------------------------------------------------------


async def test_writer_retries_while_locked_tells_once_and_gives_up_with_nothing_saved(
    catalog: Catalog, db_path: Path
) -> None:
    from tests.util_catalog import NOW

    writer = Writer(catalog.store, busy_timeout=0.05, budget=0.4)
    told: list[str] = []

    async def on_busy() -> None:
        told.append("busy")

    try:
        with LockHolder(db_path), pytest.raises(DatabaseBusy) as caught:
            await writer(users.save_user, catalog.store, 77, NOW, on_busy=on_busy, lang="en")
        assert told == ["busy"]  # once, however many attempts
        assert writer.busy_attempts > 1
        assert "混み合っている" in say(caught.value.said, "ja")
        assert "try again" in say(caught.value.said, "en")
        assert users.get_user(catalog.store, 77) is None
        # other errors are not retried, and are raised as they are
        with pytest.raises(ValueError, match="unknown user fields"):
            await writer(users.save_user, catalog.store, 77, NOW, nickname="x")
        saved = await writer(users.save_user, catalog.store, 77, NOW, lang="en")
        assert saved.lang == "en"
    finally:
        writer.close()


async def test_writes_run_off_the_event_loop_thread(catalog: Catalog) -> None:
    seen: list[str] = []

    def which_thread() -> str:
        seen.append(threading.current_thread().name)
        return "done"

    assert await catalog.write(which_thread) == "done"
    assert seen[0] != threading.current_thread().name
    assert seen[0].startswith("cyder-writer")


async def test_no_chat_path_writes_on_the_event_loop(
    user: ChatUser, bot: MockedBot, catalog: Catalog
) -> None:
    from bot.telegram.callbacks import ForgetCB, LangCB, MyCB, SubCB
    from catalog import reminders
    from tests.util_catalog import NOW

    await asyncio.to_thread(reminders.block_chat, catalog.store, user.user.id, NOW)
    catalog.store.loop_writes = "raise"  # a write transaction on the loop fails the update
    await user.press(LangCB(lang="ja").pack())  # the middleware unblocks the chat, too
    assert not reminders.is_blocked(catalog.store, user.user.id)
    await ready_to_confirm(user)
    await user.press(RegCB(action="ok").pack())
    (reg,) = regs.for_user(catalog, user.user.id)
    await user.press(MyCB(action="yes", reg=reg.id).pack())
    assert regs.for_user(catalog, user.user.id) == []
    await user.press(SubCB(action="new").pack())
    record = users.get_user(catalog.store, user.user.id)
    assert record is not None and record.calendar_token
    await user.press(SubCB(action="off").pack())
    await user.press(ForgetCB(action="yes").pack())
    assert users.get_user(catalog.store, user.user.id) is None
    everything = "\n".join(said_to(bot, user.user.id))
    assert "エラーが発生しました" not in everything
    assert "申込が完了しました" in everything and "削除しました" in everything


def test_a_write_on_the_event_loop_is_refused_when_asked(catalog: Catalog) -> None:
    from tests.util_catalog import NOW

    catalog.store.loop_writes = "raise"
    users.save_user(catalog.store, 1, NOW)  # no loop here (the CLI): allowed

    async def on_the_loop() -> None:
        users.save_user(catalog.store, 2, NOW)

    with pytest.raises(RuntimeError, match="event loop"):
        asyncio.run(on_the_loop())
    assert users.get_user(catalog.store, 2) is None


# -- quick writes: on the loop when the lock is free, never waiting for it ------------------


def _pragma(store: Any, name: str) -> int:
    return int(store.db.execute(f"PRAGMA {name}").fetchone()[0])


async def test_a_quick_write_is_done_on_the_loop_when_the_lock_is_free(catalog: Catalog) -> None:
    from tests.util_catalog import NOW

    writer = Writer(catalog.store)
    seen: dict[str, int] = {}

    def save(user_id: int) -> users.User:
        # inside: no busy wait and no checkpoint at commit, on the loop's own thread
        seen.update(
            thread=threading.get_ident(),
            busy=_pragma(catalog.store, "busy_timeout"),
            checkpoint=_pragma(catalog.store, "wal_autocheckpoint"),
        )
        return users.save_user(catalog.store, user_id, NOW, lang="en")

    catalog.store.loop_writes = "raise"  # allowed: this write cannot wait for a lock
    before = (_pragma(catalog.store, "busy_timeout"), _pragma(catalog.store, "wal_autocheckpoint"))
    try:
        record = await writer(save, 91, quick=True)
        assert record.lang == "en" and users.get_user(catalog.store, 91) is not None
        assert seen == {"thread": threading.get_ident(), "busy": 0, "checkpoint": 0}
        assert (writer.on_loop, writer.handed_over, writer.busy_attempts) == (1, 0, 0)
        # and afterwards the loop's reads wait as before, and its connection checkpoints
        assert (
            _pragma(catalog.store, "busy_timeout"),
            _pragma(catalog.store, "wal_autocheckpoint"),
        ) == before
        # an error inside is raised as it is, and the settings are restored all the same
        with pytest.raises(ValueError, match="unknown user fields"):
            await writer(users.save_user, catalog.store, 92, NOW, quick=True, nickname="x")
        assert (
            _pragma(catalog.store, "busy_timeout"),
            _pragma(catalog.store, "wal_autocheckpoint"),
        ) == before
        # one inside another (a quick write calling one) keeps the outer's settings
        inner = catalog.store.without_waiting(
            lambda: (
                catalog.store.without_waiting(lambda: _pragma(catalog.store, "busy_timeout"))
                + _pragma(catalog.store, "busy_timeout")
            )
        )
        assert inner == 0
        assert (
            _pragma(catalog.store, "busy_timeout"),
            _pragma(catalog.store, "wal_autocheckpoint"),
        ) == before
        # a write that is not quick still may not run on the loop
        with pytest.raises(RuntimeError, match="event loop"):
            users.save_user(catalog.store, 93, NOW)
    finally:
        catalog.store.loop_writes = "allow"
        writer.close()


async def test_a_quick_write_finding_the_lock_taken_goes_to_the_writer_thread(
    catalog: Catalog, db_path: Path
) -> None:
    from tests.util_catalog import NOW

    writer = Writer(catalog.store, busy_timeout=0.05)
    threads: list[int] = []
    ticks = 0

    def save() -> users.User:
        threads.append(threading.get_ident())
        return users.save_user(catalog.store, 94, NOW, lang="ja")

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        with LockHolder(db_path) as holder:
            write = asyncio.create_task(writer(save, quick=True))
            await asyncio.sleep(0.3)
            assert not write.done() and ticks >= 10  # the loop went on meanwhile
            assert users.get_user(catalog.store, 94) is None
            holder.release()
            record = await asyncio.wait_for(write, DEADLINE)
        assert record.lang == "ja"
        assert writer.handed_over == 1 and writer.on_loop == 0 and writer.busy_attempts >= 1
        # tried once on the loop (refused at once), then on the writer thread
        assert threads[0] == threading.get_ident() and threading.get_ident() not in threads[1:]
        assert _pragma(catalog.store, "busy_timeout") > 0  # the loop's connection waits again
    finally:
        ticker.cancel()
        writer.close()


async def test_quick_writes_are_checkpointed_by_the_writer_thread(catalog: Catalog, db_path: Path) -> None:
    """The loop's connection never checkpoints (that writes and syncs the database file);
    every `checkpoint_every` quick writes, the writer thread does."""
    from tests.util_catalog import NOW

    def in_the_file() -> set[int]:
        # the database file alone, without the write-ahead log
        conn = sqlite3.connect(f"file:{db_path}?immutable=1", uri=True)
        try:
            return {
                row[0] for row in conn.execute("select user_id from users where user_id between 95 and 97")
            }
        finally:
            conn.close()

    await asyncio.to_thread(catalog.store.checkpoint)  # what the fixture wrote, out of the way
    catalog.store.checkpoint_every = 3
    writer = Writer(catalog.store)
    try:
        for user_id in (95, 96):
            await writer(users.save_user, catalog.store, user_id, NOW, quick=True)
        assert in_the_file() == set()  # in the log only
        await writer(users.save_user, catalog.store, 97, NOW, quick=True)
        await writer(lambda: None)  # after the checkpoint it queued on the writer thread
        assert in_the_file() == {95, 96, 97}
        assert writer.on_loop == 3
    finally:
        writer.close()
