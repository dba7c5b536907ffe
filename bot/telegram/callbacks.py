"""Typed callback data. Telegram allows 64 bytes; every value here is short ASCII."""

from __future__ import annotations

from typing import Any, Self

from aiogram.filters.callback_data import CallbackData
from pydantic import ConfigDict

_UNPACKED: dict[tuple[type, str], Any] = {}
_PACKED: dict[tuple[Any, ...], str] = {}
_CACHE_SIZE = 8192


class Data(CallbackData, prefix="-"):
    """CallbackData that is immutable, so each distinct string is parsed once and each
    distinct value packed once. aiogram's filter parses the data again for every handler
    it tries (a router with seven button handlers may parse one press five times), and a
    results page packs a score of buttons; both show in the dispatcher benchmark.
    Invalid data is never cached: it raises as before, every time."""

    model_config = ConfigDict(frozen=True)

    @classmethod
    def unpack(cls, value: str) -> Self:
        key = (cls, value)
        hit = _UNPACKED.get(key)
        if hit is None:
            hit = super().unpack(value)
            if len(_UNPACKED) >= _CACHE_SIZE:
                _UNPACKED.clear()
            _UNPACKED[key] = hit
        return hit  # type: ignore[no-any-return]

    def pack(self) -> str:
        key = (type(self), *self.__dict__.values())
        packed = _PACKED.get(key)
        if packed is None:
            packed = super().pack()
            if len(_PACKED) >= _CACHE_SIZE:
                _PACKED.clear()
            _PACKED[key] = packed
        return packed


class MenuCB(Data, prefix="m"):
    """Main-menu buttons: find, courses, profile, my, help, lang, sub, start."""

    action: str


class LangCB(Data, prefix="l"):
    lang: str


class ProfileCB(Data, prefix="p"):
    """step: o (org type; value=code), w (work: staff|disp|cont), r (region index),
    f (prefecture code, 0 = skip), e (edit, start again)."""

    step: str
    value: str = ""


class CourseCB(Data, prefix="c"):
    code: str


class RegionCB(Data, prefix="rg"):
    """Open a region's prefecture buttons (index into catalog.places.REGIONS)."""

    idx: int


class FindCB(Data, prefix="f"):
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


class CityCB(Data, prefix="ct"):
    """Search near a city offered as a suggestion: its prefecture code, its Japanese name
    (a few kanji or kana; the button is left out if the data would pass 64 bytes) and
    the course typed with it."""

    pref: int
    name: str
    course: str = ""


class SearchFeedCB(Data, prefix="sf"):
    """Calendar links for a search: the same kind/key/course as its FindCB."""

    kind: str
    key: str = ""
    course: str = ""


class SessionCB(Data, prefix="s"):
    """action: show | reg | ics | wl (join the waitlist)."""

    id: str
    action: str = "show"


class RegCB(Data, prefix="r"):
    """Buttons inside the registration dialogue."""

    action: str


class MyCB(Data, prefix="my"):
    """action: list | show | cancel | yes | ics."""

    action: str
    reg: int = 0


class ForgetCB(Data, prefix="fg"):
    action: str


class SubCB(Data, prefix="sb"):
    """action: new (issue a personal feed token) | off (revoke it)."""

    action: str


class MateCB(Data, prefix="mt"):
    """A representative's colleagues (同行者), from /my. With reg = the representative's own
    registration: list | all (ask) | allyes (cancel every colleague) | own (cancel only
    their own seat) | ownall (their own seat and every colleague). With reg = a
    colleague's registration: show | cancel (ask) | yes | name | email (change it)."""

    action: str
    reg: int = 0


class DraftCB(Data, prefix="rd"):
    """Remove colleague number `idx` from the application being typed; `key` names who
    it was (a short hash of name and e-mail), so a stale button removes nobody else."""

    action: str
    idx: int = 0
    key: str = ""


class StaffCB(Data, prefix="st"):
    """A session suggested to staff when their place-and-date matched several: run `cmd`
    (roster | teams | remind) on session `id`, `fmt` for the roster's format."""

    cmd: str
    id: str
    fmt: str = ""
