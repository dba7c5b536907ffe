"""aiogram FSM storage in the catalog's SQLite file: a restart mid-dialogue goes on where
the user was (issue 9 §3).

Why our own class. Two packages on PyPI were downloaded and read:
- aiogram-sqlite-storage 1.0.1 (last release 2024-09): plain sqlite3 calls inside the
  async methods, so a staff write holding the lock freezes the event loop (5 s measured,
  then "database is locked" is logged and swallowed: the state is silently lost); pickle
  by default; its key is bot:chat:user only (forum threads and destinies collide); its
  get_data returns None, not {}, for an unknown key; no WAL, no expiry.
- aiogram-fsm-sqlitestorage 1.0.0 (tests from aiogram 3.13): the same blocking sqlite3
  calls on the loop; set_data({}) deletes the row and with it the state; it calls
  logging.basicConfig at import; no business-connection key, no expiry, its own
  connection settings (no WAL, default timeout) on whatever file it is given.
Both do implement aiogram 3.20+'s BaseStorage, but neither keeps the loop free, shares
our file's WAL/busy settings and migrations, or expires old dialogues; this class does,
in about the same amount of code.

How it works. The dialogues live in a dict (aiogram's MemoryStorage's job) that is the
truth for this process, loaded once from `fsm_state` on first use. Every change is also
queued, and a flusher task writes what is queued in one transaction: on the event loop
when the write lock is free (`Store.without_waiting`: no busy wait, no checkpoint; about
0.1 ms, where a hop to a thread and back cost 0.25 ms and more on a 2-core VM), else on
one worker thread (short busy timeout; retried with back-off while another process holds
the lock). Nothing waits for that commit: it lands a fraction of a millisecond later,
while the handler's reply is still on its way to Telegram, and while the database is
locked the dialogue goes on from memory and the rows follow when the lock ends. Clearing
a state that was never set (/start, the menu) writes nothing. Reads never touch SQLite:
aiogram reads the state of every update, and a dict lookup costs microseconds where a
thread hop per call costs tens to hundreds and fails under a lock (measured in
benchmarks/bench_fsm.py, p50: get_state 2 µs vs 54 µs, a dialogue step 13 µs vs 270 µs;
while another connection holds the lock for 1 s, 20 of 20 steps go on at once vs 0 of 20,
"database is locked"; waiting for each commit would make a step 150 µs and, under the
lock, last as long as the lock). Read-modify-write
(update_data) is atomic within the process. Data goes through JSON on every write and
read, so what a handler gets back is exactly what survives a restart, and a value JSON
cannot carry fails at once, in the handler.

Expiry: a dialogue unchanged for `ttl` (a day) reads as empty and is dropped, and about
once every `purge_every` the flush also deletes such rows from the table and the dict,
so both stay bounded. One bot process per database file: the dict is not shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from catalog import fsm_state
from catalog.clock import JST
from catalog.fsm_state import TTL, FsmRecord
from catalog.store import Store, is_busy

log = logging.getLogger(__name__)

T = TypeVar("T")

EMPTY = "{}"


def _wall_clock() -> dt.datetime:
    return dt.datetime.now(JST)


class SQLiteStorage(BaseStorage):
    """FSM state and data in the store's `fsm_state` table, served from memory."""

    def __init__(
        self,
        store: Store,
        *,
        ttl: dt.timedelta = TTL,
        now: Callable[[], dt.datetime] = _wall_clock,
        busy_timeout_ms: int = 100,
        purge_every: dt.timedelta = dt.timedelta(hours=1),
        close_timeout: float = 5.0,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.now = now
        self.busy_timeout_ms = busy_timeout_ms
        self.purge_every = purge_every
        self.close_timeout = close_timeout
        self._records: dict[StorageKey, FsmRecord] = {}
        self._loaded = False
        self._load_lock = asyncio.Lock()
        self._pending: dict[StorageKey, FsmRecord | None] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._last_purge: dt.datetime | None = None
        self._failing = False

    # -- BaseStorage -------------------------------------------------------------------------

    async def get_state(self, key: StorageKey) -> str | None:
        record = await self._get(key)
        return None if record is None else record.state

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        record = await self._get(key)
        return {} if record is None else fsm_state.decode_data(record.data)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        name = state.state if isinstance(state, State) else state
        record = await self._get(key)
        await self._put(key, FsmRecord(name, record.data if record else EMPTY, self.now()))

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        text = fsm_state.encode_data(data)
        record = await self._get(key)
        await self._put(key, FsmRecord(record.state if record else None, text, self.now()))

    async def close(self) -> None:
        """Write what is still queued (waiting up to `close_timeout` for a locked database),
        then let the worker thread go. Called by the Dispatcher at shutdown."""
        flusher = self._flusher
        if flusher is not None and not flusher.done():
            done, _ = await asyncio.wait([flusher], timeout=self.close_timeout)
            if not done:
                flusher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await flusher  # puts the batch it was writing back among the unsaved
        if self._pending:
            log.error("%d dialogue state(s) could not be saved before shutdown", len(self._pending))
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(executor, self.store.close)
            executor.shutdown(wait=False)

    # -- also useful ---------------------------------------------------------------------------

    async def purge(self) -> int:
        """Drop expired dialogues from memory and the table now; returns the rows deleted."""
        now = self.now()
        self._drop_expired(now)
        self._last_purge = now
        return await self._run(fsm_state.purge, self.store, now=now, ttl=self.ttl)

    async def saved(self) -> None:
        """Wait until every change made so far is committed (however long that takes)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.wait([self._flusher])

    @property
    def held(self) -> int:
        """Dialogues held in memory. (Not __len__: aiogram's Dispatcher takes
        `storage or MemoryStorage()`, and an empty storage must not read as false.)"""
        return len(self._records)

    # -- inside ----------------------------------------------------------------------------

    async def _ready(self) -> None:
        if self._loaded:
            return
        async with self._load_lock:
            if self._loaded:
                return
            now = self.now()
            rows = await self._run(fsm_state.load, self.store, now=now, ttl=self.ttl)
            for key, record in rows.items():
                self._records.setdefault(StorageKey(**dataclasses.asdict(key)), record)
            self._loaded = True

    async def _get(self, key: StorageKey) -> FsmRecord | None:
        await self._ready()
        record = self._records.get(key)
        if record is not None and record.expired(self.now(), self.ttl):
            del self._records[key]
            self._queue(key, None)
            return None
        return record

    async def _put(self, key: StorageKey, record: FsmRecord) -> None:
        if record.empty:
            # nothing to delete when there was no dialogue (the dict holds every row; a
            # row being written is still among the pending): /start, the menu's clear()
            if self._records.pop(key, None) is None and key not in self._pending:
                return
            self._queue(key, None)
            return
        self._records[key] = record
        self._queue(key, record)

    def _queue(self, key: StorageKey, record: FsmRecord | None) -> None:
        self._pending[key] = record
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        delay = 0.05
        while self._pending:
            batch, self._pending = self._pending, {}
            now = self.now()
            purge = self._last_purge is None or now - self._last_purge >= self.purge_every
            try:
                await self._save(list(batch.items()), now if purge else None)
            except BaseException as e:  # a locked database above all; retried, never dropped
                for key, record in batch.items():
                    self._pending.setdefault(key, record)  # a newer change wins
                if not isinstance(e, Exception):
                    raise  # cancelled (close gave up): counted as not saved
                if not self._failing:
                    log.warning("dialogue state not saved yet (%s); retrying", type(e).__name__)
                    self._failing = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if self._failing:
                log.warning("dialogue state saved again")
                self._failing = False
            delay = 0.05
            if purge:
                self._last_purge = now
                self._drop_expired(now)

    async def _save(
        self, items: list[tuple[StorageKey, FsmRecord | None]], purge_at: dt.datetime | None
    ) -> None:
        """The batch on the event loop when the lock is free (`Store.without_waiting`: no
        wait, no checkpoint), else on the worker thread, which waits its short timeout."""
        try:
            self.store.without_waiting(functools.partial(self._write, items, purge_at))
        except Exception as e:
            if not is_busy(e):
                raise
            await self._run(self._write, items, purge_at)
            return
        self.store.checkpoint_if_due(self._worker())  # the loop's connection does not

    def _write(self, items: list[tuple[StorageKey, FsmRecord | None]], purge_at: dt.datetime | None) -> None:
        """In the worker thread: the queued rows in one transaction, then maybe the purge."""
        fsm_state.save(self.store, items)
        if purge_at is not None:
            fsm_state.purge(self.store, now=purge_at, ttl=self.ttl)

    def _drop_expired(self, now: dt.datetime) -> None:
        for key in [k for k, r in self._records.items() if r.expired(now, self.ttl)]:
            del self._records[key]

    def _worker(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=1,
                thread_name_prefix="fsm-sqlite",
                initializer=self.store.set_busy_timeout,
                initargs=(self.busy_timeout_ms,),
            )
        return self._executor

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker(), lambda: fn(*args, **kwargs))
