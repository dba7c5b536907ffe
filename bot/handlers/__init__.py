"""One Router per feature; `get_routers()` is the order the Dispatcher tries them.

Each feature module defines a module-level `router` with its handlers. A Router
can belong to one Dispatcher only, so `get_routers()` hands out a fresh copy of
each (tests and the demo build several Dispatchers in one process).
To add a feature, add its module to ROUTER_MODULES before "bot.handlers.sessions"
(which answers any plain text as a place search) and "bot.handlers.fallback".
"""

from __future__ import annotations

import importlib

from aiogram import Router

ROUTER_MODULES = [
    "bot.handlers.start",
    "bot.handlers.profile",
    "bot.handlers.courses",
    "bot.handlers.registration",
    "bot.handlers.my",
    "bot.handlers.forget",
    "bot.handlers.admin",
    "bot.handlers.sessions",
    # only inline queries and errors: after the busy routers, which every message and
    # button would otherwise pass through first (no other router takes these two kinds)
    "bot.handlers.inline",
    "bot.handlers.errors",
    "bot.handlers.fallback",
]


def fresh(template: Router) -> Router:
    """A new, unattached Router with the same handlers and filters as `template`."""
    router = Router(name=template.name)
    for name, observer in template.observers.items():
        target = router.observers[name]
        target.handlers.extend(observer.handlers)
        target._handler.filters = list(observer._handler.filters or [])  # router.message.filter()
    return router


def get_routers() -> list[Router]:
    """Fresh routers for one Dispatcher, in the order they are tried."""
    return [fresh(importlib.import_module(name).router) for name in ROUTER_MODULES]
