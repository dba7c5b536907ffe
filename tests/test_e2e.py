"""End to end: `cyder-bot serve` as it runs in production — a real subprocess, polling (or
taking a webhook) over HTTP — against the fake Bot API server on 127.0.0.1, with a person
playing the whole flow by pressing the buttons the bot actually sent."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.demo.fake_telegram import Call, FakeTelegram, FakeUser, inline_buttons, plain_text

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
USER = FakeUser(id=7001, first_name="Sakura", language_code="en")
NAME, ORG, DEPT, EMAIL = (
    "Yamada Sakura",
    "Hiroshima Prefecture",
    "Digital Office",
    "sakura.yamada@pref.example.jp",
)
MESSAGES = ("sendMessage", "editMessageText")


class Server:
    """A `cyder-bot serve` subprocess."""

    def __init__(self, tg: FakeTelegram, tmp_path: Path, port: int, *args: str, **env: str) -> None:
        self.tg = tg
        self.args = args or ("serve",)
        self.db = tmp_path / "cyder.db"
        self.port = port
        self.env = {
            **os.environ,
            "BOT_TOKEN": tg.token,
            "TELEGRAM_API_BASE": tg.base_url,
            "CYDER_DB": str(self.db),
            "CYDER_TODAY": "2024-06-01",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(port),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        for name in ("WEBHOOK_URL", "WEBHOOK_SECRET"):
            if name not in env:
                self.env.pop(name, None)
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr = b""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *self.args,
            cwd=ROOT,
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._stderr_task = asyncio.create_task(self._read_stderr())
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                if self.proc.returncode is not None:
                    break
                try:
                    async with http.get(f"{self.url}/healthz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"serve did not come up: {self.stderr.decode(errors='replace')}")

    async def _read_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        while chunk := await self.proc.stderr.read(4096):
            self.stderr += chunk

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await self._stderr_task
        return self.proc.returncode  # type: ignore[return-value]

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        con = sqlite3.connect(self.db)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


@pytest.fixture
async def polling_server(tg, tmp_path, unused_tcp_port):
    server = Server(tg, tmp_path, unused_tcp_port)
    await server.start()
    await tg.wait_for("getUpdates", since=0, timeout=30)
    yield server
    assert await server.stop() == 0, server.stderr.decode(errors="replace")
    logs = server.stderr.decode(errors="replace")
    for private in (NAME, ORG, DEPT, EMAIL, "Sakura"):
        assert private not in logs, f"{private!r} leaked into the logs"


# ----- playing the user ----------------------------------------------------------------

# The button texts a person reads, per Telegram language (the bot answers in that language).
TEXTS = {
    "en": {
        "profile": "Profile",
        "change": "Change",
        "local": "Local government",
        "staff": "Staff of this organisation",
        "region": "Chugoku",
        "pref": "Hiroshima",
        "find": "Find sessions",
        "near": "Near me",
        "register": "Register",
        "continue": "Continue",
        "confirm": "Confirm registration",
        "cancel_reg": "Cancel this registration",
        "yes_cancel": "Yes, cancel it",
        "cancelled": "cancel",
        "place": "Hiroshima",
    },
    "ja": {
        "profile": "プロフィール",
        "change": "変更",
        "local": "地方公共団体",
        "staff": "その組織の職員",
        "region": "中国",
        "pref": "広島県",
        "find": "開催回を探す",
        "near": "現在地から探す",
        "register": "申し込む",
        "continue": "次へ",
        "confirm": "申込を確定する",
        "cancel_reg": "この申込を取り消す",
        "yes_cancel": "はい、取り消します",
        "cancelled": "取り消しました",
        "place": "広島",
    },
}


def has_button(text: str) -> Any:
    return lambda c: any(
        text in b.get("text", "") for b in inline_buttons({"reply_markup": c.params.get("reply_markup")})
    )


class Player:
    """A person in a private chat with the bot, pressing the buttons the bot sent."""

    def __init__(self, tg: FakeTelegram, user: FakeUser = USER) -> None:
        self.tg = tg
        self.user = user
        self.t = TEXTS[user.language_code]

    async def reply(self, predicate: Any = None, timeout: float = 15) -> Call:
        """The bot's next message (sent or edited) to this user since the last action."""

        def ok(c: Call) -> bool:
            return c.chat_id == self.user.id and (predicate is None or predicate(c))

        return await self.tg.wait_for(MESSAGES, ok, timeout)

    def current(self, call: Call) -> dict[str, Any]:
        message = call.result
        return self.tg.message(message["chat"]["id"], message["message_id"]) or message

    async def press(self, call: Call, key: str, expect: str | None = None) -> Call:
        update = self.tg.press(self.user, self.current(call), self.t[key])
        query_id = update["callback_query"]["id"]
        await self.tg.wait_for("answerCallbackQuery", lambda c: c.params.get("callback_query_id") == query_id)
        return await self.reply(has_button(self.t[expect]) if expect else None)

    async def say(self, text: str, expect: str | None = None) -> Call:
        self.tg.user_sends_text(self.user, text)
        return await self.reply(has_button(self.t[expect]) if expect else None)

    async def set_profile(self) -> Call:
        menu = await self.say("/start", expect="profile")
        step = await self.press(menu, "profile", expect="change")
        step = await self.press(step, "change", expect="local")
        step = await self.press(step, "local")
        if has_button(self.t["staff"])(step):
            step = await self.press(step, "staff")
        step = await self.press(step, "region", expect="pref")
        return await self.press(step, "pref")

    async def nearby_card(self) -> tuple[Call, str]:
        """Share a location in Hiroshima city and open the first (nearest) session's card."""
        menu = await self.say("/start", expect="find")
        step = await self.press(menu, "find", expect="near")
        await self.press(step, "near")
        self.tg.user_sends_location(self.user, 34.3963, 132.4596)
        found = await self.reply(
            lambda c: any(
                str(b.get("callback_data", "")).startswith("s:")
                for b in inline_buttons({"reply_markup": c.params.get("reply_markup")})
            )
        )
        assert "km" in plain_text(found.text)
        first = next(
            b
            for b in inline_buttons({"reply_markup": found.params["reply_markup"]})
            if str(b.get("callback_data", "")).startswith("s:")
        )
        session_id = first["callback_data"].split(":")[1]
        self.tg.user_presses(self.user, self.current(found), first["callback_data"])
        card = await self.reply(has_button(self.t["register"]))
        return card, session_id

    async def register(self, card: Call) -> Call:
        step = await self.press(card, "register")
        for answer in (NAME, ORG, DEPT, EMAIL):
            step = await self.say(answer)
        if has_button(self.t["continue"])(step):
            step = await self.press(step, "continue")
        assert has_button(self.t["confirm"])(step), step.text
        summary = plain_text(step.text)
        assert NAME in summary and EMAIL in summary
        self.tg.press(self.user, self.current(step), self.t["confirm"])
        return await self.tg.wait_for("sendDocument", lambda c: c.chat_id == self.user.id, timeout=20)

    async def cancel_via_my(self) -> Call:
        listing = await self.say("/my")
        regs = [
            b
            for b in inline_buttons({"reply_markup": listing.params.get("reply_markup")})
            if str(b.get("callback_data", "")).startswith("my:show")
        ]
        assert len(regs) == 1
        self.tg.user_presses(self.user, self.current(listing), regs[0]["callback_data"])
        shown = await self.reply(has_button(self.t["cancel_reg"]))
        ask = await self.press(shown, "cancel_reg", expect="yes_cancel")
        return await self.press(ask, "yes_cancel")


# ----- the tests -------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ja", "en"])
async def test_polling_full_flow(tg, polling_server, lang):
    server = polling_server
    user = FakeUser(id=7001, first_name="Sakura", language_code=lang)
    me = Player(tg, user)
    assert tg.calls_of("setMyCommands")
    await me.set_profile()
    assert server.rows(f"select org_type, prefecture_code from users where user_id = {user.id}") == [
        ("local", 34)
    ]

    card, session_id = await me.nearby_card()
    assert me.t["place"] in plain_text(card.text)

    doc = await me.register(card)
    name, data = doc.files["document"]
    assert name.endswith(".ics") and data.startswith(b"BEGIN:VCALENDAR")
    assert session_id.encode() in data or session_id in name
    assert server.rows(f"select session_id, status from registrations where user_id = {user.id}") == [
        (session_id, "registered")
    ]

    done = await me.cancel_via_my()
    assert me.t["cancelled"] in plain_text(done.text).lower()
    assert server.rows(f"select status from registrations where user_id = {user.id}") == [("cancelled",)]
    # every button press was answered (no spinning buttons)
    await tg.wait_for(
        "answerCallbackQuery", lambda c: c.params.get("callback_query_id") == tg.pressed[-1], since=0
    )
    answered = {c.params["callback_query_id"] for c in tg.calls_of("answerCallbackQuery")}
    assert len(tg.pressed) >= 10 and set(tg.pressed) <= answered


async def test_telegram_429_and_5xx_are_retried_and_the_registration_kept(tg, polling_server):
    me = Player(tg)
    await me.set_profile()
    card, session_id = await me.nearby_card()
    tg.fail_next(2, 429, retry_after=1, methods=["sendMessage", "editMessageText"])
    tg.fail_next(2, 502, methods=["sendDocument"])
    doc = await me.register(card)
    assert doc.files["document"][1].startswith(b"BEGIN:VCALENDAR")
    statuses = [c.status for c in tg.calls]
    assert 429 in statuses and 502 in statuses
    assert polling_server.rows(
        f"select count(*) from registrations where user_id = {USER.id} and status = 'registered'"
    ) == [(1,)]


async def test_healthz_of_the_running_server(polling_server):
    async with aiohttp.ClientSession() as http, http.get(f"{polling_server.url}/healthz") as resp:
        assert resp.status == 200
        assert (await resp.json())["sessions"] == 100


# ----- webhook mode ------------------------------------------------------------------


@pytest.fixture
async def webhook_server(tg, tmp_path, unused_tcp_port):
    url = f"http://127.0.0.1:{unused_tcp_port}/telegram/webhook"
    server = Server(tg, tmp_path, unused_tcp_port, WEBHOOK_URL=url, WEBHOOK_SECRET="e2e-Secret_value-123")
    await server.start()
    await tg.wait_for("setWebhook", since=0, timeout=30)
    yield server, url
    assert await server.stop() == 0, server.stderr.decode(errors="replace")


async def test_webhook_registers_the_url_with_the_secret(tg, webhook_server):
    _, url = webhook_server
    assert tg.webhook_url == url
    assert tg.webhook_secret == "e2e-Secret_value-123"
    assert not [c for c in tg.calls if c.method == "getUpdates"]


async def test_webhook_full_flow_with_the_right_secret(tg, webhook_server):
    server, _ = webhook_server
    me = Player(tg)
    await me.set_profile()
    card, session_id = await me.nearby_card()
    doc = await me.register(card)
    assert doc.files["document"][1].startswith(b"BEGIN:VCALENDAR")
    await me.cancel_via_my()
    assert server.rows(f"select status from registrations where user_id = {USER.id}") == [("cancelled",)]
    assert tg.webhook_deliveries and {s for _, s in tg.webhook_deliveries} == {200}


@pytest.mark.parametrize("secret", [None, "wrong-secret", "e2e-Secret_value-12"])
async def test_webhook_with_a_wrong_or_missing_secret_changes_nothing(tg, webhook_server, secret):
    server, url = webhook_server
    users_before = server.rows("select count(*) from users")
    forged = [
        {
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": USER.chat(),
                "from": USER.as_dict(),
                "text": "/start",
            }
        },
        {
            "callback_query": {
                "id": "1",
                "from": USER.as_dict(),
                "chat_instance": "x",
                "data": "p:o:local",
                "message": {"message_id": 2, "date": 0, "chat": USER.chat(), "text": "x"},
            }
        },
    ]
    for update in forged:
        assert await tg.post_update(update, url=url, secret=secret) in (401, 403)
    other = FakeUser(id=7003, first_name="Ken", language_code="en")
    tg.user_sends_text(other, "/help")  # a later update, delivered with the secret
    await tg.wait_for("sendMessage", lambda c: c.chat_id == other.id, timeout=20)
    assert not [
        c
        for c in tg.calls
        if c.method in ("sendMessage", "editMessageText", "answerCallbackQuery") and c.chat_id != other.id
    ]
    assert server.rows(f"select count(*) from users where user_id != {other.id}") == users_before


# ----- the process -------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_plain_cyder_bot_with_a_token_serves_and_stops_gracefully(tg, tmp_path, unused_tcp_port, sig):
    server = Server(tg, tmp_path, unused_tcp_port, "run")
    await server.start()
    await tg.wait_for("getUpdates", since=0, timeout=30)
    assert tg.calls_of("deleteWebhook")  # polling mode clears any old webhook first
    me = Player(tg)
    await me.say("/start", expect="profile")
    assert await server.stop(sig) == 0, server.stderr.decode(errors="replace")
    assert "shutting down" in server.stderr.decode()


async def test_a_taken_port_is_one_clear_error(tg, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = Server(tg, tmp_path, port)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "serve",
            cwd=ROOT,
            env=server.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in err.decode()
    assert "Traceback" not in err.decode()


# ----- robustness over HTTP ------------------------------------------------------------


async def test_forged_buttons_long_text_and_floods_over_http(tg, polling_server):
    server = polling_server
    me = Player(tg)
    menu = await me.say("/start", expect="find")
    users_before = server.rows("select count(*) from users")

    forged = tg.user_presses(USER, me.current(menu), "s:2024-Z-99-0101:reg")
    answer = await tg.wait_for(
        "answerCallbackQuery", lambda c: c.params.get("callback_query_id") == forged["callback_query"]["id"]
    )
    assert "expired" in answer.params.get("text", "").lower()
    assert server.rows("select count(*) from registrations") == [(0,)]

    long = await me.say("x" * 5000)
    assert "too long" in plain_text(long.text)

    # one user sends 60 messages at once: the bot answers some, says "slow down", survives
    mark = len(tg.calls)
    for i in range(60):
        last = tg.user_sends_text(USER, f"/help {i}")
    await tg.wait_confirmed(last["update_id"], timeout=20)  # all 60 fetched by the bot
    barrier = FakeUser(id=7004, first_name="Aki", language_code="en")
    tg.user_sends_text(barrier, "/help")  # a later update answered: the 60 were handled
    await tg.wait_for("sendMessage", lambda c: c.chat_id == barrier.id, timeout=20)
    replies = [c for c in tg.calls[mark:] if c.method == "sendMessage" and c.ok and c.chat_id == USER.id]
    assert 0 < len(replies) < 60
    assert any("slow down" in c.text.lower() for c in replies)
    assert server.rows("select count(*) from users") >= users_before
    other = FakeUser(id=7002, first_name="Ken", language_code="en")
    tg.user_sends_text(other, "/start")
    reply = await tg.wait_for("sendMessage", lambda c: c.chat_id == other.id)
    assert has_button("Find sessions")(reply)  # other users are unaffected


async def test_inline_mode_and_deep_links_over_http(tg, polling_server):
    me = Player(tg)
    tg.user_inline_query(USER, "広島")
    answer = await tg.wait_for("answerInlineQuery")
    results = answer.params["results"]
    assert results and all(len(r["id"].encode()) <= 64 for r in results)
    session_id = "2024-A-34-1025"
    card = await me.say(f"/start {session_id}", expect="register")
    assert session_id in plain_text(card.text)


@pytest.mark.parametrize("lang", ["ja", "en"])
async def test_the_registrant_is_mailed_the_invite_and_the_cancel_by_the_running_bot(
    tg, tmp_path, unused_tcp_port, smtp_server, lang
):
    """Issue 11, done when: `serve` with SMTP_HOST set, a person registering in chat with an
    e-mail gets a real iMIP invite at that address (a real SMTP server on 127.0.0.1), and
    their cancel in /my a CANCEL of the same event; the chat's calendar file, the invite
    and the cancel carry one UID, with SEQUENCE rising."""
    from icalendar import Calendar

    server = Server(
        tg,
        tmp_path,
        unused_tcp_port,
        SMTP_HOST=smtp_server.host,
        SMTP_PORT=str(smtp_server.port),
        SMTP_STARTTLS="0",
        CYDER_ORGANIZER="cyder-office@example.jp",
    )
    await server.start()
    await tg.wait_for("getUpdates", since=0, timeout=30)
    me = Player(tg, FakeUser(id=7002, first_name="Sakura", language_code=lang))

    def event(ics: bytes) -> tuple[str, str, int]:
        c = Calendar.from_ical(ics)
        [e] = c.events
        return str(c.get("METHOD")), str(e["UID"]), int(e.get("SEQUENCE", 0))

    async def mail_number(n: int) -> Any:
        async with asyncio.timeout(30):
            while len(smtp_server.inbox.messages) < n:
                await asyncio.sleep(0.05)
        got = smtp_server.inbox.messages[n - 1]
        assert got.rcpt_tos == [EMAIL]
        msg = got.message()
        part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
        return msg, event(part.get_content().encode("utf-8"))

    try:
        await me.set_profile()
        card, session_id = await me.nearby_card()
        doc = await me.register(card)
        _method, chat_uid, chat_seq = event(doc.files["document"][1])
        msg, (method, uid, seq) = await mail_number(1)
        assert msg["Auto-Submitted"] == "auto-generated" and msg["Message-ID"]
        assert (method, uid, seq) == ("REQUEST", chat_uid, chat_seq)
        await me.cancel_via_my()
        _msg, (method, cancel_uid, cancel_seq) = await mail_number(2)
        assert (method, cancel_uid) == ("CANCEL", uid) and cancel_seq > seq
    finally:
        assert await server.stop() == 0, server.stderr.decode(errors="replace")
    assert len(smtp_server.inbox.messages) == 2
    logs = server.stderr.decode(errors="replace")
    for private in (NAME, ORG, DEPT, EMAIL):
        assert private not in logs, f"{private!r} leaked into the logs"
