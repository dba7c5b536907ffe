"""Pictures for staff, drawn on the server as SVG text (no script, no CDN, no library):
seats filled per session by course and region, and registrations over time.

Each function returns one `<svg>` element to put inline in a page. Every piece of text
from the data is escaped (`_t`), so a name in the database can never become markup.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

from catalog import places
from catalog.sessions import Session

FONT = "'Noto Sans CJK JP', 'Hiragino Sans', system-ui, sans-serif"
BLUE = "#2f6db5"
PALE = "#dfe7f2"
FULL = "#c0392b"
WAIT = "#e69b23"
GRID = "#c9cfd8"
INK = "#1b1f24"
MUTED = "#69707a"


def _t(text: object) -> str:
    """Text for SVG content or an attribute value, escaped."""
    return html.escape(str(text), quote=True)


def _svg(width: float, height: float, label: str, body: list[str], chart_id: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{_t(chart_id)}" role="img" '
        f'aria-label="{_t(label)}" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{_t(FONT)}">'
        f"<title>{_t(label)}</title>" + "".join(body) + "</svg>"
    )


def _text(
    x: float,
    y: float,
    text: object,
    *,
    size: int = 12,
    anchor: str = "start",
    fill: str = INK,
    weight: str = "normal",
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="{fill}" font-weight="{weight}">{_t(text)}</text>'
    )


def _fill_colour(registered: int, capacity: int) -> str:
    return FULL if capacity and registered >= capacity else BLUE


def seats_by_course_and_region(sessions: Sequence[Session], courses: Sequence[str]) -> str:
    """A grid with a row per course and a column per region (north to south). Each cell
    holds one bar per session (its height the seats filled out of its capacity; red when
    full, an orange tick when people wait) and the cell's total "registered/capacity".
    Cancelled sessions are left out. Hovering a bar names the session."""
    live = [s for s in sessions if not s.cancelled]
    order = {c: i for i, c in enumerate(courses)}
    rows = sorted({s.course for s in live}, key=lambda c: (order.get(c, len(order)), c))
    regions = [r.name for r in places.REGIONS]
    regions += sorted({s.region for s in live} - set(regions))
    cells: dict[tuple[str, str], list[Session]] = {}
    for s in sorted(live, key=lambda s: (s.first_day, s.id)):
        cells.setdefault((s.course, s.region), []).append(s)
    bar, gap, pad = 6.0, 1.5, 6.0
    widths = {}
    for region in regions:
        most = max((len(cells.get((c, region), [])) for c in rows), default=0)
        widths[region] = max(58.0, 2 * pad + most * (bar + gap))
    left, top, row_h, bars_h = 56.0, 34.0, 62.0, 34.0
    width = left + sum(widths.values()) + 8
    height = top + row_h * max(1, len(rows)) + 26
    label = "開催回ごとの申込状況（コース×地域） / Seats filled per session, by course and region"
    body = [f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="#fff"/>']
    x = left
    for region in regions:
        name = places.region(region).name_en if region in {r.name for r in places.REGIONS} else region
        body.append(_text(x + widths[region] / 2, 14, region, size=12, anchor="middle", weight="bold"))
        body.append(_text(x + widths[region] / 2, 27, name, size=9, anchor="middle", fill=MUTED))
        x += widths[region]
    for i, course in enumerate(rows):
        y0 = top + i * row_h
        body.append(_text(8, y0 + row_h / 2 + 4, course, size=14, weight="bold"))
        x = left
        for region in regions:
            w = widths[region]
            body.append(
                f'<rect x="{x:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{row_h:.1f}" '
                f'fill="none" stroke="{GRID}"/>'
            )
            group = cells.get((course, region), [])
            if not group:
                body.append(_text(x + w / 2, y0 + row_h / 2 + 4, "–", anchor="middle", fill=MUTED))
            base = y0 + 6 + bars_h
            bx = x + pad
            for s in group:
                share = min(1.0, s.registered / s.capacity) if s.capacity else 0.0
                filled = bars_h * share
                tip = f"{s.id} {s.city} {s.first_day:%m/%d}: {s.registered}/{s.capacity}" + (
                    f"、キャンセル待ち {s.waitlisted}" if s.waitlisted else ""
                )
                body.append(
                    f'<g class="session-bar" data-bar="{_t(s.id)}"><title>{_t(tip)}</title>'
                    f'<rect x="{bx:.1f}" y="{base - bars_h:.1f}" width="{bar}" height="{bars_h}" '
                    f'fill="{PALE}"/>'
                    f'<rect x="{bx:.1f}" y="{base - filled:.1f}" width="{bar}" height="{filled:.1f}" '
                    f'fill="{_fill_colour(s.registered, s.capacity)}"/>'
                    + (
                        f'<rect x="{bx:.1f}" y="{base - bars_h - 3:.1f}" width="{bar}" height="2" '
                        f'fill="{WAIT}"/>'
                        if s.waitlisted
                        else ""
                    )
                    + "</g>"
                )
                bx += bar + gap
            if group:
                registered = sum(s.registered for s in group)
                capacity = sum(s.capacity for s in group)
                body.append(
                    _text(
                        x + w / 2,
                        y0 + row_h - 8,
                        f"{registered}/{capacity}",
                        size=10,
                        anchor="middle",
                        fill=MUTED,
                    )
                )
            x += w
    ly = height - 8
    body.append(f'<rect x="{left:.0f}" y="{ly - 9:.0f}" width="10" height="10" fill="{BLUE}"/>')
    body.append(_text(left + 14, ly, "申込済 / registered", size=10, fill=MUTED))
    body.append(f'<rect x="{left + 140:.0f}" y="{ly - 9:.0f}" width="10" height="10" fill="{FULL}"/>')
    body.append(_text(left + 154, ly, "満席 / full", size=10, fill=MUTED))
    body.append(f'<rect x="{left + 230:.0f}" y="{ly - 6:.0f}" width="10" height="3" fill="{WAIT}"/>')
    body.append(_text(left + 244, ly, "キャンセル待ちあり / waitlist", size=10, fill=MUTED))
    body.append(_text(left + 420, ly, "数字: 申込/定員 · numbers: registered/capacity", size=10, fill=MUTED))
    return _svg(width, height, label, body, "chart-seats")


def _nice_step(rough: float) -> int:
    """A grid step of 1, 2 or 5 times a power of ten, at least `rough` (and at least 1)."""
    if rough <= 1:
        return 1
    power = 10 ** math.floor(math.log10(rough))
    for factor in (1, 2, 5, 10):
        if factor * power >= rough:
            return int(factor * power)
    return int(10 * power)


@dataclass(frozen=True)
class DayCount:
    """Registrations made and cancelled on one day (JST)."""

    day: dt.date
    made: int
    cancelled: int


def registrations_over_time(days: Sequence[DayCount], *, width: float = 760, height: float = 220) -> str:
    """Registrations standing at the end of each day (a line, from the first day anyone
    registered), with each day's new registrations as bars."""
    label = "申込数の推移 / Registrations over time"
    body = [f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="#fff"/>']
    days = sorted(days, key=lambda d: d.day)
    if not days:
        body.append(
            _text(
                width / 2,
                height / 2,
                "まだ申込はありません / No registrations yet",
                size=14,
                anchor="middle",
                fill=MUTED,
            )
        )
        return _svg(width, height, label, body, "chart-registrations")
    first, last = days[0].day, days[-1].day
    span = max(1, (last - first).days)
    standing, total = [], 0
    for d in days:
        total += d.made - d.cancelled
        standing.append((d.day, total, d.made))
    highest = max(1, max(v for _, v, _ in standing), max(m for _, _, m in standing))
    step = _nice_step(highest / 4)
    top_value = step * math.ceil(highest / step)
    left, right, top, bottom = 48.0, 16.0, 16.0, 34.0
    plot_w, plot_h = width - left - right, height - top - bottom
    margin = 0.5  # half a day each side, so the first and last day's bars show whole

    def px(day: dt.date) -> float:
        return left + plot_w * (((day - first).days + margin) / (span + 2 * margin))

    def py(value: float) -> float:
        return top + plot_h * (1 - value / top_value)

    for k in range(round(top_value / step) + 1):  # horizontal grid and its numbers
        value = step * k
        y = py(value)
        body.append(
            f'<line x1="{left:.0f}" y1="{y:.1f}" x2="{width - right:.0f}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="0.6"/>'
        )
        body.append(_text(left - 6, y + 4, f"{value:.0f}", size=10, anchor="end", fill=MUTED))
    bar = max(2.0, min(12.0, plot_w / (span + 2 * margin) * 0.6))
    for day, _value, made in standing:
        if made:
            body.append(
                f'<rect class="day-bar" x="{px(day) - bar / 2:.1f}" y="{py(made):.1f}" '
                f'width="{bar:.1f}" height="{py(0) - py(made):.1f}" fill="{PALE}">'
                f"<title>{_t(f'{day.isoformat()}: +{made}')}</title></rect>"
            )
    points = " ".join(f"{px(day):.1f},{py(value):.1f}" for day, value, _ in standing)
    body.append(f'<polyline points="{points}" fill="none" stroke="{BLUE}" stroke-width="2"/>')
    for day, value, _ in standing:
        body.append(
            f'<circle cx="{px(day):.1f}" cy="{py(value):.1f}" r="2.5" fill="{BLUE}">'
            f"<title>{_t(f'{day.isoformat()}: {value}')}</title></circle>"
        )
    body.append(_text(px(first), height - 20, first.isoformat(), size=10, anchor="middle", fill=MUTED))
    if last != first:
        body.append(_text(px(last), height - 20, last.isoformat(), size=10, anchor="middle", fill=MUTED))
    body.append(
        _text(
            width / 2,
            height - 4,
            "— 申込数（累計、取消を除く） / registrations standing   ▮ その日の申込 / new that day",
            size=10,
            anchor="middle",
            fill=MUTED,
        )
    )
    return _svg(width, height, label, body, "chart-registrations")
