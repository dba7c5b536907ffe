"""One Router per feature; `get_routers()` is the order the Dispatcher tries them.

Each feature module defines a module-level `router` with its handlers. A Router
can belong to one Dispatcher only, so `get_routers()` hands out a fresh copy of
each (tests and the demo build several Dispatchers in one process).
To add a feature, add its module to ROUTER_MODULES before `sessions` (which answers any
plain text as a place search) and `fallback`.
"""

from __future__ import annotations

from aiogram import Router

from bot.handlers import (
    admin,
    colleagues,
    courses,
    errors,
    fallback,
    forget,
    inline,
    my,
    profile,
    registration,
    sessions,
    start,
)

ROUTER_MODULES = [
    start,
    profile,
    courses,
    registration,
    colleagues,  # before my: a command typed mid-change leaves the change
    my,
    forget,
    admin,
    sessions,
    # only inline queries and errors: after the busy routers, which every message and
    # button would otherwise pass through first (no other router takes these two kinds)
    inline,
    errors,
    fallback,
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
    return [fresh(module.router) for module in ROUTER_MODULES]
