"""The clock, passed into the domain (never read inside rules).

FY2024 lies in the past, so the date can be pinned (CYDER_TODAY) for demos and tests.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")


@dataclass(frozen=True)
class Clock:
    """Today and now in Asia/Tokyo; `pinned` fixes the date and keeps the time of day running."""

    pinned: dt.date | None = None

    def now(self) -> dt.datetime:
        real = dt.datetime.now(JST)
        if self.pinned is None:
            return real
        return dt.datetime.combine(self.pinned, real.timetz())

    def today(self) -> dt.date:
        return self.now().date()
