"""Every `cyder-bot` subcommand is documented in README.md (sqlite-utils' test_docs idea)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from bot.cli import build_parser

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{prefix} {name}".strip()
                out.append(full)
                out.extend(_commands(sub, full))
    return out


COMMANDS = _commands(build_parser())


def test_there_are_commands_to_check():
    assert {"serve", "demo", "run", "sessions"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_command_is_in_readme(command):
    assert re.search(rf"`cyder-bot {re.escape(command)}(`| )", README), (
        f"README.md does not document `cyder-bot {command}`"
    )
