"""Broadcast 600 messages through a fake Bot API server that enforces Telegram's limits.

Telegram allows ~30 messages/s, so 600 chats cannot take less than 20 s (the baseline,
computed in this run). Target: elapsed within 10% of that, and zero 429 answers.

    .venv/bin/python benchmarks/bench_broadcast.py [--chats 600]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiogram import Bot  # noqa: E402
from aiogram.client.session.aiohttp import AiohttpSession  # noqa: E402
from aiogram.client.telegram import TelegramAPIServer  # noqa: E402

from bot.demo.fake_telegram import TOKEN, FakeTelegram  # noqa: E402
from bot.telegram.outbox import Outbox, Progress  # noqa: E402
from catalog.clock import Clock  # noqa: E402
from catalog.service import Catalog  # noqa: E402
from catalog.store import Store  # noqa: E402
from schedules import loader  # noqa: E402

GLOBAL_RATE = 30
STAFF = 1


def _busiest_second(times: list[float]) -> int:
    best = lo = 0
    for hi, t in enumerate(times):
        while t - times[lo] >= 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


class ServerThread:
    """The fake Bot API server on its own thread and event loop, as Telegram is another
    machine: its work must not slow down (or speed up) the sender being measured."""

    def __init__(self) -> None:
        self.tg = FakeTelegram(limits=True, global_rate=GLOBAL_RATE)
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.tg.start())
        self._started.set()
        self.loop.run_forever()

    def __enter__(self) -> FakeTelegram:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the fake Bot API server did not start")
        return self.tg

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.tg.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


async def run(chats: int, timeout: float) -> int:
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp, ServerThread() as tg:
        store = Store.open(Path(tmp) / "bench.db")
        loader.ensure_loaded(store, clock.now())
        catalog = Catalog(store, 2024)
        session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
        bot = Bot(TOKEN, session=session)
        try:
            status = await bot.send_message(STAFF, "broadcast starting")
            await asyncio.sleep(1.1)  # let the staff chat's 1/s window pass
            outbox = Outbox(bot, catalog, clock)
            messages = [(10_000 + i, f"お知らせ {i}") for i in range(chats)]
            start = time.perf_counter()
            summary = await asyncio.wait_for(
                outbox.broadcast(
                    messages,
                    progress=Progress(
                        STAFF, status.message_id, lambda s: f"{s.done}/{s.total} sent {s.sent}"
                    ),
                ),
                timeout,
            )
            elapsed = time.perf_counter() - start
        finally:
            await session.close()
        calls = list(tg.calls)
    refused = sum(1 for c in calls if c.status == 429)
    sends = sorted(c.at for c in calls if c.method == "sendMessage" and c.ok)[1:]  # not status
    gaps = [b - a for a, b in zip(sends, sends[1:], strict=False)]
    busiest = _busiest_second(sends)
    edits = sum(1 for c in calls if c.method == "editMessageText" and c.ok)
    ideal = chats / GLOBAL_RATE
    ratio = elapsed / ideal
    print(
        f"broadcast to {chats} chats: {elapsed:.2f} s elapsed, ideal {ideal:.2f} s "
        f"({GLOBAL_RATE}/s); ratio {ratio:.3f}"
    )
    print(
        f"sent {summary.sent}, failed {summary.failed}, blocked {summary.blocked}; "
        f"429 received: {refused}; progress edits: {edits}"
    )
    if gaps:
        print(
            f"at the server: first to last message {sends[-1] - sends[0]:.2f} s, "
            f"gaps min {min(gaps) * 1000:.1f} ms / mean {sum(gaps) / len(gaps) * 1000:.1f} ms, "
            f"busiest one-second window {busiest} messages"
        )
    ok = ratio <= 1.10 and refused == 0 and summary.sent == chats
    print("target (within 10%, zero 429):", "met" if ok else "MISSED")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=600)
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="give up after this many seconds (keeps the run bounded)"
    )
    args = parser.parse_args()
    return asyncio.run(run(args.chats, args.timeout))


if __name__ == "__main__":
    raise SystemExit(main())
