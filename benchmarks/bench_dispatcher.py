"""How fast the real Dispatcher handles a realistic mix of updates, against an echo bot.

Feeds rounds of updates — each round a new user: /start, the profile questions (button
presses), a typed place, a shared location, a prefecture list, a session card, the menu,
and a whole registration ending in the calendar file — through
`bot.telegram.factory.create_dispatcher` (as `bot.serve.build_dispatcher` wraps it for serve and
the demo) with a Bot whose session answers without any network. Each update goes in as
the JSON dict Telegram sends (`Dispatcher.feed_raw_update`, the webhook's path), so the
figures include parsing it, as in production.

The baseline is a trivial echo handler on the same Dispatcher (issue 3 §7): a router put
before the app's own, answering "echo …" texts, so each echo passes the same middlewares
(user record, language, FSM, callback answers) and does no work of its own. For
reference the same echoes also go through a bare `Dispatcher()` with nothing but the
echo router. Everything runs in the same process and run. Prints updates/s, p50/p99 ms
per update for each, and the ratios. Targets (issue 3 §7): realistic/echo rate >= 0.3,
p99 < 5 ms. Also prints how long the chat's writes made on the event loop held it
(`catalog.writer`: a short write is done there when the lock is free).

    .venv/bin/python benchmarks/bench_dispatcher.py [--rounds 100] [--warmup 5] [--cpu]

With --cpu each update is timed by the process's CPU time (`time.process_time`, every
thread of this process) instead of the wall clock: on a shared machine the moments other
processes hold the CPU then do not count, so runs compare with less noise.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import gc
import itertools
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiogram import Bot, Dispatcher, F, Router  # noqa: E402
from aiogram.client.default import DefaultBotProperties  # noqa: E402
from aiogram.client.session.base import BaseSession  # noqa: E402
from aiogram.enums import ParseMode  # noqa: E402
from aiogram.methods import TelegramMethod  # noqa: E402
from aiogram.methods.base import TelegramType  # noqa: E402
from aiogram.types import (  # noqa: E402
    CallbackQuery,
    Chat,
    Location,
    Message,
    Update,
    User,
)

from bot.config import Settings  # noqa: E402
from bot.runtime import clock_for, open_catalog  # noqa: E402
from bot.serve import build_dispatcher  # noqa: E402
from bot.telegram.callbacks import FindCB, MenuCB, ProfileCB, RegCB, SessionCB  # noqa: E402
from bot.telegram.filters import Magic  # noqa: E402
from bot.telegram.fsm_storage import SQLiteStorage  # noqa: E402
from bot.telegram.notify import Notifier  # noqa: E402
from catalog import places  # noqa: E402
from catalog.eligibility import Profile  # noqa: E402

TODAY = dt.date(2024, 6, 1)
PROFILE_SORT, PROFILE_LINES = "tottime", 25
CLOCK = time.perf_counter  # time.process_time with --cpu
BOT_USER = User(id=42, is_bot=True, first_name="CYDER", username="cyder_bench_bot")
EPOCH = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


class NoNetworkSession(BaseSession):
    """Answers every Bot API call at once with a plausible result; counts the calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, int] = defaultdict(int)
        self._ids = itertools.count(10_000)

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        name = method.__api_method__
        self.calls[name] += 1
        if name == "getMe":
            return BOT_USER  # type: ignore[return-value]
        if name in (
            "sendMessage",
            "sendDocument",
            "editMessageText",
            "sendLocation",
            "editMessageReplyMarkup",
        ):
            chat_id = int(getattr(method, "chat_id", None) or 1)
            return Message(
                message_id=next(self._ids),
                date=EPOCH,  # type: ignore[return-value]
                chat=Chat(id=chat_id, type="private"),
                from_user=BOT_USER,
                text=getattr(method, "text", None) or "",
            )
        return True  # type: ignore[return-value]

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        yield b""

    async def close(self) -> None:
        return None


class Factory:
    """Builds updates as the JSON dicts Telegram sends (built as `Update`s, then dumped)."""

    def __init__(self) -> None:
        self.update_ids = itertools.count(1)
        self.message_ids = itertools.count(1)
        self.query_ids = itertools.count(1)

    def _message(self, user: User, **fields: Any) -> Message:
        return Message(
            message_id=next(self.message_ids),
            date=EPOCH,
            chat=Chat(id=user.id, type="private"),
            from_user=user,
            **fields,
        )

    @staticmethod
    def _raw(update: Update) -> dict[str, Any]:
        return update.model_dump(mode="json", by_alias=True, exclude_none=True)

    def text(self, user: User, text: str) -> dict[str, Any]:
        return self._raw(Update(update_id=next(self.update_ids), message=self._message(user, text=text)))

    def location(self, user: User, lat: float, lon: float) -> dict[str, Any]:
        return self._raw(
            Update(
                update_id=next(self.update_ids),
                message=self._message(user, location=Location(latitude=lat, longitude=lon)),
            )
        )

    def press(self, user: User, data: Any) -> dict[str, Any]:
        shown = Message(
            message_id=next(self.message_ids),
            date=EPOCH,
            chat=Chat(id=user.id, type="private"),
            from_user=BOT_USER,
            text="…",
        )
        query = CallbackQuery(
            id=str(next(self.query_ids)),
            from_user=user,
            chat_instance=f"ci{user.id}",
            message=shown,
            data=data.pack(),
        )
        return self._raw(Update(update_id=next(self.update_ids), callback_query=query))


def chugoku_index() -> int:
    return next(i for i, r in enumerate(places.REGIONS) if r.name == "中国")


def round_updates(f: Factory, user: User, session_id: str) -> list[tuple[str, dict[str, Any]]]:
    """One new user's visit: (kind, update) pairs."""
    region = str(chugoku_index())
    return [
        ("start", f.text(user, "/start")),
        ("press", f.press(user, MenuCB(action="find"))),
        ("profile", f.press(user, ProfileCB(step="o", value="local"))),
        ("profile", f.press(user, ProfileCB(step="w", value="staff"))),
        ("profile", f.press(user, ProfileCB(step="r", value=region))),
        ("profile", f.press(user, ProfileCB(step="f", value="34"))),
        ("search", f.text(user, "広島")),
        ("search", f.location(user, 34.3963, 132.4596)),
        ("search", f.press(user, FindCB(kind="p", key="34"))),
        ("card", f.press(user, SessionCB(id=session_id))),
        ("press", f.press(user, MenuCB(action="start"))),
        ("register", f.press(user, SessionCB(id=session_id, action="reg"))),
        ("register", f.text(user, f"Bench User {user.id}")),
        ("register", f.text(user, "Hiroshima Prefecture")),
        ("register", f.text(user, "Information Policy Division")),
        ("register", f.text(user, f"user{user.id}@pref.example.jp")),
        ("register", f.press(user, RegCB(action="done"))),
        ("confirm", f.press(user, RegCB(action="ok"))),  # saves, sends the .ics
    ]


async def settle(dp: Dispatcher) -> None:
    """Wait for what an update left running in the background: the marks of the
    notifications it sent and the save of its dialogue state. In the bot the loop runs
    these between updates (while it waits for Telegram); here no update waits for
    anything, so they would pile up unmeasured. Waited for inside the update's time, they
    count where they belong. (First one turn of the loop, in which such work that needs no
    thread runs to its end, so that there is seldom anything left to wait for.)"""
    await asyncio.sleep(0)
    notifier = dp.workflow_data.get("notifier")
    if isinstance(notifier, Notifier):
        await notifier.idle()
    if isinstance(dp.storage, SQLiteStorage):
        await dp.storage.saved()


async def timed(
    dp: Dispatcher,
    bot: Bot,
    items: list[tuple[str, dict[str, Any]]],
    times: list[float],
    by_kind: dict[str, list[float]] | None = None,
) -> None:
    """Feed `items` one by one, adding each update's time (ms), its background work
    included (`settle`), to `times` (and by kind)."""
    for kind, update in items:
        t0 = CLOCK()
        await dp.feed_raw_update(bot, update)
        await settle(dp)
        elapsed = (CLOCK() - t0) * 1000
        times.append(elapsed)
        if by_kind is not None:
            by_kind[kind].append(elapsed)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else values[0]


def echo_router(name: str, *filters: Any) -> Router:
    router = Router(name=name)

    @router.message(*filters)
    async def echo(message: Message) -> None:
        await message.answer(message.text or "?")

    return router


async def main(rounds: int, warmup: int, profile: bool = False) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(db_path=Path(tmp) / "bench.db", today=TODAY, bot_token="42:BENCH")
        clock = clock_for(settings)
        catalog = open_catalog(settings, clock)
        hits = catalog.upcoming(TODAY, eligible_for=Profile("local"))
        sessions = [h.session.id for h in hits if h.session.is_open(TODAY)]
        assert sessions, "no open sessions on the benchmark date"
        session = NoNetworkSession()
        bot = Bot(
            settings.bot_token or "42:BENCH",
            session=session,
            default=DefaultBotProperties(parse_mode=ParseMode.HTML),
        )
        # how long each write the chat makes on the event loop holds it (catalog.writer:
        # quick writes are done there when the lock is free)
        loop_writes: list[float] = []
        without_waiting = catalog.store.without_waiting

        def timed_write(call: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return without_waiting(call)
            finally:
                loop_writes.append((time.perf_counter() - t0) * 1000)

        catalog.store.without_waiting = timed_write  # type: ignore[method-assign]
        # as serve/demo build it (bot.serve), throttling off: one process feeds many users
        dp = build_dispatcher(settings, catalog, clock, throttle_burst=0)

        # the baseline: an echo router before the app's own, on the same Dispatcher
        dp.include_router(echo_router("echo-same", Magic(F.text.startswith("echo "))))
        dp.sub_routers.insert(0, dp.sub_routers.pop())
        # for reference: the same echo on a bare Dispatcher (no middlewares, no FSM work)
        bare = Dispatcher()
        bare.include_router(echo_router("echo-bare"))

        f = Factory()
        users = (
            User(id=100_000 + i, is_bot=False, first_name=f"U{i}", language_code="ja")
            for i in itertools.count()
        )
        warm = [u for i in range(warmup) for u in round_updates(f, next(users), sessions[i % len(sessions)])]
        real = [
            u
            for i in range(rounds)
            for u in round_updates(f, next(users), sessions[(warmup + i) % len(sessions)])
        ]
        echoes = [
            (
                "echo",
                f.text(
                    User(id=200_000 + i % 50, is_bot=False, first_name="E", language_code="ja"),
                    f"echo hello {i}",
                ),
            )
            for i in range(len(real) + len(warm))
        ]

        await timed(dp, bot, warm, [])
        await timed(dp, bot, echoes[: len(warm)], [])
        await timed(bare, bot, echoes[: len(warm)], [])
        gc.collect()
        gc.freeze()  # the catalog and aiogram's types are long-lived: keep GC pauses small
        loop_writes.clear()
        handed_before = catalog.writer.handed_over
        registered_before = catalog.store.one("select count(*) as n from registrations")["n"]  # type: ignore[index]
        docs_before = session.calls["sendDocument"]

        # Paired: each user's round, then as many echoes on each Dispatcher, so that the
        # three see the same machine (a busy moment slows all three, not one of them).
        mix_times: list[float] = []
        echo_times: list[float] = []
        bare_times: list[float] = []
        by_kind: dict[str, list[float]] = defaultdict(list)
        echoed = 0
        profiler = cProfile.Profile() if profile else None
        per_round = len(real) // rounds
        for i in range(rounds):
            chunk = slice(i * per_round, (i + 1) * per_round)
            if profiler:
                profiler.enable()
            await timed(dp, bot, real[chunk], mix_times, by_kind)
            if profiler:
                profiler.disable()
            sent = session.calls["sendMessage"]
            await timed(dp, bot, echoes[len(warm) :][chunk], echo_times)
            echoed += session.calls["sendMessage"] - sent
            await timed(bare, bot, echoes[len(warm) :][chunk], bare_times)
        if profiler:
            pstats.Stats(profiler).sort_stats(PROFILE_SORT).print_stats(PROFILE_LINES)

        registered = catalog.store.one("select count(*) as n from registrations")["n"] - registered_before  # type: ignore[index]
        handed = catalog.writer.handed_over - handed_before
        docs = session.calls["sendDocument"] - docs_before

    n_echo = len(echo_times)
    mix_rate = len(mix_times) / (sum(mix_times) / 1000)
    echo_rate = n_echo / (sum(echo_times) / 1000)
    bare_rate = len(bare_times) / (sum(bare_times) / 1000)
    ratio = mix_rate / echo_rate
    mix_p99 = p99(mix_times)
    print(f"clock: {'CPU time (--cpu)' if CLOCK is time.process_time else 'wall'}")
    print(
        f"updates: {len(real)} realistic ({rounds} users, {registered} registrations, "
        f"{docs} calendar files) and {n_echo} echo"
    )
    print(f"{'':24}{'updates/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for label, rate, times in (
        ("realistic mix", mix_rate, mix_times),
        ("echo, same Dispatcher", echo_rate, echo_times),
        ("echo, bare Dispatcher", bare_rate, bare_times),
    ):
        print(f"{label:24}{rate:12.0f}{statistics.median(times):10.2f}{p99(times):10.2f}{max(times):10.2f}")
    print("by kind (realistic mix):")
    for kind, values in by_kind.items():
        print(
            f"  {kind:12}{len(values):6} updates  p50 {statistics.median(values):6.2f} ms"
            f"  p99 {p99(values):6.2f} ms"
        )
    ok_ratio, ok_p99 = ratio >= 0.3, mix_p99 < 5.0
    print(
        f"ratio realistic/echo (same Dispatcher): {ratio:.2f} "
        f"(target >= 0.30: {'ok' if ok_ratio else 'MISSED'})"
    )
    print(f"ratio realistic/echo (bare Dispatcher, for reference): {mix_rate / bare_rate:.2f}")
    print(f"p99 realistic: {mix_p99:.2f} ms (target < 5 ms: {'ok' if ok_p99 else 'MISSED'})")
    if loop_writes:
        print(
            f"writes on the event loop: {len(loop_writes)} (wall) p50 {statistics.median(loop_writes):.2f} ms, "
            f"p99 {p99(loop_writes):.2f} ms, max {max(loop_writes):.2f} ms; "
            f"{handed} found the lock taken and went to the writer thread"
        )
    if registered != rounds:
        print(f"WARNING: expected {rounds} registrations, got {registered}")
        return 1
    if echoed != n_echo:
        print(f"WARNING: expected {n_echo} echoes on the app's Dispatcher, got {echoed}")
        return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100, help="users (18 updates each)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--profile", action="store_true", help="print where the realistic mix spends its time (cProfile)"
    )
    parser.add_argument(
        "--cpu", action="store_true", help="time updates by this process's CPU time, not the wall clock"
    )
    args = parser.parse_args()
    if args.cpu:
        CLOCK = time.process_time
    sys.exit(asyncio.run(main(args.rounds, args.warmup, args.profile)))
