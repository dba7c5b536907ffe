"""One Router per feature; `get_routers()` is the order the Dispatcher tries them.

Each feature module declares a module-level `router` with its handlers, and may declare
`ROUTER_FILTERS` (observer name -> filters) that every update must pass before any of
the router's handlers is tried: what the router can take at all, so that updates for
other features skip its handlers (tests/test_routing.py checks that each such filter
lets in whatever a handler of its router takes). Never `router.message.filter(...)`
itself: a Router can belong to one Dispatcher only, so `get_routers()` builds new Routers
holding the same handlers for each Dispatcher (tests and the demo build several in one
process), and sets `ROUTER_FILTERS` on them. To add a feature, add its module to
ROUTER_MODULES before `sessions` (which answers any plain text as a place search) if it
takes plain text or a command a dialogue should see first, else after it; `fallback` last.

`after_profile()` says how each dialogue that asked for the profile goes on once it is
saved (`bot.handlers.flow`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
from bot.handlers.flow import AfterProfile

ROUTER_MODULES = [
    start,
    profile,
    courses,
    registration,
    colleagues,  # before my: a command typed mid-change leaves the change
    # The searches, cards and place texts are most of what people send, so they come
    # before the command-only routers (my, forget, admin: no command or button of
    # theirs is one of sessions'); after registration and colleagues, whose handlers
    # take a command typed mid-dialogue first, and not before start, profile and courses,
    # whose commands a dialogue lets through (bench_dispatcher: 3 router visits fewer
    # for each search, card and "find" press).
    sessions,
    my,
    forget,
    admin,
    # only inline queries and errors: after the busy routers, which every message and
    # button would otherwise pass through first (no other router takes these two kinds)
    inline,
    errors,
    fallback,
]


def fresh(template: Router, filters: Mapping[str, Sequence[Any]] | None = None) -> Router:
    """A new, unattached Router with the handlers of `template` (registered objects that
    never change, so two Dispatchers may share them) and the router-level `filters`."""
    router = Router(name=template.name)
    for name, observer in template.observers.items():
        router.observers[name].handlers.extend(observer.handlers)
    for name, given in (filters or {}).items():
        router.observers[name].filter(*given)
    return router


def get_routers() -> list[Router]:
    """Fresh routers for one Dispatcher, in the order they are tried."""
    return [fresh(module.router, getattr(module, "ROUTER_FILTERS", None)) for module in ROUTER_MODULES]


def after_profile() -> AfterProfile:
    """The steps that follow the profile questions, by the kind `ask_profile` was given."""
    return AfterProfile(
        {
            "find": sessions.find_after_profile,
            "s": sessions.card_after_profile,
            "r": registration.begin_after_profile,
        }
    )
