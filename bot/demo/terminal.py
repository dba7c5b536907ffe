"""`cyder-bot demo`: the production bot in a terminal chat, no Telegram needed.

The real Dispatcher and handlers poll an in-process fake Bot API server
(`bot.demo.fake_telegram`) over HTTP on 127.0.0.1, exactly as they would poll Telegram; the
HTTP app (/healthz, feeds, admin) runs beside them. The terminal plays the user: bot
messages are printed with their buttons numbered, and what the user types becomes an
update. Works with a pipe as stdin (one line per input; ends at EOF).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import sys
import threading
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from bot.config import Settings
from bot.demo.fake_telegram import Call, FakeTelegram, FakeUser, inline_buttons, plain_text
from bot.runtime import clock_for, open_catalog
from bot.serve import add_background_jobs, build_bot
from bot.telegram.menu import set_commands
from bot.web.app import create_web_app
from bot.web.keys import BOT, DISPATCHER, NOTIFIER
from catalog import calendar

LATLON = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$")
LETTERS = "abcdefghijklmnopqrstuvwxyz"
DEEP_LINK = re.compile(r"^https://t\.me/([A-Za-z0-9_]+)\?start=([A-Za-z0-9_-]+)$")


def banner(settings: Settings, url: str, *, clock_pinned_by_env: bool) -> str:
    today = settings.today.isoformat() if settings.today else "today"
    if clock_pinned_by_env:
        clock = f"{today} (CYDER_TODAY)"
    else:
        clock = (
            f"{today} — pinned for the demo so FY2024 has upcoming sessions; "
            f"set CYDER_TODAY to change / デモ用に固定（CYDER_TODAY で変更可）"
        )
    return "\n".join(
        [
            "=" * 72,
            "CYDER bot — terminal demo / ターミナルデモ",
            "The real bot and handlers, talking to a local fake Telegram server.",
            "本物のボットを、ローカルの疑似 Telegram サーバー経由で試せます。",
            f"Clock / 日付: {clock}",
            f"HTTP: {url}/healthz",
            "How to use / 使い方:",
            "  text          send a message / メッセージを送る (/start /help /lang /my ...)",
            "  1, 2, ...     press button [n] of the last message / 直前のメッセージのボタンを押す",
            "  a, b, ...     press keyboard button [a] / キーボードのボタン [a] を押す",
            "  34.39,132.46  share a location (lat,lon) / 位置情報を送る（緯度,経度）",
            "  @bot 広島     inline mode, as in any chat / インラインモード",
            "  :quit         exit / 終了",
            "=" * 72,
        ]
    )


def _unwrap_share(url: str) -> str:
    """The link inside a t.me/share/url?url=... button (else the URL itself)."""
    parts = urlsplit(url)
    if parts.netloc == "t.me" and parts.path == "/share/url":
        return parse_qs(parts.query).get("url", [url])[0]
    return url


class Terminal:
    """Renders the bot's calls as a chat transcript and turns typed lines into updates."""

    def __init__(self, tg: FakeTelegram, user: FakeUser, out: TextIO) -> None:
        self.tg = tg
        self.user = user
        self.out = out
        self.buttons: list[dict[str, Any]] = []  # inline buttons of the last message
        self.buttons_message: dict[str, Any] | None = None
        self.keyboard: list[dict[str, Any]] = []  # the reply keyboard now shown
        self.queue = tg.subscribe()

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    # ----- rendering -------------------------------------------------------------------

    def render(self, call: Call) -> None:
        m = call.method
        if call.chat_id is not None and call.chat_id != self.user.id:
            if m in ("sendMessage", "sendDocument"):
                self.say(f"     (to chat {call.chat_id}: {plain_text(call.text)[:60]!r})")
            return
        if m in ("sendMessage", "editMessageText"):
            head = "bot ✎" if m == "editMessageText" else "bot>"
            lines = [line.rstrip() for line in plain_text(call.text).split("\n")]
            self.say(f"{head} " + "\n     ".join(lines).replace("\n     \n", "\n\n"))
            self._markup(call)
        elif m == "editMessageReplyMarkup":
            self._markup(call, announce=True)
        elif m == "sendDocument":
            name, data = call.files.get("document", ("file", b""))
            self.say(f"bot> 📎 {name} ({len(data)} bytes)")
            if name.endswith(".ics"):
                for line in calendar.describe_file(data):
                    self.say(f"     📅 {line}")
            if call.params.get("caption"):
                self.say("     " + plain_text(str(call.params["caption"])))
            self._markup(call)
        elif m == "sendVenue":
            self.say(
                f"bot> 📍 {call.params.get('title')} — {call.params.get('address')} "
                f"({call.params.get('latitude')},{call.params.get('longitude')})"
            )
        elif m == "sendLocation":
            self.say(f"bot> 📍 {call.params.get('latitude')},{call.params.get('longitude')}")
        elif m == "answerCallbackQuery" and call.params.get("text"):
            self.say(f"     ({plain_text(str(call.params['text']))})")
        elif m == "answerInlineQuery":
            for i, r in enumerate(call.params.get("results") or [], 1):
                title = r.get("title") or r.get("id")
                self.say(f"     inline result {i}: {plain_text(str(title))}")
        elif (
            m == "deleteMessage"
            and self.buttons_message
            and call.params.get("message_id") == self.buttons_message.get("message_id")
        ):
            self.buttons, self.buttons_message = [], None

    def _markup(self, call: Call, announce: bool = False) -> None:
        markup = call.params.get("reply_markup")
        message = call.result if isinstance(call.result, dict) else None
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            self.buttons = inline_buttons({"reply_markup": markup})
            self.buttons_message = message
            n = 0
            for row in markup["inline_keyboard"]:
                cells = []
                for b in row:
                    n += 1
                    extra = " ↗" if "url" in b and "↗" not in b.get("text", "") else ""
                    cells.append(f"[{n}] {b.get('text', '')}{extra}")
                self.say("     " + "  ".join(cells))
        elif announce or (
            message is not None
            and call.method != "editMessageText"
            and self.buttons_message is not None
            and self.buttons_message.get("message_id") == message.get("message_id")
        ):
            self.buttons, self.buttons_message = [], None
        if isinstance(markup, dict) and "keyboard" in markup:
            self.keyboard = [
                b if isinstance(b, dict) else {"text": b} for row in markup["keyboard"] for b in row
            ]
            cells = [
                f"[{LETTERS[i]}] {b.get('text', '')}" for i, b in enumerate(self.keyboard[: len(LETTERS)])
            ]
            self.say("     keyboard: " + "  ".join(cells))
        elif isinstance(markup, dict) and markup.get("remove_keyboard"):
            self.keyboard = []

    def drain(self) -> None:
        while not self.queue.empty():
            self.render(self.queue.get_nowait())

    # ----- input -----------------------------------------------------------------------

    def update_for(self, line: str) -> dict[str, Any] | None:
        """The update a typed line stands for (None when the line was handled here)."""
        text = line.strip()
        if not text:
            return None
        if text.isdigit():
            n = int(text)
            if not 1 <= n <= len(self.buttons):
                self.say(f"     (no button [{n}] / ボタン [{n}] はありません)")
                return None
            button = self.buttons[n - 1]
            if "callback_data" in button:
                assert self.buttons_message is not None
                return self.tg.user_presses(self.user, self.buttons_message, button["callback_data"])
            if "url" in button:
                self.say(f"     ↗ {button['url']}")
                deep = DEEP_LINK.match(_unwrap_share(button["url"]))
                if deep and deep[1].lower() == self.tg.username.lower():
                    self.say(f"     (opening the link as /start {deep[2]} / リンクを開きます)")
                    return self.tg.user_sends_text(self.user, f"/start {deep[2]}")
                return None
            if "switch_inline_query" in button or "switch_inline_query_current_chat" in button:
                query = (
                    button.get("switch_inline_query") or button.get("switch_inline_query_current_chat") or ""
                )
                return self.tg.user_inline_query(self.user, query)
            self.say("     (this button does nothing here / このボタンはデモでは使えません)")
            return None
        if len(text) == 1 and text in LETTERS and self.keyboard:
            i = LETTERS.index(text)
            if i >= len(self.keyboard):
                self.say(f"     (no keyboard button [{text}])")
                return None
            button = self.keyboard[i]
            if button.get("request_location"):
                self.say(
                    "     type your location as lat,lon, e.g. 34.3963,132.4596 / 緯度,経度 で入力してください"
                )
                return None
            return self.tg.user_sends_text(self.user, str(button.get("text", "")))
        if text.startswith("@"):  # inline mode: "@bot 広島" (the bot's name may be left out)
            query = text.split(maxsplit=1)[1] if " " in text else ""
            return self.tg.user_inline_query(self.user, query)
        if m := LATLON.match(text):
            return self.tg.user_sends_location(self.user, float(m[1]), float(m[2]))
        return self.tg.user_sends_text(self.user, text)

    async def send(self, line: str) -> None:
        update = self.update_for(line)
        if update is None:
            return
        try:
            await self.tg.wait_confirmed(update["update_id"], timeout=60)
        except TimeoutError:
            self.say("     (the bot did not answer in time / 応答がありません)")
        self.drain()


def _stdin_lines(loop: asyncio.AbstractEventLoop, stream: TextIO) -> asyncio.Queue[str | None]:
    """Lines of `stream` from a daemon thread (so Ctrl-C never waits for Enter)."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in stream:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, daemon=True, name="demo-stdin").start()
    return queue


async def _start_http(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except OSError:
        site = web.TCPSite(runner, host, 0)  # the port is taken: any free one will do
        await site.start()
    return runner, runner.addresses[0][1] if runner.addresses else port


DEMO_USER_ID = 10001


async def run_demo(
    settings: Settings,
    *,
    lang: str = "ja",
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    clock_pinned_by_env: bool = False,
    staff: bool = False,
) -> int:
    """Run the terminal chat until `:quit` or end of input (`staff`: the demo user is
    in ADMIN_IDS, so the staff commands of the chat can be tried too)."""
    out = stdout or sys.stdout
    stdin = stdin or sys.stdin
    clock = clock_for(settings)
    catalog = open_catalog(settings, clock)
    async with FakeTelegram() as tg:
        if staff:
            settings = dataclasses.replace(settings, admin_ids=settings.admin_ids | {DEMO_USER_ID})
        bot_settings = dataclasses.replace(
            settings, bot_token=tg.token, telegram_api_base=tg.base_url, webhook_url=None
        )
        bot, dp = build_bot(bot_settings, catalog, clock)
        # as `serve` does: the notification sender, reminders and schedule watching run
        # beside the chat (a staff change or a larger capacity is told through them)
        add_background_jobs(dp, bot_settings)
        app = create_web_app(settings, catalog, clock)
        app[BOT] = bot
        app[DISPATCHER] = dp
        app[NOTIFIER] = dp.workflow_data.get("notifier")  # woken by the admin page's changes
        runner, port = await _start_http(app, settings.http_host, settings.http_port)
        user = FakeUser(id=DEMO_USER_ID, first_name="Demo", language_code=lang)
        term = Terminal(tg, user, out)
        # One update at a time, so each typed line gets its whole answer before the next.
        polling = asyncio.create_task(
            dp.start_polling(
                bot, handle_signals=False, handle_as_tasks=False, close_bot_session=False, polling_timeout=5
            )
        )
        try:
            term.say(
                banner(
                    settings, f"http://{settings.http_host}:{port}", clock_pinned_by_env=clock_pinned_by_env
                )
            )
            with contextlib.suppress(Exception):
                await set_commands(bot)
            term.drain()
            await term.send("/start")
            interactive = stdin.isatty()
            lines = _stdin_lines(asyncio.get_running_loop(), stdin)
            while True:
                if interactive:
                    out.write("> ")
                    out.flush()
                line = await lines.get()
                if line is None:
                    break
                if not interactive:
                    term.say("> " + line.rstrip("\n"))
                if line.strip() in (":quit", ":q", ":exit"):
                    break
                await term.send(line)
                if polling.done():
                    polling.result()
        finally:
            with contextlib.suppress(RuntimeError):
                await dp.stop_polling()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(polling, 10)
            await bot.session.close()
            await runner.cleanup()
    term.say("bye / さようなら")
    return 0
