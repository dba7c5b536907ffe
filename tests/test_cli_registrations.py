"""The staff console on the command line: registrations, cancel-, move-, promote- and
edit-registration; bad input exits 2 with one line; what the person is told in chat is
queued in the notification outbox (no BOT_TOKEN needed) and sent by the bot's sender."""

from __future__ import annotations

import csv
import io
import json

import pytest
from icalendar import Calendar

from bot.cli import main
from bot.config import Settings
from bot.demo.fake_telegram import FakeTelegram
from bot.telegram.notify import Notifier
from catalog import audit
from catalog import calendar as ics
from catalog import notifications as nt
from catalog.clock import Clock
from catalog.registrations import Applicant, get_registration, register
from catalog.users import save_user
from tests.util_catalog import NOW, make_catalog

A = "2024-A-34-1025"
TOKYO = "2024-A-13-0709"
B2 = "2024-B-2-13-0115"


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("CYDER_DB", str(tmp_path / "cli.db"))
    monkeypatch.setenv("CYDER_TODAY", "2024-06-01")
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.delenv("TELEGRAM_API_BASE", raising=False)


@pytest.fixture
def catalog(tmp_path):
    return make_catalog(tmp_path / "cli.db")


def run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse usage errors
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def add(catalog, session, name, org, *, email="", user_id=None, waitlist=False, kind="local"):
    return register(
        catalog,
        session,
        [Applicant(name, org, kind, email=email)],
        today=NOW.date(),
        now=NOW,
        user_id=user_id,
        waitlist=waitlist,
    ).registrations[0]


def one_line_error(code, err):
    return code == 2 and err.count("\n") == 1 and err.startswith("cyder-bot")


def test_registrations_lists_and_searches_with_ids(capsys, catalog):
    a = add(catalog, A, "山田 太郎", "広島市", email="taro@city.hiroshima.lg.jp")
    b = add(catalog, TOKYO, "山田 花子", "横浜市")
    c = add(catalog, A, '=HYPERLINK("x")', "呉市")
    code, out, err = run(capsys, "registrations")
    assert code == 0 and "3 registration(s)" in err
    assert out.splitlines()[0].split()[:4] == ["id", "session", "status", "name"]
    code, out, _ = run(capsys, "registrations", "--search", "山田", "--format", "json")
    rows = json.loads(out)
    assert [(r["id"], r["session"]) for r in rows] == [(b.id, TOKYO), (a.id, A)]  # by date
    assert rows[1]["email"] == "taro@city.hiroshima.lg.jp" and rows[1]["status"] == "registered"
    code, out, _ = run(capsys, "registrations", A, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [int(r["id"]) for r in rows] == [a.id, c.id]
    assert rows[1]["name"].startswith("'=")  # a formula stays text in Excel
    code, out, _ = run(capsys, "registrations", A, "--search", "広島市", "--format", "json")
    assert [r["id"] for r in json.loads(out)] == [a.id]


def test_bad_input_exits_2_with_one_line(capsys, catalog):
    reg = add(catalog, A, "山田 太郎", "広島市")
    cases = [
        ("registrations", "2024-X-00"),  # unknown session
        ("registrations", "--format", "xml"),
        ("cancel-registration", str(reg.id)),  # --reason is required
        ("cancel-registration", str(reg.id), "--reason", "  "),
        ("cancel-registration", "abc", "--reason", "x"),
        ("cancel-registration", "0", "--reason", "x"),
        ("cancel-registration", "999", "--reason", "x"),
        ("move-registration", str(reg.id), "nope"),
        ("move-registration", str(reg.id), B2),  # not for local governments
        ("move-registration", str(reg.id), A),  # already there
        ("promote-registration", str(reg.id)),  # not waitlisted
        ("edit-registration", str(reg.id)),  # nothing to change
        ("edit-registration", str(reg.id), "--email", "not-mail"),
        ("edit-registration", str(reg.id), "--name", ""),
    ]
    for argv in cases:
        code, out, err = run(capsys, *argv)
        assert one_line_error(code, err), (argv, code, err)
        assert out == ""
    assert get_registration(catalog, reg.id).status == "registered"
    assert audit.recent(catalog.store) == []


def test_cancel_with_reason_promotes_the_waitlist_and_is_logged(capsys, catalog):
    catalog.store.db.execute("update sessions set capacity = 1 where id = ?", [A])
    catalog.store.db.conn.commit()
    reg = add(catalog, A, "山田 太郎", "広島市")
    waiting = add(catalog, A, "佐藤 花子", "呉市", waitlist=True)
    code, out, err = run(capsys, "cancel-registration", str(reg.id), "--reason", "本人の申し出")
    assert code == 0
    assert out == (
        f"cancelled: #{reg.id} 山田 太郎 (広島市) in {A}; promoted from the "
        f"waitlist: #{waiting.id} 佐藤 花子 (呉市)\n"
    )
    assert err == ""  # nobody registered through chat: nobody to tell
    assert get_registration(catalog, waiting.id).status == "registered"
    entry = audit.for_registration(catalog.store, reg.id)[0]
    assert (entry.action, entry.who, entry.via, entry.details["reason"]) == (
        "cancelled",
        "cli",
        "cli",
        "本人の申し出",
    )
    code, _, err = run(capsys, "cancel-registration", str(reg.id), "--reason", "again")
    assert one_line_error(code, err) and "already cancelled" in err


def test_move_promote_and_edit(capsys, catalog):
    catalog.store.db.execute("update sessions set capacity = 1 where id = ?", [TOKYO])
    catalog.store.db.conn.commit()
    reg = add(catalog, A, "山田 太郎", "広島市")
    add(catalog, TOKYO, "先客", "横浜市")
    code, _, err = run(capsys, "move-registration", str(reg.id), TOKYO)
    assert one_line_error(code, err) and "waitlist" in err
    code, out, _ = run(capsys, "move-registration", str(reg.id), TOKYO, "--waitlist")
    assert code == 0 and out == (f"moved: #{reg.id} 山田 太郎 (広島市) from {A} to {TOKYO} (waitlisted #1)\n")
    code, _, err = run(capsys, "promote-registration", str(reg.id))
    assert one_line_error(code, err) and "No free seat" in err
    catalog.store.db.execute("update sessions set capacity = 2 where id = ?", [TOKYO])
    catalog.store.db.conn.commit()
    code, out, _ = run(capsys, "promote-registration", str(reg.id))
    assert code == 0 and out == f"promoted: #{reg.id} 山田 太郎 (広島市) in {TOKYO} (was waitlisted #1)\n"

    code, out, _ = run(
        capsys,
        "edit-registration",
        str(reg.id),
        "--name",
        "山田 太朗",
        "--email",
        "taro@city.hiroshima.lg.jp",
        "--department",
        "情報政策課",
    )
    assert code == 0 and out.startswith(f"edited: #{reg.id} name: '山田 太郎' -> '山田 太朗'")
    assert "department: '' -> '情報政策課'" in out
    code, out, _ = run(capsys, "edit-registration", str(reg.id), "--org", "広島市")
    assert code == 0 and out.startswith("unchanged:")
    code, out, _ = run(capsys, "registrations", "--search", "太朗", "--format", "json")
    (row,) = json.loads(out)
    assert (row["session"], row["status"], row["department"]) == (TOKYO, "registered", "情報政策課")
    assert [e.action for e in audit.for_registration(catalog.store, reg.id)] == [
        "edited",
        "promoted",
        "moved",
    ]


def test_register_import_and_teams_from_the_cli_are_logged(capsys, catalog, tmp_path):
    assert run(capsys, "register", A, "--name", "甲", "--org", "広島市", "--org-type", "local")[0] == 0
    path = tmp_path / "in.csv"
    path.write_text(
        "session,name,organisation,org_type,department,email,prefecture,contractor,"
        f"dispatched,team_key\n{A},乙,呉市,local,,,,,,\n",
        encoding="utf-8",
    )
    assert run(capsys, "import-registrations", str(path))[0] == 0
    assert run(capsys, "teams", A)[0] == 0
    log = list(reversed(audit.for_session(catalog.store, A)))
    assert [(e.action, e.who) for e in log] == [
        ("registered", "cli"),
        ("imported", "cli"),
        ("teams_formed", "cli"),
    ]


def test_without_bot_token_the_message_is_queued_for_the_running_bot(capsys, catalog):
    reg = add(catalog, A, "山田 太郎", "広島市", user_id=501)
    code, _, err = run(capsys, "cancel-registration", str(reg.id), "--reason", "重複申込")
    assert code == 0 and err == "queued for 1 chat(s): the running bot sends them\n"
    [row] = catalog.store.query(
        "select kind, chat_id, result, claimed_by, payload from notifications where channel = 'telegram'"
    )
    assert (row["kind"], row["chat_id"], row["result"], row["claimed_by"]) == (
        nt.STAFF_CANCELLED,
        501,
        nt.PENDING,
        None,
    )
    assert json.loads(row["payload"]) == {"reason": "重複申込", "was": "registered"}


def sender(catalog, tmp_path):
    return Notifier(
        catalog,
        Settings(db_path=tmp_path / "cli.db", organizer_email="office@cyder.example.org"),
        Clock(pinned=NOW.date()),
    )


async def test_the_person_is_told_in_chat_with_the_calendar_files_by_the_bot_later(capsys, catalog, tmp_path):
    """No BOT_TOKEN in the CLI: it saves; the bot's sender (here a Notifier in the test)
    tells each person in chat, with the files, once."""
    save_user(catalog.store, 502, NOW, lang="en")
    moved = add(catalog, A, "Taro Yamada", "広島市", email="taro@example.lg.jp", user_id=501)
    cancelled = add(catalog, TOKYO, "Jane Doe", "横浜市", user_id=502)
    code, out, err = run(capsys, "move-registration", str(moved.id), TOKYO)
    assert code == 0 and err == "queued for 1 chat(s): the running bot sends them\n"
    code, _, err = run(capsys, "cancel-registration", str(cancelled.id), "--reason", "Duplicate entry")
    assert code == 0 and err == "queued for 1 chat(s): the running bot sends them\n"
    async with FakeTelegram() as tg, tg.connected_bot() as bot:
        notifier = sender(catalog, tmp_path)
        counts = await notifier.deliver_due(bot)
        assert counts["sent"] == 2
        text, old, new = tg.sent_to(501)
        assert "CYDER事務局" in text.text and "東京" in text.text and "広島" in text.text
        files = []
        for call in (old, new):
            _name, data = call.files["document"]
            cal = Calendar.from_ical(data)
            event = cal.walk("VEVENT")[0]
            files.append((str(cal["method"]), str(event["uid"]), int(event["sequence"])))
        # the old copy cancelled and the new one invited, each one above the last sent (0)
        assert files == [
            ("CANCEL", ics.registration_uid(A, moved.id), 1),
            ("REQUEST", ics.registration_uid(TOKYO, moved.id), 1),
        ]

        text, cancel = tg.sent_to(502)
        assert "The CYDER office has cancelled your registration" in text.text
        assert "Reason: Duplicate entry" in text.text
        _name, data = cancel.files["document"]
        assert b"STATUS:CANCELLED" in data  # PUBLISH: Jane gave no e-mail to invite
        # nothing is told twice, by this sender or the next
        assert (await notifier.deliver_due(bot)).get("sent", 0) == 0
        assert await sender(catalog, tmp_path).deliver_due(bot) == {}
        assert len(tg.sent_to(501)) == 3 and len(tg.sent_to(502)) == 2
