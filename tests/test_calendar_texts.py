"""The calendar's wording, byte for byte, as it read before it moved to the .po files:
whole public feeds (the door's `render_public`, all and filtered), a personal feed, the
"Add to calendar" files (with and without an audience), a person's copies (registered,
waitlisted, cancelled, its session cancelled), the chat's "your session changed" text,
the fee texts and the fee overview, in Japanese and English.

The expected outputs are files in tests/golden/calendar_texts, written from the code as
it was (commit 5a7baab) with `CYDER_WRITE_GOLDEN=1`; a change of wording is a change of
those files, made on purpose."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
from pathlib import Path

import pytest

from bot.telegram.i18n import say
from bot.telegram.notify import change_message
from bot.web import feeds
from catalog import calendar as cal
from catalog import registrations as regs
from catalog.eligibility import Profile
from catalog.registrations import Applicant
from schedules import loader
from tests.util_catalog import NOW, edited_schedule, make_catalog

GOLDEN = Path(__file__).parent / "golden" / "calendar_texts"
WRITE = os.environ.get("CYDER_WRITE_GOLDEN") == "1"
LANGS = ("ja", "en")
HIROSHIMA_A = "2024-A-34-1025"
TOKYO_C = "2024-C-13-1128"
ORGANIZER = "office@example.org"
LATER = NOW + dt.timedelta(days=1)
PROFILES = {
    "local": Profile("local"),
    "private": Profile("private"),
    "national_dispatched": Profile("national", dispatched=True),
    "local_contractor": Profile("local", contractor=True),
    "school_student": Profile("school", student=True),
    "infra": Profile("infra"),
}


def check(name: str, data: bytes | str) -> None:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    path = GOLDEN / name
    if WRITE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
    assert raw == path.read_bytes(), name


@pytest.fixture
def world(tmp_path):
    """A catalog whose Tokyo C session has times and a venue, with registrations of
    each kind in Tokyo C and Hiroshima A, and then Hiroshima A cancelled."""
    catalog = make_catalog(tmp_path / "c.db")
    edited = edited_schedule(
        tmp_path,
        "first = 2024-11-28, last = 2024-11-29 }",
        'first = 2024-11-28, last = 2024-11-29, start = "09:30", end = "17:00", '
        'venue = "NICT 東京", address = "東京都千代田区1-1" }',
    )
    loader.load(catalog.store, edited, NOW)

    def person(i: int, email: str = "") -> Applicant:
        return Applicant(
            name=f"利用者{i}",
            organisation="広島市",
            org_type="local",
            email=email or f"user{i}@city.example.lg.jp",
        )

    made = {}
    for key, session, user in (("tokyo", TOKYO_C, 7), ("hiroshima", HIROSHIMA_A, 7), ("gone", TOKYO_C, 8)):
        made[key] = regs.register(
            catalog, session, [person(user)], today=NOW.date(), now=NOW, user_id=user
        ).registrations[0]
    regs.cancel(catalog, made["gone"].id, today=NOW.date(), now=NOW, user_id=8)
    text = edited.read_text(encoding="utf-8")
    text = text.replace(
        '  { course = "A", region = "中国", prefecture = "広島県", city = "広島", first = 2024-10-25 },\n', ""
    )
    edited.write_text(text.replace("A = 64", "A = 63"), encoding="utf-8")
    loader.load(catalog.store, edited, LATER)
    return catalog, {k: regs.get_registration(catalog, r.id) for k, r in made.items()}


@pytest.mark.parametrize("lang", LANGS)
def test_public_feeds_read_as_before(world, lang):
    catalog, _ = world
    for name, filters in (
        ("all", feeds.Filters()),
        ("a_hiroshima", feeds.Filters(courses=("A",), prefectures=(34,))),
        ("pre", feeds.Filters(courses=("PRE",))),
        ("kanto", feeds.Filters(regions=("関東",))),
    ):
        rendered = asyncio.run(feeds.render_public(catalog, filters, lang))
        check(f"feed_{name}_{lang}.ics", bytes(rendered.body))


@pytest.mark.parametrize("lang", LANGS)
def test_personal_feed_reads_as_before(world, lang):
    catalog, _ = world
    check(f"personal_7_{lang}.ics", cal.personal_feed(catalog, 7, lang=lang, now=LATER))
    check(f"personal_8_{lang}.ics", cal.personal_feed(catalog, 8, lang=lang, now=LATER))


@pytest.mark.parametrize("lang", LANGS)
def test_event_files_read_as_before(world, lang):
    catalog, _ = world
    firsts = {}
    for s in catalog.all_sessions(include_cancelled=True):
        firsts.setdefault(s.course, s)
    texts = []
    for session in [catalog.session(TOKYO_C), catalog.session(HIROSHIMA_A), *firsts.values()]:
        sid = session.id
        check(f"event_{sid}_{lang}.ics", cal.event_file(catalog, session, lang=lang).data)
        check(
            f"event_{sid}_office_{lang}.ics",
            cal.event_file(catalog, session, lang=lang, organizer=ORGANIZER).data,
        )
        texts += [
            f"{sid} {key}:\n" + cal.description(catalog, session, lang, profile)
            for key, profile in PROFILES.items()
        ]
    check(f"descriptions_{lang}.txt", "\n\n".join(texts) + "\n")


@pytest.mark.parametrize("lang", LANGS)
def test_registration_files_read_as_before(world, lang):
    catalog, made = world
    tokyo = made["tokyo"]
    copies = {
        "registered": tokyo,
        "waitlisted": dataclasses.replace(tokyo, status="waitlisted", position=2),
        "no_email": dataclasses.replace(tokyo, email=""),
        "cancelled": made["gone"],
        "session_cancelled": made["hiroshima"],
    }
    for key, reg in copies.items():
        f = cal.registration_file(catalog, reg, lang=lang, organizer=ORGANIZER)
        check(f"copy_{key}_{lang}.ics", f.data)
        check(f"copy_{key}_{lang}.name", f.filename)
    check(
        f"calendar_file_{lang}.ics",
        cal.calendar_file(catalog, catalog.session(TOKYO_C), user_id=7, lang=lang, organizer=ORGANIZER).data,
    )
    check(
        f"calendar_file_other_{lang}.ics",
        cal.calendar_file(
            catalog,
            catalog.session(TOKYO_C),
            user_id=99,
            lang=lang,
            organizer=ORGANIZER,
            profile=PROFILES["private"],
        ).data,
    )


@pytest.mark.parametrize("lang", LANGS)
def test_change_messages_read_as_before(world, lang):
    catalog, made = world
    lines = []
    for key in ("tokyo", "hiroshima"):
        reg = made[key]
        for cancelled in (False, True):
            notice = cal.ChangeNotice(reg.id, reg.session_id, 7, 1, cancelled)
            lines.append(change_message(catalog, notice, lang))
    check(f"change_messages_{lang}.txt", "\n".join(lines) + "\n")


def overview(catalog, lang: str) -> list[str]:
    return [say(line, lang) for line in catalog.rules.fee_overview()]


def fee_lines(catalog, lang: str) -> list[str]:
    lines = []
    for key, profile in PROFILES.items():
        for v in catalog.rules.decide_all(profile):
            lines.append(f"{key} {v.course}: {say(v.fee_said, lang)}")
    return lines


@pytest.mark.parametrize("lang", LANGS)
def test_fee_texts_read_as_before(world, lang):
    catalog, _ = world
    lines = fee_lines(catalog, lang) + ["--"] + overview(catalog, lang)
    check(f"fees_{lang}.txt", "\n".join(lines) + "\n")


def test_a_course_without_a_price_reads_as_before(tmp_path):
    """The fee rules and texts of a year whose prices are not announced."""
    catalog = make_catalog(tmp_path / "c.db")
    edited = edited_schedule(tmp_path, "A = 77000\n", "")
    loader.load(catalog.store, edited, NOW)
    out = []
    for lang in LANGS:
        out += fee_lines(catalog, lang) + ["--"] + overview(catalog, lang) + ["--"]
        data = cal.event_file(catalog, catalog.session(HIROSHIMA_A), lang=lang).data
        out += [line for line in data.decode("utf-8").split("\r\n") if line.startswith(("DESCRIPTION", " "))]
    check("no_price.txt", "\n".join(out) + "\n")
