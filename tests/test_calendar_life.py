"""The life of one registration (waitlist → promoted → session moved → cancelled), seen in every
artefact: the chat's calendar file (through the real Dispatcher), the mail (through a real
SMTP server) and the personal feed (through the real HTTP app). One UID throughout; SEQUENCE
the same in all three at each step and strictly rising from step to step."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import tempfile
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from icalendar import Calendar

from bot.mail import Mailer, MailKind, Office, build_mail
from bot.telegram.callbacks import MyCB, SessionCB
from bot.web.app import create_web_app
from catalog import calendar as cal
from catalog import registrations as regs
from catalog.clock import Clock
from catalog.registrations import Applicant
from catalog.users import issue_calendar_token
from schedules import loader
from tests.conftest import fill
from tests.util_catalog import NOW, SCHEDULE, edited_schedule, make_catalog

HIROSHIMA_A = "2024-A-34-1025"
LINE = '{ course = "A", region = "中国", prefecture = "広島県", city = "広島", first = 2024-10-25 }'
USER = 1001
OFFICE = Office("noreply@cyder.example.org", "office@cyder.example.org")


def event_of(data: bytes) -> tuple[str | None, dict[str, object]]:
    c = Calendar.from_ical(data)
    [e] = [e for e in c.events if str(e["UID"]).startswith("registration-")]
    return (str(c["METHOD"]) if "METHOD" in c else None), {
        "uid": str(e["UID"]),
        "sequence": int(e["SEQUENCE"]),
        "status": str(e["STATUS"]),
        "start": e.decoded("DTSTART"),
    }


def schedule_with(tmp_path: Path, name: str, replacement: str) -> Path:
    text = SCHEDULE.read_text(encoding="utf-8")
    assert LINE in text
    path = tmp_path / name
    path.write_text(text.replace(LINE, replacement, 1), encoding="utf-8")
    return path


async def test_one_uid_and_rising_sequence_through_a_registrations_life(
    catalog, settings, user, smtp_server, tmp_path
):
    settings = dataclasses.replace(
        settings,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_starttls=False,
        mail_per_minute=6000,
        smtp_timeout=5,
    )
    mailer = Mailer.from_settings(settings)
    assert mailer is not None
    office = Office.from_settings(settings)
    fill(catalog, HIROSHIMA_A, catalog.session(HIROSHIMA_A).capacity)
    me = Applicant(
        name="山田 太郎", organisation="広島市役所", org_type="local", email="taro@city.example.lg.jp"
    )
    reg = regs.register(
        catalog, HIROSHIMA_A, [me], today=NOW.date(), now=NOW, user_id=USER, waitlist=True
    ).registrations[0]
    token = issue_calendar_token(catalog.store, USER, NOW)
    app = create_web_app(settings, catalog, Clock(NOW.date()))
    steps: list[dict[str, tuple[str | None, dict[str, object]]]] = []

    async def look(kind: MailKind, chat: bytes, client: TestClient) -> None:
        mail = await asyncio.to_thread(build_mail, catalog, reg.id, kind, office=office, now=NOW, lang="ja")
        async with asyncio.timeout(20):
            await mailer.send(mail.message)
        got = smtp_server.inbox.messages[-1].message()
        ics = next(p for p in got.walk() if p.get_content_type() == "text/calendar")
        r = await client.get(f"/calendar/me/{token}.ics")
        assert r.status == 200
        steps.append(
            {
                "chat": event_of(chat),
                "mail": event_of(ics.get_content().encode()),
                "feed": event_of(await r.read()),
            }
        )

    async def chat_file(data: str) -> bytes:
        await user.press(data)
        [doc] = user.sent("SendDocument")
        return bytes(doc.document.data)

    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        # 1. On the waitlist: the copy is TENTATIVE.
        await look(MailKind.CONFIRMATION, await chat_file(MyCB(action="ics", reg=reg.id).pack()), client)
        # 2. A seat frees up: promoted.
        seat = regs.for_session(catalog, HIROSHIMA_A)[0]
        promoted = regs.cancel(catalog, seat.id, today=NOW.date(), now=NOW + dt.timedelta(hours=1))
        assert [r.id for r in promoted.promoted] == [reg.id]
        await look(
            MailKind.PROMOTION, await chat_file(SessionCB(id=HIROSHIMA_A, action="ics").pack()), client
        )
        # 3. The session moves to another day (it keeps its id).
        moved = schedule_with(
            tmp_path,
            "moved.toml",
            LINE.replace("first = 2024-10-25 }", f'first = 2024-10-28, id = "{HIROSHIMA_A}" }}'),
        )
        assert loader.load(catalog.store, moved, NOW + dt.timedelta(days=1)).updated == [HIROSHIMA_A]
        await look(MailKind.UPDATE, await chat_file(MyCB(action="ics", reg=reg.id).pack()), client)
        # 4. The person cancels in chat: the chat sends the CANCEL.
        await look(MailKind.CANCEL, await chat_file(MyCB(action="yes", reg=reg.id).pack()), client)

    uid = cal.registration_uid(HIROSHIMA_A, reg.id)
    expected = [
        ("REQUEST", "TENTATIVE", dt.date(2024, 10, 25)),
        ("REQUEST", "CONFIRMED", dt.date(2024, 10, 25)),
        ("REQUEST", "CONFIRMED", dt.date(2024, 10, 28)),
        ("CANCEL", "CANCELLED", dt.date(2024, 10, 28)),
    ]
    sequences = []
    for step, (method, status, start) in zip(steps, expected, strict=True):
        assert {k: v[0] for k, v in step.items()} == {"chat": method, "mail": method, "feed": None}
        events = [v[1] for v in step.values()]
        assert all(e == events[0] for e in events), step  # chat, mail and feed agree
        assert (events[0]["uid"], events[0]["status"], events[0]["start"]) == (uid, status, start)
        sequences.append(events[0]["sequence"])
    assert sequences == sorted(set(sequences)) and len(sequences) == 4, sequences


def test_the_cancel_of_a_cancelled_session_agrees_with_the_personal_feed(tmp_path):
    """The issue's example: CANCEL carried SEQUENCE 2 while the feed had 1 for the same UID."""
    catalog = make_catalog(tmp_path / "c.db")
    me = Applicant(name="山田", organisation="広島市", org_type="local", email="y@example.lg.jp")
    reg = regs.register(catalog, HIROSHIMA_A, [me], today=NOW.date(), now=NOW, user_id=USER).registrations[0]
    dropped = edited_schedule(tmp_path, f"  {LINE},\n", "", "dropped.toml")
    dropped.write_text(dropped.read_text(encoding="utf-8").replace("A = 64", "A = 63"), encoding="utf-8")
    loader.load(catalog.store, dropped, NOW + dt.timedelta(days=1))
    reg = regs.get_registration(catalog, reg.id)
    method, cancel = event_of(cal.cancel_file(catalog, reg, organizer=OFFICE.organizer).data)
    _, feed = event_of(cal.personal_feed(catalog, USER, now=NOW + dt.timedelta(days=1)))
    assert method == "CANCEL" and cancel == feed and feed["sequence"] == 1
    assert feed["status"] == "CANCELLED"


# -- the same rules as a property: any run of schedule edits ------------------------------------

EDITS = st.lists(st.sampled_from(["capacity", "venue", "move", "times", "same"]), min_size=1, max_size=5)


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EDITS)
def test_sequence_rises_exactly_when_a_calendar_would_show_the_change(edits):
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        catalog = make_catalog(tmp / "c.db")
        me = Applicant(name="山田", organisation="広島市", org_type="local", email="y@example.lg.jp")
        reg = regs.register(
            catalog, HIROSHIMA_A, [me], today=NOW.date(), now=NOW, user_id=USER
        ).registrations[0]
        state = {"capacity": 30, "venue": 0, "day": 25, "times": False}
        last = 0
        for i, edit in enumerate(edits, 1):
            visible = edit in ("venue", "move", "times")
            if edit == "capacity":
                state["capacity"] += 1
            elif edit == "venue":
                state["venue"] += 1
            elif edit == "move":
                state["day"] = 28 if state["day"] == 25 else 25
            elif edit == "times":
                state["times"] = not state["times"]
            extra = f', capacity = {state["capacity"]}, id = "{HIROSHIMA_A}"'
            if state["venue"]:
                extra += f', venue = "会場{state["venue"]}"'
            if state["times"]:
                extra += ', start = "10:00", end = "17:00"'
            line = LINE.replace("first = 2024-10-25 }", f"first = 2024-10-{state['day']}{extra} }}")
            loader.load(catalog.store, schedule_with(tmp, f"s{i}.toml", line), NOW + dt.timedelta(days=i))
            reg = regs.get_registration(catalog, reg.id)
            _, mine = event_of(cal.invite_file(catalog, reg, organizer=OFFICE.organizer).data)
            _, feed = event_of(cal.personal_feed(catalog, USER, now=NOW + dt.timedelta(days=i)))
            assert mine == feed
            seq = int(str(mine["sequence"]))
            # (The first load also writes the capacity out: seats only, no SEQUENCE.)
            assert seq == (last + 1 if visible else last), (edits, i)
            last = seq
