"""Application deadlines in Japanese business days (weekends and public holidays off)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import jpholiday


@lru_cache(maxsize=4096)
def is_business_day(day: dt.date) -> bool:
    """Monday to Friday and not a Japanese public holiday (jpholiday)."""
    return day.weekday() < 5 and not jpholiday.is_holiday(day)


@lru_cache(maxsize=4096)
def business_days_before(day: dt.date, n: int) -> dt.date:
    """The date `n` business days before `day` (the last day applications are taken)."""
    d = day
    left = n
    while left > 0:
        d -= dt.timedelta(days=1)
        if is_business_day(d):
            left -= 1
    return d
