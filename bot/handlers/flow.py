"""What happens once the profile questions are answered.

Finding sessions, a session's card and registering need the user's profile first. The
handler that finds none asks for it with `profile.ask_profile(after=...)`, where `after`
names the step to go on with — "find", "s:<session id>" (the card) or "r:<session id>"
(registration) — and is kept in the FSM data. When the profile is saved, the profile
router hands `after` to the `AfterProfile` it receives from the Dispatcher (the
`after_profile` workflow data), which runs the step the feature module provides.
So the profile module imports neither sessions nor registration (they import it), and
`bot.handlers.after_profile()` is the one place that lists the steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery

from catalog.clock import Clock
from catalog.service import Catalog
from catalog.users import User


class Step(Protocol):
    """Go on after the profile: `argument` is what follows "<kind>:" in `after` ("" if
    nothing does); `record` is the user's saved record, profile complete."""

    async def __call__(
        self,
        callback: CallbackQuery,
        state: FSMContext,
        argument: str,
        /,
        *,
        catalog: Catalog,
        clock: Clock,
        record: User,
        lang: str,
    ) -> None: ...


@dataclass(frozen=True)
class AfterProfile:
    """The steps by kind ("find", "s", "r")."""

    steps: Mapping[str, Step]

    async def go_on(
        self,
        callback: CallbackQuery,
        state: FSMContext,
        after: str,
        *,
        catalog: Catalog,
        clock: Clock,
        record: User,
        lang: str,
    ) -> bool:
        """Run the step `after` names; False when it names none (nothing to go on with)."""
        kind, _sep, argument = after.partition(":")
        step = self.steps.get(kind)
        if step is None:
            return False
        await step(callback, state, argument, catalog=catalog, clock=clock, record=record, lang=lang)
        return True
