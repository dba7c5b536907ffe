"""The `cyder-bot` command line: one module per group of commands.

Each module adds its subcommands with `add_commands(subparsers)`. Bad input exits with
status 2 and one clear line.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from bot.cli import browse, registrations, run, schedule, staff
from bot.cli.common import Parser, UsageError
from catalog import places
from catalog.errors import CatalogError, ScheduleError

__all__ = ["UsageError", "build_parser", "main"]


def build_parser() -> Parser:
    parser = Parser(prog="cyder-bot", description="CYDER exercises: catalog, chat bot, calendars.")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")
    for module in (browse, run, staff, registrations, schedule):
        module.add_commands(sub)
    parser.set_defaults(default_command="run")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        default = getattr(args, "default_command", None)
        if default is None:
            parser.print_help()
            return 0
        args = parser.parse_args([default])
    try:
        result = args.func(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except (UsageError, ScheduleError, places.UnknownPlace) as e:
        print(f"cyder-bot: error: {e}", file=sys.stderr)
        return 2
    except CatalogError as e:
        print(f"cyder-bot: error: {e.en}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
