"""Writes that never make the event loop wait: one writer thread, a short busy timeout, a
bounded retry; short writes on the loop itself when the lock is free.

SQLite lets one connection write at a time. While another process holds the write lock
(a staff `import-registrations`, `db load`), a write on the event loop would wait there
for SQLite's busy timeout and freeze every chat user, `/healthz` and the feeds. So the
bot's writes run here instead: on one thread of their own (writes are serialised by
SQLite anyway). The first attempt waits at most `busy_timeout` for the lock, so that
the caller can soon be told the database is busy (`on_busy`, once) and tell the person
waiting; later attempts wait up to `retry_timeout` each (SQLite takes the lock within
a tenth of a second of its release) until `budget` seconds have passed. The event
loop stays free all the while. Reads need none of this: in WAL mode readers never wait for a
writer, and they come from the catalog's in-memory snapshot anyway.

A short write (`quick`: the chat's own rows, a notification's mark) is first tried on the
event loop itself, with no busy wait and no checkpoint (`Store.without_waiting`): when the lock
is free it is done there at once, sparing the thread round trip (0.25–0.7 ms each on a 2-core
VM, most of it waking the other core: with every update's background work counted,
bench_dispatcher's ratio went from 0.24–0.25 to 0.31–0.32, the dialogue state written so too);
when another connection holds the lock, SQLite says so at once, nothing was written, and the
write goes to the writer thread as above. The loop's connection never checkpoints; every
`Store.checkpoint_every` such writes the writer thread does (PASSIVE: it waits for nobody).

A write that runs out of budget raises `DatabaseBusy`: nothing of it was saved (each
attempt is one `Store.write()` transaction, rolled back or never begun), so the person
can simply try again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from catalog.i18n import gettext_lazy as _l
from catalog.store import Store, is_busy

log = logging.getLogger("cyder.writer")

T = TypeVar("T")

BUSY_TIMEOUT = 0.2  # seconds the first attempt waits for the lock
RETRY_TIMEOUT = 1.0  # seconds each later attempt waits
BUDGET = 20.0  # seconds of attempts before giving up


class DatabaseBusy(Exception):  # noqa: N818 - named for what the person is told
    """Another process kept the database's write lock longer than the write budget;
    nothing was saved and the same action can be tried again.

    Not a `CatalogError`: it refuses nothing, so code that shows a domain refusal and
    ends a dialogue (``except CatalogError``) lets it pass to whoever offers "try again"."""

    code = "busy"
    # what a person is told (the web pages' 503; the chat says writes.NOT_SAVED)
    said = _l(
        "The database is busy (another program is writing to it), so nothing was saved. "
        "Please try again in a minute."
    )

    def __init__(self, what: str = "", waited: float = 0.0) -> None:
        super().__init__(f"database busy: {what} gave up after {waited:.1f} s")
        self.what = what
        self.waited = waited


class Writer:
    """Runs write functions on one thread of their own, retrying while the database is
    locked by another connection. `await writer(fn, *args, on_busy=..., **kwargs)`."""

    def __init__(
        self,
        store: Store,
        *,
        busy_timeout: float = BUSY_TIMEOUT,
        retry_timeout: float = RETRY_TIMEOUT,
        budget: float = BUDGET,
    ) -> None:
        self.store = store
        self.busy_timeout = busy_timeout
        self.retry_timeout = retry_timeout
        self.budget = budget
        self.busy_attempts = 0  # attempts that found the database locked (for tests, stats)
        self.on_loop = 0  # quick writes done on the event loop
        self.handed_over = 0  # quick writes that found the lock taken and went to the thread
        self.gave_up = 0  # writes that ran out of budget
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._busy_ms: int | None = None  # the busy timeout the writer thread's connection has

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="cyder-writer"
                )
            return self._executor

    def _attempt(self, call: Callable[[], T], timeout: float) -> T:
        ms = int(timeout * 1000)
        if ms != self._busy_ms:  # the writer thread's connection; most writes keep it
            self.store.set_busy_timeout(ms)
            self._busy_ms = ms
        return call()

    async def __call__(
        self,
        fn: Callable[..., T],
        /,
        *args: Any,
        on_busy: Callable[[], Awaitable[Any]] | None = None,
        quick: bool = False,
        **kwargs: Any,
    ) -> T:
        """`fn(*args, **kwargs)` on the writer thread. When an attempt finds the database
        locked, `on_busy()` is awaited (once) and the call is tried again, until `budget`
        seconds have passed: then `DatabaseBusy`. Any other error is raised as it is.

        `quick` (a short write: one person's own rows) is tried on the event loop first,
        `Store.without_waiting`: done there at once when the lock is free, and handed to
        the writer thread as above when another connection holds it."""
        loop = asyncio.get_running_loop()
        call = functools.partial(fn, *args, **kwargs)
        if quick:
            try:
                result = self.store.without_waiting(call)
            except Exception as e:
                if not is_busy(e):
                    raise
                self.handed_over += 1
            else:
                self._written_on_loop()
                return result
        started = time.monotonic()
        timeout = min(self.busy_timeout, self.budget)
        told = False
        while True:
            try:
                return await loop.run_in_executor(self._pool(), self._attempt, call, timeout)
            except Exception as e:
                if not is_busy(e):
                    raise
            self.busy_attempts += 1
            waited = time.monotonic() - started
            what = getattr(fn, "__qualname__", type(fn).__name__)
            left = self.budget - waited
            if left <= 0.01:
                self.gave_up += 1
                log.warning("database busy: gave up on %s after %.1f s", what, waited)
                raise DatabaseBusy(what, waited)
            if on_busy is not None and not told:
                told = True
                log.info("database busy: %s waits for the write lock", what)
                try:
                    await on_busy()
                except Exception as e:  # noqa: BLE001 - telling is best effort; saving is not
                    log.warning("could not report the wait for %s: %s", what, type(e).__name__)
            timeout = min(self.retry_timeout, left)

    def _written_on_loop(self) -> None:
        """Count a quick write; the writer thread checkpoints when one is due (the loop's
        connection never does: that writes and syncs the file)."""
        self.on_loop += 1
        self.store.checkpoint_if_due(self._pool())

    def close(self) -> None:
        """Close the writer thread's connection and stop the thread (idempotent)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.submit(self.store.close)
            executor.shutdown(wait=True)
            self._busy_ms = None  # a new thread gets a new connection
