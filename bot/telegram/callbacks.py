"""Typed callback data. Telegram allows 64 bytes; every value here is short ASCII."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class MenuCB(CallbackData, prefix="m"):
    """Main-menu buttons: find, courses, profile, my, help, lang, sub, start."""

    action: str


class LangCB(CallbackData, prefix="l"):
    lang: str


class ProfileCB(CallbackData, prefix="p"):
    """step: o (org type; value=code), w (work: staff|disp|cont), r (region index),
    f (prefecture code, 0 = skip), e (edit, start again)."""

    step: str
    value: str = ""


class CourseCB(CallbackData, prefix="c"):
    code: str


class RegionCB(CallbackData, prefix="rg"):
    """Open a region's prefecture buttons (index into catalog.places.REGIONS)."""

    idx: int


class FindCB(CallbackData, prefix="f"):
    """A search and a page of its results.

    kind: a (everything), r (region index in key), p (prefecture code in key),
    q (near a prefecture: its sessions first, then the nearest), n (near "lat_lon").
    course: a course code or "" (any). every: 1 = all sessions, not only mine.
    year: 1 = the whole fiscal year, not only upcoming.
    sort: "" (the kind's own order), d (by date), k (nearest first).
    """

    kind: str
    key: str = ""
    course: str = ""
    every: int = 0
    year: int = 0
    page: int = 0
    sort: str = ""


class CityCB(CallbackData, prefix="ct"):
    """Search near a city offered as a suggestion: its prefecture code, its Japanese name
    (a few kanji or kana; the button is left out if the data would pass 64 bytes) and
    the course typed with it."""

    pref: int
    name: str
    course: str = ""


class SearchFeedCB(CallbackData, prefix="sf"):
    """Calendar links for a search: the same kind/key/course as its FindCB."""

    kind: str
    key: str = ""
    course: str = ""


class SessionCB(CallbackData, prefix="s"):
    """action: show | reg | ics | wl (join the waitlist)."""

    id: str
    action: str = "show"


class RegCB(CallbackData, prefix="r"):
    """Buttons inside the registration dialogue."""

    action: str


class MyCB(CallbackData, prefix="my"):
    """action: list | show | cancel | yes | ics."""

    action: str
    reg: int = 0


class ForgetCB(CallbackData, prefix="fg"):
    action: str


class SubCB(CallbackData, prefix="sb"):
    """action: new (issue a personal feed token) | off (revoke it)."""

    action: str


class MateCB(CallbackData, prefix="mt"):
    """A representative's colleagues (同行者), from /my. With reg = the representative's own
    registration: list | all (ask) | allyes (cancel every colleague) | own (cancel only
    their own seat) | ownall (their own seat and every colleague). With reg = a
    colleague's registration: show | cancel (ask) | yes | name | email (change it)."""

    action: str
    reg: int = 0


class DraftCB(CallbackData, prefix="rd"):
    """Remove colleague number `idx` from the application being typed; `key` names who
    it was (a short hash of name and e-mail), so a stale button removes nobody else."""

    action: str
    idx: int = 0
    key: str = ""


class StaffCB(CallbackData, prefix="st"):
    """A session suggested to staff when their place-and-date matched several: run `cmd`
    (roster | teams | remind) on session `id`, `fmt` for the roster's format."""

    cmd: str
    id: str
    fmt: str = ""
