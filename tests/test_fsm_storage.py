"""The dialogue state in SQLite (issue 9 §3): bot.telegram.fsm_storage.SQLiteStorage and
catalog.fsm_state, against a real SQLite file."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey

from bot.telegram.fsm_storage import SQLiteStorage
from catalog import fsm_state
from catalog.clock import JST
from catalog.store import Store

T0 = dt.datetime(2024, 6, 1, 10, 0, tzinfo=JST)
KEY = StorageKey(bot_id=42, chat_id=1001, user_id=1001)


class Form(StatesGroup):
    name = State()
    email = State()


class PinnedClock:
    """A clock the test moves by hand."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.at = now

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += dt.timedelta(**delta)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "fsm.db"


@pytest.fixture
def store(db_path: Path) -> Store:
    return Store.open(db_path)


@pytest.fixture
def clock() -> PinnedClock:
    return PinnedClock()


def rows(path: Path) -> list[tuple[Any, ...]]:
    """The table as another process sees it."""
    con = sqlite3.connect(path)
    try:
        return con.execute(
            "select chat_id, user_id, state, data from fsm_state order by chat_id, user_id"
        ).fetchall()
    finally:
        con.close()


async def reopened(path: Path, clock: PinnedClock) -> SQLiteStorage:
    """A storage as a restarted bot opens it: a new Store on the same file."""
    return SQLiteStorage(Store.open(path), now=clock)


async def test_state_and_data_round_trip_and_survive_a_new_storage(store, db_path, clock):
    storage = SQLiteStorage(store, now=clock)
    ctx = FSMContext(storage, KEY)
    assert await ctx.get_state() is None and await ctx.get_data() == {}
    await ctx.set_state(Form.name)
    await ctx.set_data({"session_id": "2024-A-34-1025", "colleagues": [], "waitlist": False})
    await ctx.update_data(name="山田 花子")
    await ctx.set_state(Form.email)
    assert await ctx.get_state() == "Form:email"
    data = await ctx.get_data()
    assert data == {"session_id": "2024-A-34-1025", "colleagues": [], "waitlist": False, "name": "山田 花子"}
    data["colleagues"].append("changed outside")  # a copy: the stored data is unchanged
    assert (await ctx.get_data())["colleagues"] == []
    await storage.close()
    assert rows(db_path) == [
        (
            1001,
            1001,
            "Form:email",
            '{"colleagues":[],"name":"山田 花子","session_id":"2024-A-34-1025","waitlist":false}',
        )
    ]

    again = FSMContext(await reopened(db_path, clock), KEY)
    assert await again.get_state() == "Form:email"
    assert (await again.get_data())["name"] == "山田 花子"


async def test_clear_deletes_the_row(store, db_path, clock):
    storage = SQLiteStorage(store, now=clock)
    ctx = FSMContext(storage, KEY)
    await ctx.set_state(Form.name)
    await ctx.update_data(name="x")
    await storage.saved()
    assert len(rows(db_path)) == 1
    await ctx.clear()
    await storage.saved()
    assert rows(db_path) == [] and storage.held == 0
    assert await FSMContext(await reopened(db_path, clock), KEY).get_state() is None


async def test_set_data_empty_keeps_the_state(store, db_path, clock):
    """(aiogram-fsm-sqlitestorage deletes the whole row, state included, here.)"""
    storage = SQLiteStorage(store, now=clock)
    ctx = FSMContext(storage, KEY)
    await ctx.set_state(Form.email)
    await ctx.set_data({})
    await storage.close()
    assert await FSMContext(await reopened(db_path, clock), KEY).get_state() == "Form:email"


@pytest.mark.parametrize(
    "other",
    [
        StorageKey(bot_id=43, chat_id=1001, user_id=1001),
        StorageKey(bot_id=42, chat_id=1002, user_id=1001),
        StorageKey(bot_id=42, chat_id=1001, user_id=1002),
        StorageKey(bot_id=42, chat_id=1001, user_id=1001, thread_id=7),
        StorageKey(bot_id=42, chat_id=1001, user_id=1001, business_connection_id="bc1"),
        StorageKey(bot_id=42, chat_id=1001, user_id=1001, destiny="other"),
    ],
)
async def test_keys_are_isolated(store, db_path, clock, other):
    storage = SQLiteStorage(store, now=clock)
    await storage.set_state(KEY, Form.name)
    await storage.set_data(KEY, {"who": "first"})
    await storage.set_state(other, Form.email)
    await storage.set_data(other, {"who": "second"})
    await storage.close()
    for s in (storage, await reopened(db_path, clock)):
        assert await s.get_state(KEY) == "Form:name"
        assert await s.get_data(KEY) == {"who": "first"}
        assert await s.get_state(other) == "Form:email"
        assert await s.get_data(other) == {"who": "second"}


async def test_a_day_old_dialogue_expires_on_read(store, db_path, clock):
    storage = SQLiteStorage(store, now=clock)
    old, fresh = KEY, StorageKey(bot_id=42, chat_id=2002, user_id=2002)
    await storage.set_state(old, Form.name)
    await storage.update_data(old, {"name": "old"})
    clock.advance(hours=12)
    await storage.set_state(fresh, Form.name)
    clock.advance(hours=11, minutes=59)  # 23h59m after the first change: still there
    assert await storage.get_state(old) == "Form:name"
    clock.advance(minutes=2)  # a day and a minute
    assert await storage.get_state(old) is None
    assert await storage.get_data(old) == {}
    assert await storage.get_state(fresh) == "Form:name"
    await storage.saved()
    assert [r[0] for r in rows(db_path)] == [2002]  # the expired row is deleted too
    assert storage.held == 1


async def test_a_restarted_bot_does_not_load_expired_dialogues(store, db_path, clock):
    storage = SQLiteStorage(store, now=clock)
    await storage.set_state(KEY, Form.name)
    await storage.close()
    clock.advance(days=1, seconds=1)
    again = await reopened(db_path, clock)
    assert await again.get_state(KEY) is None and again.held == 0


async def test_the_periodic_purge_bounds_the_table_and_memory(store, db_path, clock):
    storage = SQLiteStorage(store, now=clock, purge_every=dt.timedelta(hours=1))
    for i in range(50):
        await storage.set_state(StorageKey(bot_id=42, chat_id=i, user_id=i), Form.name)
    await storage.saved()
    # rows left behind by an earlier run, two days old, never read again
    fsm_state.save(
        store,
        [
            (
                StorageKey(bot_id=42, chat_id=900 + i, user_id=900 + i),
                fsm_state.FsmRecord("Form:name", "{}", T0 - dt.timedelta(days=2)),
            )
            for i in range(10)
        ],
    )
    assert len(rows(db_path)) == 60
    clock.advance(days=1, minutes=30)  # the 50 are now expired too
    await storage.set_state(KEY, Form.email)  # any change: the purge is due, it runs with it
    await storage.saved()
    assert rows(db_path) == [(1001, 1001, "Form:email", "{}")]
    assert storage.held == 1
    # and on demand
    clock.advance(days=2)
    assert await storage.purge() == 1
    assert rows(db_path) == [] and storage.held == 0


async def test_concurrent_updates_of_one_dialogue_lose_nothing(store, db_path, clock):
    storage = SQLiteStorage(store, now=clock)
    await asyncio.gather(*(storage.update_data(KEY, {f"k{i}": i}) for i in range(200)))
    assert await storage.get_data(KEY) == {f"k{i}": i for i in range(200)}
    await storage.close()
    assert await (await reopened(db_path, clock)).get_data(KEY) == {f"k{i}": i for i in range(200)}


async def test_concurrent_writes_of_many_dialogues_end_in_the_last_value(store, db_path, clock):
    storage = SQLiteStorage(store, now=clock)
    keys = [StorageKey(bot_id=42, chat_id=i, user_id=i) for i in range(100)]

    async def dialogue(key: StorageKey) -> None:
        for step in range(5):
            await storage.set_state(key, Form.name if step % 2 else Form.email)
            await storage.update_data(key, {"step": step})
            await asyncio.sleep(0)

    await asyncio.gather(*(dialogue(k) for k in keys))
    await storage.close()
    again = await reopened(db_path, clock)
    for key in keys:
        assert await again.get_state(key) == "Form:email"
        assert await again.get_data(key) == {"step": 4}


async def test_a_locked_database_does_not_stop_the_dialogue(store, db_path, clock):
    """Another process holds the write lock: the dialogue goes on from memory, and its row
    is written once the lock ends."""
    storage = SQLiteStorage(store, now=clock, busy_timeout_ms=10)
    await storage.set_state(KEY, Form.name)
    await storage.saved()
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("begin immediate")
    try:
        await storage.update_data(KEY, {"name": "Yamada"})
        await storage.set_state(KEY, Form.email)
        assert await storage.get_state(KEY) == "Form:email"
        assert await storage.get_data(KEY) == {"name": "Yamada"}
        assert rows(db_path) == [(1001, 1001, "Form:name", "{}")]  # not yet on disk
    finally:
        holder.execute("rollback")
        holder.close()
    await storage.saved()
    assert rows(db_path) == [(1001, 1001, "Form:email", '{"name":"Yamada"}')]


def traced(store: Store) -> list[str]:
    """The SQL this thread's connection (here: the event loop's) runs from now on."""
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    return statements


async def test_a_change_is_written_on_the_loop_while_the_lock_is_free(store, db_path, clock):
    """No thread hop for a free database: the flusher writes the row with the loop's own
    connection, with no busy wait; while the database is locked the dialogue goes on and
    the row follows once the lock ends."""
    storage = SQLiteStorage(store, now=clock, busy_timeout_ms=10)
    await storage.get_state(KEY)  # loaded (on the worker thread, once)
    store.loop_writes = "raise"  # allowed on the loop: it cannot wait for the lock
    on_loop = traced(store)
    await storage.set_state(KEY, Form.name)
    await storage.update_data(KEY, {"name": "Yamada"})
    await storage.saved()
    assert rows(db_path) == [(1001, 1001, "Form:name", '{"name":"Yamada"}')]
    assert [x for x in on_loop if "fsm_state" in x] and "PRAGMA busy_timeout=0" in on_loop
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("begin immediate")
    try:
        on_loop.clear()
        await storage.set_state(KEY, Form.email)
        await asyncio.sleep(0.05)
        assert await storage.get_state(KEY) == "Form:email"  # the dialogue goes on
    finally:
        holder.execute("rollback")
        holder.close()
    await storage.saved()
    assert rows(db_path) == [(1001, 1001, "Form:email", '{"name":"Yamada"}')]
    await storage.close()


async def test_clearing_a_dialogue_that_was_never_there_writes_nothing(store, db_path, clock):
    storage = SQLiteStorage(store, now=clock)
    await storage.get_state(KEY)  # loaded
    on_loop = traced(store)
    await FSMContext(storage, KEY).clear()  # what /start and the menu do
    await storage.saved()
    assert on_loop == []
    await storage.set_state(KEY, Form.name)
    await FSMContext(storage, KEY).clear()  # one that was there (perhaps not yet written)
    await storage.saved()
    assert rows(db_path) == []
    assert await storage.get_state(KEY) is None


async def test_data_json_cannot_carry_fails_in_the_handler(store, clock):
    storage = SQLiteStorage(store, now=clock)
    await storage.set_data(KEY, {"ok": 1})
    with pytest.raises(TypeError):
        await storage.set_data(KEY, {"when": dt.date(2024, 6, 1)})
    assert await storage.get_data(KEY) == {"ok": 1}


async def test_forget_user_deletes_their_dialogues(store, db_path, clock):
    storage = SQLiteStorage(store, now=clock)
    await storage.set_state(KEY, Form.email)
    await storage.set_state(StorageKey(bot_id=42, chat_id=5, user_id=5), Form.email)
    await storage.close()
    assert fsm_state.forget_user(store, 1001) == 1
    assert [r[1] for r in rows(db_path)] == [5]


@pytest.mark.e2e
def test_catalog_does_not_import_aiogram():
    code = (
        "import sys, catalog.fsm_state, catalog.store, catalog.registrations; "
        "print([m for m in sys.modules if m.split('.')[0] == 'aiogram'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert out.stdout.strip() == "[]"


async def test_a_fresh_dispatcher_on_the_same_file_continues_the_dialogue(settings, catalog, bot, tmp_path):
    """In process, what tests/test_e2e_restart.py does with real processes: the Dispatcher
    from create_dispatcher keeps the dialogue in the catalog's file."""
    from bot.telegram.callbacks import RegCB, SessionCB
    from bot.telegram.factory import create_dispatcher
    from catalog.clock import Clock
    from tests.conftest import ChatUser
    from tests.test_handlers import HIROSHIMA_A, set_profile
    from tests.util_catalog import NOW, make_catalog

    dp = create_dispatcher(settings, catalog, Clock(NOW.date()))
    assert isinstance(dp.storage, SQLiteStorage)
    user = ChatUser(dp, bot)
    await set_profile(user)
    await user.press(SessionCB(id=HIROSHIMA_A, action="reg").pack())
    await user.send("山田 太郎")
    await user.send("広島県庁")
    assert "部署" in user.text()
    skip = RegCB(action="skip").pack()
    assert skip in [d for _, d in user.buttons_all()]
    await dp.fsm.close()  # what the Dispatcher's shutdown does

    fresh = create_dispatcher(settings, make_catalog(tmp_path / "t.db"), Clock(NOW.date()))
    user = ChatUser(fresh, bot)
    await user.press(skip)  # a button the old Dispatcher sent
    assert not user.answers()[0].text
    assert "メールアドレス" in user.text()
    await user.send("chiba@example.jp")
    assert "同行者" in user.text() and "千葉" not in user.text()


async def test_close_gives_up_on_a_locked_database_and_says_how_many(store, db_path, clock, caplog):
    storage = SQLiteStorage(store, now=clock, busy_timeout_ms=10, close_timeout=0.2)
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("begin immediate")
    try:
        await storage.set_state(KEY, Form.name)
        await storage.set_state(StorageKey(bot_id=42, chat_id=5, user_id=5), Form.name)
        await storage.close()
    finally:
        holder.execute("rollback")
        holder.close()
    assert "2 dialogue state(s) could not be saved" in caplog.text
    assert "Yamada" not in caplog.text and rows(db_path) == []
