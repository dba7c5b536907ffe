"""The public page to subscribe from: `GET /` and `/calendar/`, in Japanese and English.

Telegram's buttons open only http(s) and tg links, so a `webcal://` link needs a page a
browser can open. The page lists the sessions a filter (course, prefecture, region) selects
and offers that filter's feed to Google Calendar, Outlook and Apple devices, plus the URL to
copy. It carries no personal data and works without JavaScript."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.web.feeds import BadFilter, parse_filters
from bot.web.keys import CATALOG, CLOCK, SETTINGS
from catalog import calendar, places

TEMPLATES = Path(__file__).parent / "templates"
JINJA = web.AppKey("public_jinja", jinja2.Environment)
LANGS = ("ja", "en")

TEXT = {
    "ja": {
        "title": "CYDER 開催回をカレンダーに登録", "lead": "条件を選ぶと、その開催回だけのカレンダーを登録できます。日程が変わるとカレンダーも自動で更新されます。",
        "course": "コース", "prefecture": "都道府県", "region": "地域", "any": "すべて",
        "show": "表示する", "google": "Google カレンダーに追加", "outlook": "Outlook",
        "apple": "Apple / iPhone (webcal)", "copy_url": "カレンダーアプリに貼り付ける URL",
        "sessions": "該当する開催回", "none": "該当する開催回はありません（カレンダーは空のまま登録できます）。",
        "dates": "日程", "place": "場所", "seats": "空席", "other": "English",
        "cancelled": "中止", "closed": "締切", "note": "開始時刻・会場の住所・定員は発表されたものだけを載せています（未発表のものは載せていません）。",
        "outlook_desktop": "Outlook デスクトップ版: 「予定表の追加」→「インターネットから」に上の URL を貼り付けてください。",
    },
    "en": {
        "title": "Subscribe to CYDER sessions", "lead": "Choose what you want to follow and subscribe: your calendar keeps itself up to date when the schedule changes.",
        "course": "Course", "prefecture": "Prefecture", "region": "Region", "any": "Any",
        "show": "Show", "google": "Add to Google Calendar", "outlook": "Outlook",
        "apple": "Apple / iPhone (webcal)", "copy_url": "URL to paste into a calendar app",
        "sessions": "Matching sessions", "none": "No session matches (you can still subscribe; the calendar stays empty).",
        "dates": "Dates", "place": "Place", "seats": "Seats", "other": "日本語",
        "cancelled": "cancelled", "closed": "closed", "note": "Start times, venue addresses and capacities are shown only where announced.",
        "outlook_desktop": "Outlook desktop: Add calendar → From Internet, and paste the URL above.",
    },
}


def _lang(request: web.Request) -> str:
    raw = request.query.get("lang", "ja").strip().lower() or "ja"
    if raw not in LANGS:
        raise web.HTTPBadRequest(text=f"unknown lang: {raw!r} (ja or en)\n"
                                      f"言語 {raw!r} は不明です（ja か en）\n")
    return raw


async def calendar_page(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    lang = _lang(request)
    try:
        filters = parse_filters(catalog, request)
    except BadFilter as e:
        return web.Response(status=400, text=str(e) + "\n", content_type="text/plain",
                            charset="utf-8")
    base = request.app[SETTINGS].public_base_url
    kwargs: dict[str, Any] = {"courses": filters.courses, "prefectures": filters.prefectures,
                              "regions": filters.regions}
    links = calendar.subscription_links(base, lang=lang, **kwargs)
    name = calendar.feed_name(catalog, lang, **kwargs)
    today = request.app[CLOCK].today()
    hits = catalog.find(include_cancelled=True, **kwargs)
    en = lang == "en"
    rows = [{
        "course": h.session.course, "dates": h.session.dates_text(lang),
        "place": (f"{calendar.city_en(h.session.prefecture_code, h.session.city)}, "
                  f"{places.prefecture(h.session.prefecture_code).romaji}") if en
                 else f"{h.session.prefecture} {h.session.city}",
        "mark": h.session.seat_mark, "cancelled": h.session.cancelled,
        "closed": not h.session.is_open(today),
    } for h in hits]
    other = [(k, v) for k, v in request.query.items() if k != "lang"]
    other.append(("lang", "ja" if en else "en"))
    context = {
        "t": TEXT[lang], "lang": lang, "rows": rows, "links": links, "name": name,
        "outlook": calendar.outlook_link(links.https, name),
        "courses": [(c.code, c.name_en if en else c.name_ja) for c in catalog.courses()],
        "prefectures": [(p.code, p.romaji if en else p.name) for p in places.PREFECTURES],
        "regions": [(r.name, r.name_en if en else r.name) for r in places.REGIONS],
        "chosen": {"course": set(filters.courses), "prefecture": set(filters.prefectures),
                   "region": set(filters.regions)},
        "other_lang_query": urlencode(other),
    }
    response = aiohttp_jinja2.render_template("calendar_page.html", request, context,
                                              app_key=JINJA)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def setup(app: web.Application) -> None:
    aiohttp_jinja2.setup(app, app_key=JINJA, loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                         autoescape=True, default_helpers=False)
    app.router.add_get("/", calendar_page)
    app.router.add_get("/calendar/", calendar_page)
