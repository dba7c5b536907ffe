"""`cyder-bot serve`, `cyder-bot demo` and `cyder-bot run` (what plain `cyder-bot` starts)."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import sys

from bot.cli.common import Subcommands, UsageError, load_settings
from bot.config import Settings

DEMO_TODAY = dt.date(2024, 6, 1)


def _logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # aiohttp's access log would carry query strings (calendar tokens): keep it off.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def demo_settings(settings: Settings) -> Settings:
    """The demo's settings: the clock pinned to 2024-06-01 unless CYDER_TODAY is set."""
    return dataclasses.replace(settings, today=settings.today or DEMO_TODAY)


# The bot's modules (aiogram and its thousand types) are imported by the commands that run
# the bot, not by the module: `db load` or `sessions` should not wait seconds for them.


async def cmd_serve(args: argparse.Namespace) -> int:
    from bot.serve import ServeError, serve

    settings = load_settings()
    _logging(args.verbose)
    if not settings.bot_token:
        logging.getLogger("cyder.runner").warning("BOT_TOKEN is not set: serving HTTP only (no bot)")
    try:
        await serve(settings)
    except ServeError as e:
        raise UsageError(str(e)) from e
    return 0


async def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo.terminal import run_demo

    env_settings = load_settings()
    if args.verbose:
        _logging(True)
    else:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return await run_demo(
        demo_settings(env_settings),
        lang=args.lang,
        clock_pinned_by_env=env_settings.today is not None,
        staff=getattr(args, "staff", False),
    )


async def cmd_run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.bot_token:
        return await cmd_serve(args)
    return await cmd_demo(args)


def add_commands(sub: Subcommands) -> None:
    p = sub.add_parser(
        "serve",
        help="run the bot (BOT_TOKEN; polling or WEBHOOK_URL) and the HTTP server on HTTP_HOST:HTTP_PORT",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="chat with the bot in this terminal (no Telegram needed)")
    p.add_argument("--lang", choices=["ja", "en"], default="ja", help="the demo user's Telegram language")
    p.add_argument(
        "--staff",
        action="store_true",
        help="make the demo user registration staff (ADMIN_IDS) to try /roster...",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="show the bot's logs")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("run", help="serve when BOT_TOKEN is set, else the terminal demo")
    p.add_argument("--lang", choices=["ja", "en"], default="ja")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=cmd_run)
