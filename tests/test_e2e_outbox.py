"""Acknowledged means delivered, end to end (issue 9 §5): `cyder-bot serve` is killed -9
after a registration's commit while Telegram holds its confirmation open (so nothing
reached the person); the next start sends the confirmation and the invite, once."""

from __future__ import annotations

import signal

import pytest

from bot.demo.fake_telegram import FakeTelegram, plain_text
from tests.test_e2e import DEPT, EMAIL, NAME, ORG, USER, Player, Server, has_button

CONFIRMATIONS = ("editMessageText", "sendMessage", "sendDocument")


@pytest.fixture
async def tg():
    async with FakeTelegram() as fake:
        yield fake


async def test_a_kill_between_commit_and_send_loses_nothing_and_tells_once(tg, tmp_path, unused_tcp_port):
    server = Server(tg, tmp_path, unused_tcp_port)
    await server.start()
    await tg.wait_for("getUpdates", since=0, timeout=30)
    me = Player(tg)
    await me.set_profile()
    card, session_id = await me.nearby_card()
    step = await me.press(card, "register")
    for answer in (NAME, ORG, DEPT, EMAIL):
        step = await me.say(answer)
    if has_button(me.t["continue"])(step):
        step = await me.press(step, "continue")
    assert has_button(me.t["confirm"])(step), step.text

    tg.hold(CONFIRMATIONS, chat_id=USER.id)  # Telegram keeps the confirmation open...
    tg.press(USER, me.current(step), me.t["confirm"])
    held = await tg.wait_held(timeout=20)
    assert "Registered!" in plain_text(held.text)
    # ...the registration is committed, its confirmation queued and claimed, unsent
    assert server.rows(f"select session_id, status from registrations where user_id = {USER.id}") == [
        (session_id, "registered")
    ]
    assert server.rows("select kind, result, claimed_by is not null from notifications") == [
        ("registered", "pending", 1)
    ]
    assert await server.stop(signal.SIGKILL) == -signal.SIGKILL
    tg.release(deliver=False)  # the bot died waiting: the person never saw it
    assert not [c for c in tg.sent_to(USER.id) if "Registered!" in c.text]

    restarted = len(tg.calls)
    await server.start()
    doc = await tg.wait_for("sendDocument", lambda c: c.chat_id == USER.id, timeout=30, since=restarted)
    assert doc.files["document"][1].startswith(b"BEGIN:VCALENDAR")
    assert session_id.encode() in doc.files["document"][1]
    assert await server.stop() == 0, server.stderr.decode(errors="replace")

    told = [c for c in tg.calls if c.ok and c.chat_id == USER.id and c.method in CONFIRMATIONS]
    assert len([c for c in told if "Registered!" in c.text]) == 1
    assert len([c for c in told if c.method == "sendDocument"]) == 1
    # the edit replaced the summary (its Confirm button gone): the person sees it there
    summary = tg.message(USER.id, step.result["message_id"])
    assert summary is not None and "Registered!" in plain_text(summary["text"])
    # and the row is done: a third start has nothing left to send
    assert server.rows("select result, attempts from notifications") == [("sent", 1)]
    assert server.rows(f"select count(*) from registrations where user_id = {USER.id}") == [(1,)]
    logs = server.stderr.decode(errors="replace")
    assert "taking over 1 notification(s)" in logs
    for private in (NAME, ORG, EMAIL):
        assert private not in logs
