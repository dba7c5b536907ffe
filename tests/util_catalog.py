"""Helpers for tests that need a real catalog on a temporary SQLite file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bot.telegram.i18n import say
from catalog.clock import JST
from catalog.service import Catalog
from catalog.store import Store
from schedules import loader

NOW = dt.datetime(2024, 6, 1, 10, 0, tzinfo=JST)
SCHEDULE = loader.default_path(2024)


def make_catalog(path: Path, now: dt.datetime = NOW) -> Catalog:
    store = Store.open(path)
    loader.ensure_loaded(store, now)
    return Catalog(store, 2024, say=say)


def edited_schedule(tmp_path: Path, old: str, new: str, name: str = "fy2024.toml") -> Path:
    """A copy of the shipped schedule with one exact text replacement."""
    text = SCHEDULE.read_text(encoding="utf-8")
    assert old in text, old
    target = tmp_path / name
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target
