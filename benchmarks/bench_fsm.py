"""What the dialogue state costs per update, for the ways it could be kept (issue 9 §3).

aiogram reads the state of every update (FSMContextMiddleware), and a dialogue step also
reads and writes its data and moves to the next state. Each variant runs the same two
workloads on a real SQLite file in WAL mode, through aiogram's FSMContext:

- read: one get_state (any update: a search, a button);
- step: get_state, update_data, set_state (one answer in the registration dialogue).

Variants: MemoryStorage (nothing survives a restart; the floor); a storage that runs
every call in a worker thread (`asyncio.to_thread`, short busy timeout); and ours
(bot.telegram.fsm_storage.SQLiteStorage: reads from a dict, writes persisted by one
worker thread), and ours made to wait for each commit. Then 20 steps at once while
another connection holds the write lock for a second: how many work, and how long the
slowest takes.

    .venv/bin/python benchmarks/bench_fsm.py [--n 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiogram.fsm.context import FSMContext  # noqa: E402
from aiogram.fsm.state import State  # noqa: E402
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey  # noqa: E402
from aiogram.fsm.storage.memory import MemoryStorage  # noqa: E402

from bot.telegram.fsm_storage import SQLiteStorage  # noqa: E402
from catalog import fsm_state  # noqa: E402
from catalog.clock import JST  # noqa: E402
from catalog.store import Store  # noqa: E402

STATES = [State(f"s{i}", group_name="Bench") for i in range(4)]


class ThreadStorage(BaseStorage):
    """Every call in a worker thread (asyncio.to_thread), nothing kept in memory."""

    def __init__(self, store: Store, busy_timeout_ms: int = 100) -> None:
        self.store = store
        self.busy_timeout_ms = busy_timeout_ms
        self._set_up = threading.local()

    def _prepare(self) -> None:
        if not getattr(self._set_up, "done", False):
            self.store.set_busy_timeout(self.busy_timeout_ms)
            self._set_up.done = True

    def _get(self, key: StorageKey) -> fsm_state.FsmRecord | None:
        self._prepare()
        return fsm_state.get(self.store, key, now=dt.datetime.now(JST))

    def _set(
        self, key: StorageKey, state: str | None, data: Mapping[str, Any] | None, *, keep_state: bool = False
    ) -> None:
        """Change the state (or, with `keep_state`, only the data) in one transaction."""
        self._prepare()
        now = dt.datetime.now(JST)
        with self.store.write(bump=False):
            old = fsm_state.get(self.store, key, now=now)
            if keep_state:
                state = old.state if old else None
            text = fsm_state.encode_data(data) if data is not None else (old.data if old else "{}")
            fsm_state.save(self.store, [(key, fsm_state.FsmRecord(state, text, now))])

    async def get_state(self, key: StorageKey) -> str | None:
        record = await asyncio.to_thread(self._get, key)
        return record.state if record else None

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        record = await asyncio.to_thread(self._get, key)
        return fsm_state.decode_data(record.data) if record else {}

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        name = state.state if isinstance(state, State) else state
        await asyncio.to_thread(self._set, key, name, None)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await asyncio.to_thread(self._set, key, None, data, keep_state=True)

    async def close(self) -> None:
        return None


class WaitingStorage(SQLiteStorage):
    """Ours, but each change waits for its commit (how a write-through wait would cost)."""

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await super().set_state(key, state)
        await self.saved()

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await super().set_data(key, data)
        await self.saved()


def key(i: int) -> StorageKey:
    return StorageKey(bot_id=42, chat_id=100_000 + i, user_id=100_000 + i)


async def read(storage: BaseStorage, i: int) -> None:
    await FSMContext(storage, key(i)).get_state()


async def step(storage: BaseStorage, i: int) -> None:
    ctx = FSMContext(storage, key(i))
    await ctx.get_state()
    await ctx.update_data(name=f"User {i}", email=f"user{i}@pref.example.jp")
    await ctx.set_state(STATES[i % len(STATES)])


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


async def measure(storage: BaseStorage, n: int, users: int = 50) -> tuple[list[float], list[float]]:
    for i in range(users):  # warm up: every user has a dialogue
        await step(storage, i)
    reads, steps = [], []
    for i in range(n):
        t0 = time.perf_counter()
        await read(storage, i % users)
        t1 = time.perf_counter()
        await step(storage, i % users)
        t2 = time.perf_counter()
        reads.append((t1 - t0) * 1e6)
        steps.append((t2 - t1) * 1e6)
    return reads, steps


async def under_lock(storage: BaseStorage, db: Path, users: int = 20, hold: float = 1.0) -> tuple[int, float]:
    """Another connection holds the write lock for `hold` s while `users` dialogue steps
    start at once: how many worked, and how long the slowest took (ms)."""
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("begin immediate")

    async def release() -> None:
        await asyncio.sleep(hold)
        holder.execute("rollback")

    releasing = asyncio.create_task(release())
    t0 = time.perf_counter()
    results = await asyncio.gather(*(step(storage, 1000 + i) for i in range(users)), return_exceptions=True)
    slowest = (time.perf_counter() - t0) * 1000
    await releasing
    holder.close()
    return sum(1 for r in results if not isinstance(r, BaseException)), slowest


async def main(n: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        rows: list[tuple[str, list[float], list[float], int, float]] = []
        for label, make in (
            ("MemoryStorage (lost on restart)", lambda s: MemoryStorage()),
            ("to_thread per call", lambda s: ThreadStorage(s)),
            ("ours (dict, saved after the step)", lambda s: SQLiteStorage(s)),
            ("ours, waiting for each commit", lambda s: WaitingStorage(s)),
        ):
            path = Path(tmp) / f"{len(rows)}.db"
            store = Store.open(path)
            storage = make(store)
            reads, steps = await measure(storage, n)
            ok, slowest = await under_lock(storage, path)
            await storage.close()
            rows.append((label, reads, steps, ok, slowest))
    print(
        f"{n} reads and {n} dialogue steps each (50 users); then 20 steps at once while "
        "another connection holds the write lock for 1 s"
    )
    print(
        f"{'':34}{'read p50':>9}{'p99 µs':>8}{'step p50':>10}{'p99 µs':>8}"
        f"{'locked: ok':>12}{'slowest ms':>12}"
    )
    for label, reads, steps, ok, slowest in rows:
        print(
            f"{label:34}{statistics.median(reads):9.0f}{p99(reads):8.0f}"
            f"{statistics.median(steps):10.0f}{p99(steps):8.0f}{ok:>9}/20{slowest:12.0f}"
        )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.n)))
