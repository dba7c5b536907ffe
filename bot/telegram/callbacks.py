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
    """

    kind: str
    key: str = ""
    course: str = ""
    every: int = 0
    year: int = 0
    page: int = 0


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
