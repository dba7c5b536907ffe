"""What a Dispatcher runs besides its handlers, and how it stops.

`Jobs` holds the background work of one Dispatcher: the jobs handlers start (a staff
broadcast, /remind) and the long-running loops the server starts (reminders, schedule
watch). It reaches handlers as the `jobs` keyword (Dispatcher workflow data, aiogram's
dependency injection), so nothing is kept in a module-level registry.

`UpdatesInFlight` counts the updates being handled. `install(dp)` puts both on a
Dispatcher and registers a shutdown hook (`dp.shutdown`, which aiogram's polling and
`setup_application` call) that first lets the updates in flight finish (a registration
half sent is worse than a wait) and saves their dialogue state, then waits a while for
the jobs and cancels the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiogram import BaseMiddleware, Dispatcher
from aiogram.types import TelegramObject

log = logging.getLogger("cyder.lifecycle")

GRACE = 10.0  # seconds shutdown waits for updates and jobs before cancelling them


class Jobs:
    """Background tasks of one Dispatcher, kept referenced until they are done."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._endless: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None, endless: bool = False
    ) -> asyncio.Task[Any]:
        """Start `coro` as a task. An `endless` one (a loop that never ends by itself) is
        cancelled at once at shutdown; the others get the grace period. Refused (the
        coroutine closed unrun) while the Dispatcher is shut down."""
        if self._closed:
            coro.close()
            raise RuntimeError("the Dispatcher is shut down: no new jobs")
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if endless:
            self._endless.add(task)
            task.add_done_callback(self._endless.discard)
        return task

    async def open(self) -> None:
        """Take jobs again (the Dispatcher starts again after a shutdown; a startup hook)."""
        self._closed = False

    def __len__(self) -> int:
        return len(self._tasks)

    async def join(self) -> None:
        """Wait until no job runs (one job may start another)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self, grace: float = GRACE) -> None:
        """Refuse new jobs and cancel the endless ones; wait up to `grace` seconds for the
        others (a broadcast half sent is worth finishing), then cancel what is left; return
        when every job has ended."""
        self._closed = True
        endless = set(self._endless)
        for task in endless:
            task.cancel()
        finite = [t for t in self._tasks if t not in endless]
        late: set[asyncio.Task[Any]] = set()
        if finite:
            _, late = await asyncio.wait(finite, timeout=grace) if grace > 0 else (set(), set(finite))
        for task in late:
            task.cancel()
        if late:
            log.warning("cancelled %d background job(s) still running at shutdown", len(late))
        await asyncio.gather(*endless, *late, return_exceptions=True)


class UpdatesInFlight(BaseMiddleware):
    """An outer update middleware counting the updates being handled."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        self.count += 1
        self._idle.clear()
        try:
            return await handler(event, data)
        finally:
            self.count -= 1
            if not self.count:
                self._idle.set()

    async def wait(self, timeout: float = GRACE) -> bool:
        """Wait until no update is being handled; False if `timeout` passed first."""
        if self.count:
            log.info("waiting for %d update(s) in progress", self.count)
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


def install(dp: Dispatcher, *, grace: float = GRACE) -> Jobs:
    """Count `dp`'s updates in flight (as its outermost update middleware when called
    first), give it `jobs`, and on shutdown let both finish, cancelling what outlives
    `grace` seconds."""
    in_flight = UpdatesInFlight()
    jobs = Jobs()
    dp.update.outer_middleware(in_flight)
    dp["jobs"] = jobs

    async def finish() -> None:
        if not await in_flight.wait(grace):
            log.warning("%d update(s) still in progress at shutdown", in_flight.count)
        # aiogram's own shutdown hook (registered first, by the Dispatcher) has closed the
        # FSM storage already; closing it again saves what the late updates changed
        await dp.storage.close()
        await jobs.close(grace)

    dp.startup.register(jobs.open)
    dp.shutdown.register(finish)
    return jobs
