"""Open the store and catalog the way every entry point (CLI, bot, web) needs them."""

from __future__ import annotations

from bot.config import Settings
from bot.telegram.i18n import say
from catalog.clock import Clock
from catalog.service import Catalog
from catalog.store import Store
from schedules.loader import ensure_loaded


def clock_for(settings: Settings) -> Clock:
    return Clock(settings.today)


def open_catalog(settings: Settings, clock: Clock | None = None) -> Catalog:
    """The catalog on `settings.db_path`, created with the shipped FY data on first use;
    it shows the fiscal year the clock's date falls in (and the next, once loaded)."""
    clock = clock or clock_for(settings)
    store = Store.open(settings.db_path)
    ensure_loaded(store, clock.now(), settings.fiscal_year)
    store.loop_writes = "warn"  # the bot writes through Catalog.write; log any path that does not
    return Catalog(store, settings.fiscal_year, today=clock.today, say=say)
