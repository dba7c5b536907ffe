"""Benchmark: the full calendar feed against a precomputed bytes response, same app, same run.

The real aiohttp app of `cyder-bot serve` (with a FY2024 catalog on a temporary
SQLite file) runs in a child process on a loopback port; this process is the load
generator: an aiohttp client with N concurrent connections, each request bounded by
count and time. It measures requests per second for

  precomputed  GET /bench/precomputed.ics  a bytes body of the feed's size, built once
  feed         GET /calendar/sessions.ics  the full feed (100 sessions + 2 windows)
  304          GET /calendar/sessions.ics  with If-None-Match: the feed's ETag

and prints the rates and the ratios against the precomputed one.
Targets: feed >= 0.5, 304 >= 0.9.

    .venv/bin/python benchmarks/bench_feeds.py [--connections 32] [--seconds 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FEED = "/calendar/sessions.ics"
PRECOMPUTED = "/bench/precomputed.ics"


# -- server (child process) -------------------------------------------------------------------


async def serve(db: Path) -> None:
    from aiohttp import web

    from bot.config import Settings
    from bot.telegram.i18n import say
    from bot.web import feeds
    from bot.web.app import create_web_app
    from bot.web.keys import CATALOG
    from catalog.clock import JST, Clock
    from catalog.service import Catalog
    from catalog.store import Store
    from schedules import loader

    today = dt.date(2024, 6, 1)
    store = Store.open(db)
    loader.ensure_loaded(store, dt.datetime(2024, 6, 1, 10, tzinfo=JST))
    catalog = Catalog(store, 2024, say=say)
    app = create_web_app(Settings(db_path=db, today=today), catalog, Clock(today))
    full = await feeds.render_public(catalog, feeds.Filters(), "ja")
    body = bytes(full.body)  # the same size (the same bytes, in fact), built once

    async def precomputed(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": "text/calendar; charset=utf-8"})

    app.router.add_get(PRECOMPUTED, precomputed)
    assert app[CATALOG] is catalog
    runner = web.AppRunner(app, access_log=None, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    print(port, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


# -- load generator ---------------------------------------------------------------------------


async def hammer(
    base: str,
    path: str,
    *,
    connections: int,
    seconds: float,
    max_requests: int,
    headers: dict[str, str] | None = None,
    expect: int = 200,
) -> tuple[float, int]:
    """Requests per second over `connections` concurrent keep-alive connections."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    done = 0
    size = 0
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as http:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done, size
            while time.perf_counter() < deadline and done < max_requests:
                async with http.get(base + path, headers=headers) as r:
                    data = await r.read()
                    if r.status != expect:
                        raise RuntimeError(f"{path}: HTTP {r.status}, expected {expect}")
                    if "Content-Encoding" in r.headers:
                        raise RuntimeError(f"{path}: compressed response")
                done += 1
                size = len(data)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    return done / elapsed, size


async def bench(base: str, args: argparse.Namespace) -> dict[str, float]:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(base + FEED) as r:
        etag = r.headers["ETag"]
        feed_size = len(await r.read())
    common = {"connections": args.connections, "seconds": args.seconds, "max_requests": args.max_requests}
    # Warm up every path (connections, caches) before measuring.
    await hammer(base, PRECOMPUTED, **dict(common, seconds=0.5))
    await hammer(base, FEED, **dict(common, seconds=0.5))
    rates: dict[str, list[float]] = {"precomputed": [], "feed": [], "304": []}
    for _ in range(args.rounds):  # interleaved, so drift hits every path alike
        rate, size = await hammer(base, PRECOMPUTED, **common)
        assert size == feed_size, (size, feed_size)
        rates["precomputed"].append(rate)
        rate, size = await hammer(base, FEED, **common)
        assert size == feed_size
        rates["feed"].append(rate)
        rate, _ = await hammer(base, FEED, headers={"If-None-Match": etag}, expect=304, **common)
        rates["304"].append(rate)
    print(
        f"feed body: {feed_size:,} bytes; {args.connections} connections, "
        f"{args.rounds} rounds of {args.seconds:g}s"
    )
    medians = {k: statistics.median(v) for k, v in rates.items()}
    for name, values in rates.items():
        shown = ", ".join(f"{v:,.0f}" for v in values)
        print(f"{name:>12}: {medians[name]:10,.0f} req/s (median; rounds: {shown})")
    base_rate = medians["precomputed"]
    print(f"feed / precomputed = {medians['feed'] / base_rate:.2f}  (target >= 0.5)")
    print(f" 304 / precomputed = {medians['304'] / base_rate:.2f}  (target >= 0.9)")
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(args.serve))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(Path(tmp) / "b.db")],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert child.stdout is not None
            line = child.stdout.readline().strip()
            if not line.isdigit():
                print("server did not start", file=sys.stderr)
                return 1
            asyncio.run(bench(f"http://127.0.0.1:{line}", args))
        finally:
            child.terminate()
            child.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
