"""A restart mid-dialogue (issue 9 §3), end to end: `cyder-bot serve` processes polling the
fake Bot API server on 127.0.0.1, one after another on the same database file. A person
starts registering, the bot is redeployed (SIGTERM) and later crashes (SIGKILL), and the
dialogue goes on where they were: an old button still works, and "chiba@example.jp"
typed at the e-mail step is taken as the e-mail address, not searched as a place."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any

import pytest

from bot.demo.fake_telegram import Call, FakeTelegram, plain_text
from tests.test_e2e import NAME, ORG, USER, Player, Server, has_button

pytestmark = pytest.mark.e2e

EMAIL = "chiba@example.jp"


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait for `condition` (a bound so that a broken bot fails the test, not a timing)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def answer(tg: FakeTelegram, me: Player, text: str) -> Call:
    """Type `text`; the bot's reply, once Telegram has the update confirmed (so that the
    next process is not handed the same update again)."""
    update = tg.user_sends_text(USER, text)
    reply = await me.reply()
    await tg.wait_confirmed(update["update_id"])
    return reply


async def start(tg: FakeTelegram, tmp_path: Any, port: int) -> Server:
    mark = len(tg.calls)
    server = Server(tg, tmp_path, port)
    await server.start()
    await tg.wait_for("getUpdates", since=mark, timeout=30)
    return server


def assert_no_private_data_logged(server: Server) -> None:
    logs = server.stderr.decode(errors="replace")
    for private in (NAME, ORG, EMAIL):
        assert private not in logs, f"{private!r} leaked into the logs"


async def test_a_restart_mid_dialogue_goes_on_where_the_user_was(tg, tmp_path, unused_tcp_port):
    server = await start(tg, tmp_path, unused_tcp_port)
    me = Player(tg)
    await me.set_profile()
    card, session_id = await me.nearby_card()
    step = await me.press(card, "register")
    assert "full name" in plain_text(step.text)
    step = await answer(tg, me, NAME)
    assert "organisation" in plain_text(step.text)
    department = await answer(tg, me, ORG)
    assert "department" in plain_text(department.text) and has_button("Skip")(department)

    # a deploy: SIGTERM, and a new process on the same file
    assert await server.stop() == 0, server.stderr.decode(errors="replace")
    assert_no_private_data_logged(server)
    server = await start(tg, tmp_path, unused_tcp_port)

    # the department question's Skip button, sent by the old process, still works
    pressed = tg.press(USER, me.current(department), "Skip")
    query_id = pressed["callback_query"]["id"]
    ack = await tg.wait_for("answerCallbackQuery", lambda c: c.params.get("callback_query_id") == query_id)
    assert "expired" not in ack.params.get("text", "").lower()
    step = await me.reply()
    assert "e-mail" in plain_text(step.text)
    await tg.wait_confirmed(pressed["update_id"])

    # a crash: SIGKILL, nothing runs at exit; what was saved is all the next process has
    await until(
        lambda: server.rows(f"select state from fsm_state where user_id = {USER.id}") == [("RegForm:email",)]
    )
    assert await server.stop(signal.SIGKILL) == -signal.SIGKILL
    assert_no_private_data_logged(server)
    server = await start(tg, tmp_path, unused_tcp_port)

    step = await answer(tg, me, EMAIL)
    text = plain_text(step.text)
    assert "Did you mean" not in text and "千葉" not in text
    if has_button(me.t["continue"])(step):
        step = await me.press(step, "continue")
    assert has_button(me.t["confirm"])(step), step.text
    summary = plain_text(step.text)
    assert NAME in summary and ORG in summary and EMAIL in summary
    tg.press(USER, me.current(step), me.t["confirm"])
    doc = await tg.wait_for("sendDocument", lambda c: c.chat_id == USER.id, timeout=20)
    assert doc.files["document"][1].startswith(b"BEGIN:VCALENDAR")
    assert server.rows(
        "select session_id, name, organisation, department, email, status from registrations "
        f"where user_id = {USER.id}"
    ) == [(session_id, NAME, ORG, "", EMAIL, "registered")]
    await until(
        lambda: server.rows(f"select count(*) from fsm_state where user_id = {USER.id}") == [(0,)]
    )  # done: cleared

    assert await server.stop() == 0, server.stderr.decode(errors="replace")
    assert_no_private_data_logged(server)
