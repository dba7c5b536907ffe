"""What every command-line module shares: the usage error, the parser, settings, output."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from bot.config import Settings, SettingsError
from bot.runtime import open_catalog
from catalog import writer
from catalog.service import Catalog
from catalog.textwidth import table


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


class Subcommands(Protocol):
    """What a module's `add_commands` uses of `ArgumentParser.add_subparsers()`."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


def load_settings() -> Settings:
    """Settings from the environment; a bad value is a usage error (one line, exit 2)."""
    try:
        return Settings.from_env()
    except SettingsError as e:
        raise UsageError(str(e)) from e


def date_arg(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


SQLITE_MAX_INT = 2**63 - 1  # an id or count past this cannot be stored, nor looked up


def positive_int(text: str) -> int:
    """A count such as --limit: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    if value > SQLITE_MAX_INT:
        raise argparse.ArgumentTypeError(f"{text!r} is too large")
    return value


def emit(rows: list[dict[str, Any]], fmt: str, columns: Sequence[str], out: Any = None) -> None:
    """Rows as a table, CSV or JSON on stdout (or `out`)."""
    out = out or sys.stdout
    if fmt == "json":
        out.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        out.write(buf.getvalue())
    else:
        out.write(table(columns, [[r.get(c, "") for c in columns] for r in rows]) + "\n")


def with_catalog(fn: Callable[[argparse.Namespace, Catalog], int]) -> Callable[..., int]:
    """A command that needs the catalog: opened from the environment's settings when it runs."""

    def run(args: argparse.Namespace) -> int:
        return fn(args, open_catalog(load_settings()))

    run.__name__ = fn.__name__
    return run


def lock_note(seconds: float) -> str:
    """One line for staff after a long write: how long the bot's writers had to wait."""
    return (
        f"(one transaction: the database's write lock was held {seconds:.2f} s; chat "
        "users saving meanwhile are told the database is busy, and after "
        f"{writer.BUDGET:.0f} s asked to try again)"
    )
