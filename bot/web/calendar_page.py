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

from bot.telegram.i18n import N_, tr
from bot.web.feeds import BadFilter, parse_filters
from bot.web.keys import CATALOG, CLOCK, SETTINGS
from catalog import calendar, places

TEMPLATES = Path(__file__).parent / "templates"
JINJA = web.AppKey("public_jinja", jinja2.Environment)
LANGS = ("ja", "en")

# the page's wording: English message ids, translated by the .po files (tr)
TEXT = {
    "title": N_("Subscribe to CYDER sessions"),
    "lead": N_(
        "Choose what you want to follow and subscribe: your calendar keeps itself up to date when the schedule changes."
    ),
    "course": N_("Course"),
    "prefecture": N_("Prefecture"),
    "region": N_("Region"),
    "any": N_("Any"),
    "show": N_("Show"),
    "google": N_("Add to Google Calendar"),
    "outlook": N_("Outlook"),
    "apple": N_("Apple / iPhone (webcal)"),
    "copy_url": N_("URL to paste into a calendar app"),
    "sessions": N_("Matching sessions"),
    "none": N_("No session matches (you can still subscribe; the calendar stays empty)."),
    "dates": N_("Dates"),
    "place": N_("Place"),
    "seats": N_("Seats"),
    "cancelled": N_("cancelled (session)"),
    "closed": N_("closed"),
    "note": N_("Start times, venue addresses and capacities are shown only where announced."),
    "outlook_desktop": N_("Outlook desktop: Add calendar → From Internet, and paste the URL above."),
}
OTHER_LANG = {"ja": "English", "en": "日本語"}


def _lang(request: web.Request) -> str:
    raw = request.query.get("lang", "ja").strip().lower() or "ja"
    if raw not in LANGS:
        raise web.HTTPBadRequest(
            text=f"unknown lang: {raw!r} (ja or en)\n言語 {raw!r} は不明です（ja か en）\n"
        )
    return raw


async def calendar_page(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    lang = _lang(request)
    try:
        filters = parse_filters(catalog, request)
    except BadFilter as e:
        return web.Response(status=400, text=str(e) + "\n", content_type="text/plain", charset="utf-8")
    base = request.app[SETTINGS].public_base_url
    kwargs: dict[str, Any] = {
        "courses": filters.courses,
        "prefectures": filters.prefectures,
        "regions": filters.regions,
    }
    links = calendar.subscription_links(base, lang=lang, **kwargs)
    name = calendar.feed_name(catalog, lang, **kwargs)
    today = request.app[CLOCK].today()
    hits = catalog.find(include_cancelled=True, **kwargs)
    en = lang == "en"
    rows = [
        {
            "course": h.session.course,
            "dates": h.session.dates_text(lang),
            "place": (
                f"{calendar.city_en(h.session.prefecture_code, h.session.city)}, "
                f"{places.prefecture(h.session.prefecture_code).romaji}"
            )
            if en
            else f"{h.session.prefecture} {h.session.city}",
            "mark": h.session.seat_mark,
            "cancelled": h.session.cancelled,
            "closed": not h.session.is_open(today),
        }
        for h in hits
    ]
    other = [(k, v) for k, v in request.query.items() if k != "lang"]
    other.append(("lang", "ja" if en else "en"))
    context = {
        "t": {**{k: tr(v, lang) for k, v in TEXT.items()}, "other": OTHER_LANG[lang]},
        "lang": lang,
        "rows": rows,
        "links": links,
        "name": name,
        "outlook": calendar.outlook_link(links.https, name),
        "courses": [(c.code, c.name_en if en else c.name_ja) for c in catalog.courses()],
        "prefectures": [(p.code, p.romaji if en else p.name) for p in places.PREFECTURES],
        "regions": [(r.name, r.name_en if en else r.name) for r in places.REGIONS],
        "chosen": {
            "course": set(filters.courses),
            "prefecture": set(filters.prefectures),
            "region": set(filters.regions),
        },
        "other_lang_query": urlencode(other),
    }
    response = aiohttp_jinja2.render_template("calendar_page.html", request, context, app_key=JINJA)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def setup(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        app_key=JINJA,
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        default_helpers=False,
    )
    app.router.add_get("/", calendar_page)
    app.router.add_get("/calendar/", calendar_page)
