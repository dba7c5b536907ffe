"""A fake Telegram Bot API server on 127.0.0.1, for the end-to-end tests and the demo.

It speaks the HTTP interface the bot uses (`/bot{token}/{method}`), keeps the updates a
simulated user produces, answers `getUpdates` long polls with Telegram's offset semantics
(or POSTs them to a webhook once `setWebhook` was called), and records every request.

    async with FakeTelegram() as tg:            # tg.base_url -> TELEGRAM_API_BASE
        tg.user_sends_text(USER, "/start")
        call = await tg.wait_for("sendMessage")
        tg.user_presses(USER, call.result, tg.button(call.result, "Register"))

Options: `limits=True` enforces Telegram's flood limits (30 messages/s in all, 1 message/s
per chat; over them a 429 with `retry_after`), `fail_next(n, status)` injects failures
(a 429 with or without `retry_after`), `fail_randomly(rate, status)` fails a share of
requests (seeded, so a run can be repeated), `hold(methods)` keeps requests open
unanswered until `release()` (to kill the bot while a send is in flight), and
`block(chat_id)` makes the chat answer 403 "bot was blocked by the user".
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import math
import random
import re
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

TOKEN = "123456789:TEST-token-for-the-fake-bot-api"
BOT_ID = 123456789

# Parameters that aiogram sends JSON-encoded (everything else arrives as a plain string).
JSON_FIELDS = {
    "reply_markup",
    "entities",
    "caption_entities",
    "commands",
    "allowed_updates",
    "results",
    "scope",
    "link_preview_options",
    "reply_parameters",
    "media",
    "button",
}
INT_FIELDS = {
    "chat_id",
    "message_id",
    "offset",
    "limit",
    "timeout",
    "user_id",
    "cache_time",
    "max_connections",
    "reply_to_message_id",
    "from_chat_id",
}
SENDING = {
    "sendMessage",
    "sendDocument",
    "sendPhoto",
    "sendLocation",
    "sendVenue",
    "copyMessage",
    "forwardMessage",
    "sendMediaGroup",
    "sendAudio",
    "sendVideo",
}


@dataclass(frozen=True)
class FakeUser:
    id: int
    first_name: str = "Taro"
    language_code: str = "ja"
    username: str | None = None
    last_name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "is_bot": False,
            "first_name": self.first_name,
            "language_code": self.language_code,
        }
        if self.username:
            out["username"] = self.username
        if self.last_name:
            out["last_name"] = self.last_name
        return out

    def chat(self) -> dict[str, Any]:
        return {"id": self.id, "type": "private", "first_name": self.first_name}


@dataclass
class Call:
    """One request the bot made: the method, its parameters, uploaded files, the answer."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    status: int = 200
    result: Any = None
    at: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return value if isinstance(value, int) else None

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")


@dataclass
class _Failure:
    remaining: int
    status: int
    retry_after: int | None
    methods: frozenset[str] | None


@dataclass
class _RandomFailure:
    rate: float
    statuses: tuple[int, ...]
    methods: frozenset[str] | None
    rng: random.Random


def plain_text(text: str) -> str:
    """Telegram HTML as the user sees it (tags removed, entities decoded)."""
    text = re.sub(r"<br\s*/?>", "\n", text)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def inline_buttons(message: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The inline keyboard buttons of a bot message, row by row flattened."""
    markup = (message or {}).get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


class FakeTelegram:
    """An in-process fake Bot API server. Use `async with` or `await start()`/`close()`."""

    def __init__(
        self,
        token: str = TOKEN,
        *,
        username: str = "cyder_test_bot",
        limits: bool = False,
        global_rate: int = 30,
        per_chat_rate: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token = token
        self.username = username
        self.limits = limits
        self.global_rate = global_rate
        self.per_chat_rate = per_chat_rate
        self.host = host
        self.port = port
        self.calls: list[Call] = []
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_deliveries: list[tuple[int, int]] = []  # (update_id, HTTP status)
        self.blocked: set[int] = set()
        self.pressed: list[str] = []  # ids of the callback queries users sent
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._failures: list[_Failure] = []
        self._random_failures: list[_RandomFailure] = []
        self._held: frozenset[str] = frozenset()
        self._release: asyncio.Event | None = None
        self.held: list[Call] = []  # requests kept open by `hold` (dropped ones stay here)
        self._global_sent: deque[float] = deque()
        self._chat_sent: dict[int, deque[float]] = defaultdict(deque)
        self._changed: asyncio.Condition | None = None
        self._new_update: asyncio.Event | None = None
        self._subscribers: list[asyncio.Queue[Call]] = []
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._deliveries: asyncio.Queue[dict[str, Any]] | None = None
        self._deliverer: asyncio.Task[None] | None = None
        self._held_chat: int | None = None
        self._drop_held = False
        self.cursor = 0  # index into `calls` at the last simulated user action
        self.confirmed = 0  # highest update_id the bot confirmed (getUpdates offset - 1)

    # ----- lifecycle -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @contextlib.asynccontextmanager
    async def connected_bot(self, token: str | None = None) -> AsyncIterator[Any]:
        """An aiogram Bot talking to this server (its HTTP session closed on exit)."""
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        session = AiohttpSession(api=TelegramAPIServer.from_base(self.base_url))
        try:
            yield Bot(token or self.token, session=session)
        finally:
            await session.close()

    async def start(self) -> FakeTelegram:
        self._changed = asyncio.Condition()
        self._new_update = asyncio.Event()
        self._deliveries = asyncio.Queue()
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self._runner.addresses:  # the port the system chose when 0 was asked for
            self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        if self._new_update:
            self._new_update.set()
        if self._deliverer:
            self._deliverer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._deliverer
        if self._http:
            await self._http.close()
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ----- test controls ---------------------------------------------------------------

    def fail_next(
        self, n: int, status: int = 500, *, retry_after: int | None = 1, methods: Iterable[str] | None = None
    ) -> None:
        """Answer the next `n` requests (of `methods`, default all but getUpdates) with
        `status`: 429 carries `retry_after` (None: a 429 without it, which Telegram
        also sends), 5xx says Internal Server Error."""
        self._failures.append(_Failure(n, status, retry_after, frozenset(methods) if methods else None))

    def fail_randomly(
        self,
        rate: float,
        statuses: Iterable[int] = (500, 502),
        *,
        seed: int = 0,
        methods: Iterable[str] | None = None,
    ) -> None:
        """From now on answer about `rate` of the requests (of `methods`, default all but
        getUpdates) with one of `statuses` (5xx), drawn from a seeded generator."""
        self._random_failures.append(
            _RandomFailure(
                rate, tuple(statuses), frozenset(methods) if methods else None, random.Random(seed)
            )
        )

    def stop_failing(self) -> None:
        """No more injected failures (pending `fail_next` ones included)."""
        self._failures.clear()
        self._random_failures.clear()

    def hold(self, methods: Iterable[str], chat_id: int | None = None) -> None:
        """Keep requests of `methods` (to `chat_id`, or any) open without an answer until
        `release()`; each held request is listed in `held` as soon as it arrives."""
        self._held = frozenset(methods)
        self._held_chat = chat_id
        self._release = asyncio.Event()

    async def wait_held(self, timeout: float = 10.0) -> Call:
        """The first request `hold` keeps open (waits for it to arrive)."""
        assert self._changed is not None, "start() the fake first"
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: bool(self.held)), timeout)
        return self.held[0]

    def release(self, *, deliver: bool = True) -> None:
        """Stop holding. Held requests are answered (`deliver`), or dropped unanswered:
        the client that sent them is gone (killed), so the user never saw them."""
        self._held = frozenset()
        self._drop_held = not deliver
        if self._release is not None:
            self._release.set()

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: sending to them answers 403 Forbidden."""
        self.blocked.add(chat_id)

    def subscribe(self) -> asyncio.Queue[Call]:
        """A queue receiving every successful call from now on (the demo prints from it)."""
        queue: asyncio.Queue[Call] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    # ----- the simulated user ----------------------------------------------------------

    def _user_message(self, user: FakeUser, **content: Any) -> dict[str, Any]:
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": user.chat(),
            "from": user.as_dict(),
            **content,
        }
        self._messages[(user.id, message["message_id"])] = message
        return message

    def user_sends_text(self, user: FakeUser, text: str) -> dict[str, Any]:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split()[0]
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}
            ]
        return self.push_update({"message": self._user_message(user, **content)})

    def user_sends_location(self, user: FakeUser, latitude: float, longitude: float) -> dict[str, Any]:
        location = {"latitude": latitude, "longitude": longitude}
        return self.push_update({"message": self._user_message(user, location=location)})

    def user_sends_contact(self, user: FakeUser, phone_number: str) -> dict[str, Any]:
        contact = {"phone_number": phone_number, "first_name": user.first_name, "user_id": user.id}
        return self.push_update({"message": self._user_message(user, contact=contact)})

    def user_presses(self, user: FakeUser, message: dict[str, Any], callback_data: str) -> dict[str, Any]:
        """Press an inline button of a bot message (pass the data the bot sent)."""
        current = self.message(message["chat"]["id"], message["message_id"]) or message
        query_id = str(next(self._callback_ids))
        query = {
            "id": query_id,
            "from": user.as_dict(),
            "message": current,
            "chat_instance": f"ci{user.id}",
            "data": callback_data,
        }
        self.pressed.append(query_id)
        return self.push_update({"callback_query": query})

    def user_inline_query(self, user: FakeUser, query: str) -> dict[str, Any]:
        inline = {
            "id": str(next(self._callback_ids)),
            "from": user.as_dict(),
            "query": query,
            "offset": "",
            "chat_type": "private",
        }
        return self.push_update({"inline_query": inline})

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates (or the webhook, when one is set)."""
        update = {"update_id": next(self._update_ids), **update}
        self.cursor = len(self.calls)
        if self.webhook_url:
            assert self._deliveries is not None
            self._deliveries.put_nowait(update)
            self._kick_delivery()
        else:
            self._updates.append(update)
            if self._new_update:
                self._new_update.set()
        return update

    async def post_update(
        self, update: dict[str, Any], *, url: str | None = None, secret: str | None = None
    ) -> int:
        """POST one update to a webhook URL with the given secret header; the HTTP status."""
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        if "update_id" not in update:
            update = {"update_id": next(self._update_ids), **update}
        self.cursor = len(self.calls)
        if self._http is None:
            self._http = aiohttp.ClientSession()
        target = url or self.webhook_url
        assert target, "no webhook URL"
        async with self._http.post(target, data=json.dumps(update), headers=headers) as resp:
            await resp.read()
            return resp.status

    def _kick_delivery(self) -> None:
        if self._deliverer is None or self._deliverer.done():
            self._deliverer = asyncio.get_running_loop().create_task(self._deliver())

    async def _deliver(self) -> None:
        assert self._deliveries is not None
        while not self._deliveries.empty():
            update = self._deliveries.get_nowait()
            status = 0
            for attempt in range(5):
                try:
                    status = await self.post_update(update, secret=self.webhook_secret)
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1 * (attempt + 1))
            self.webhook_deliveries.append((update["update_id"], status))

    # ----- reading what the bot did ----------------------------------------------------

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """A message as it is now (after any edits)."""
        return self._messages.get((chat_id, message_id))

    def sent_to(self, chat_id: int) -> list[Call]:
        """The bot's successful sends (messages, documents...) to a chat, in order."""
        return [c for c in self.calls if c.ok and c.method in SENDING and c.chat_id == chat_id]

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.ok]

    @staticmethod
    def button(message: dict[str, Any], text: str) -> str:
        """The callback_data of the inline button whose text contains `text`."""
        buttons = inline_buttons(message)
        for b in buttons:
            if text in b.get("text", "") and "callback_data" in b:
                return str(b["callback_data"])
        names = [b.get("text") for b in buttons]
        raise LookupError(f"no button containing {text!r} in {names}")

    def press(self, user: FakeUser, message: dict[str, Any], text: str) -> dict[str, Any]:
        """Press the inline button whose text contains `text` (using the current markup)."""
        current = self.message(message["chat"]["id"], message["message_id"]) or message
        return self.user_presses(user, current, self.button(current, text))

    async def wait_for(
        self,
        method: str | Iterable[str],
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 10.0,
        *,
        since: int | None = None,
    ) -> Call:
        """The first successful call of `method` (one name or several) since the last user
        action (or index `since`) that satisfies `predicate`; waits up to `timeout` s."""
        methods = {method} if isinstance(method, str) else set(method)
        start = self.cursor if since is None else since
        assert self._changed is not None, "start() the fake first"
        deadline = asyncio.get_running_loop().time() + timeout

        def find() -> Call | None:
            for c in self.calls[start:]:
                if c.ok and c.method in methods and (predicate is None or predicate(c)):
                    return c
            return None

        async with self._changed:
            while (found := find()) is None:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    seen = [(c.method, c.status, c.text[:60]) for c in self.calls[start:]]
                    raise TimeoutError(f"no {sorted(methods)} within {timeout}s; saw {seen}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
        return found

    async def wait_confirmed(self, update_id: int, timeout: float = 10.0) -> None:
        """Wait until a getUpdates call confirmed `update_id` (with `handle_as_tasks=False`
        polling, that means the bot finished handling it)."""
        assert self._changed is not None, "start() the fake first"
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.confirmed >= update_id), timeout)

    # ----- the HTTP side ---------------------------------------------------------------

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, Any]]:
        params: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                    continue
                if part.filename:
                    files[part.name] = (part.filename, bytes(await part.read()))
                else:
                    params[part.name] = await part.text()
        elif request.content_type == "application/json":
            params = dict(await request.json())
        else:
            params = dict(await request.post()) if request.can_read_body else {}
            params.update(request.query)
        for key, value in list(params.items()):
            if not isinstance(value, str):
                continue
            if key in JSON_FIELDS:
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(value)
            elif key in INT_FIELDS and re.fullmatch(r"-?\d+", value):
                params[key] = int(value)
            elif value in ("true", "false"):
                params[key] = value == "true"
            elif value.startswith("attach://") and value[9:] in files:
                files[key] = files[value[9:]]  # aiogram uploads under a random field name
        return params, files

    async def _record(self, call: Call) -> None:
        call.at = time.monotonic()
        self.calls.append(call)
        if call.ok:
            for queue in self._subscribers:
                queue.put_nowait(call)
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    def _injected_failure(self, method: str) -> _Failure | None:
        for failure in self._failures:
            applies = (method in failure.methods) if failure.methods else method != "getUpdates"
            if failure.remaining > 0 and applies:
                failure.remaining -= 1
                return failure
        for chance in self._random_failures:
            applies = (method in chance.methods) if chance.methods else method != "getUpdates"
            if applies and chance.rng.random() < chance.rate:
                return _Failure(1, chance.rng.choice(chance.statuses), None, None)
        return None

    def _flood_wait(self, chat_id: Any) -> int:
        """Seconds to wait if this send would pass the flood limits, else 0 (and count it)."""
        now = time.monotonic()
        while self._global_sent and now - self._global_sent[0] >= 1.0:
            self._global_sent.popleft()
        per_chat = self._chat_sent[chat_id] if isinstance(chat_id, int) else deque()
        while per_chat and now - per_chat[0] >= 1.0:
            per_chat.popleft()
        wait = 0.0
        if len(self._global_sent) >= self.global_rate:
            wait = 1.0 - (now - self._global_sent[0])
        if len(per_chat) >= self.per_chat_rate:
            wait = max(wait, 1.0 - (now - per_chat[0]))
        if wait > 0:
            return max(1, math.ceil(wait))
        self._global_sent.append(now)
        per_chat.append(now)
        return 0

    @staticmethod
    def _error(status: int, description: str, **parameters: Any) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=status)

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        params, files = await self._params(request)
        call = Call(method, params, files)
        if method in self._held and self._held_chat in (None, params.get("chat_id")):
            call.status = 0  # open: not answered (yet)
            self.held.append(call)
            assert self._changed is not None and self._release is not None
            async with self._changed:
                self._changed.notify_all()
            await self._release.wait()
            if self._drop_held:
                call.status = 499  # the bot died waiting: nothing reached the user
                return self._error(499, "dropped")
        failure = self._injected_failure(method)
        if failure is None and self.limits and method in SENDING:
            wait = self._flood_wait(params.get("chat_id"))
            if wait:
                failure = _Failure(1, 429, wait, None)
        if failure is None and method in SENDING and params.get("chat_id") in self.blocked:
            call.status = 403
            await self._record(call)
            return self._error(403, "Forbidden: bot was blocked by the user")
        if failure is not None:
            call.status = failure.status
            await self._record(call)
            if failure.status == 429 and failure.retry_after is None:
                return self._error(429, "Too Many Requests")
            if failure.status == 429:
                return self._error(
                    429,
                    f"Too Many Requests: retry after {failure.retry_after}",
                    retry_after=failure.retry_after,
                )
            return self._error(failure.status, "Internal Server Error")
        if method == "getUpdates":
            return await self._get_updates(call)
        handler = getattr(self, f"_m_{method}", None)
        try:
            call.result = handler(params, files) if handler else True
        except _ApiError as e:
            call.status = e.status
            await self._record(call)
            return self._error(e.status, e.description)
        await self._record(call)
        return web.json_response({"ok": True, "result": call.result})

    async def _get_updates(self, call: Call) -> web.Response:
        if self.webhook_url:
            call.status = 409
            await self._record(call)
            return self._error(
                409,
                "Conflict: can't use getUpdates method while webhook is "
                "active; use deleteWebhook to delete the webhook first",
            )
        offset = call.params.get("offset") or 0
        limit = call.params.get("limit") or 100
        timeout = min(float(call.params.get("timeout") or 0), 50.0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            if offset - 1 > self.confirmed:
                self.confirmed = offset - 1
                assert self._changed is not None
                async with self._changed:
                    self._changed.notify_all()
        assert self._new_update is not None
        call.result = []
        await self._record(call)  # recorded on arrival: "the bot is polling"
        if not self._updates and timeout > 0:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), timeout)
        call.result = self._updates[:limit]
        return web.json_response({"ok": True, "result": call.result})

    # ----- method implementations ------------------------------------------------------

    def _bot_user(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "CYDER Bot", "username": self.username}

    def _bot_message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise _ApiError(400, "Bad Request: chat not found")
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group", "first_name": "User"}
            if chat_id > 0
            else {"id": chat_id, "type": "group", "title": "Group"},
            "from": self._bot_user(),
            **content,
        }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._messages[(chat_id, message["message_id"])] = message
        return message

    def _m_getMe(self, params: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
        }

    def _m_sendMessage(self, params: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        text = str(params.get("text") or "")
        if not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(plain_text(text)) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        self._check_markup(params)
        return self._bot_message(params, text=text)

    def _m_sendDocument(self, params: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        if "document" in files:
            name, data = files["document"]
        elif isinstance(params.get("document"), str):
            name, data = "file", b""
        else:
            raise _ApiError(400, "Bad Request: there is no document in the request")
        content: dict[str, Any] = {
            "document": {
                "file_id": f"doc{len(self.calls)}",
                "file_unique_id": f"u{len(self.calls)}",
                "file_name": name,
                "file_size": len(data),
            }
        }
        if params.get("caption"):
            content["caption"] = params["caption"]
        return self._bot_message(params, **content)

    def _m_sendLocation(self, params: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        return self._bot_message(
            params, location={"latitude": float(params["latitude"]), "longitude": float(params["longitude"])}
        )

    def _m_sendChatAction(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        return True

    def _edit(self, params: dict[str, Any], **changes: Any) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            return True
        key = (params.get("chat_id"), params.get("message_id"))
        message = self._messages.get(key)  # type: ignore[arg-type]
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        markup = params.get("reply_markup")
        new = {**message, **changes, "edit_date": int(time.time())}
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            new["reply_markup"] = markup
        else:
            new.pop("reply_markup", None)
        if all(new.get(k) == message.get(k) for k in ("text", "caption", "reply_markup")):
            raise _ApiError(
                400,
                "Bad Request: message is not modified: specified new message "
                "content and reply markup are exactly the same as a current "
                "content and reply markup of the message",
            )
        self._messages[key] = new  # type: ignore[index]
        return new

    def _m_editMessageText(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        text = str(params.get("text") or "")
        if not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(plain_text(text)) > 4096:
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._check_markup(params)
        return self._edit(params, text=text)

    def _m_editMessageReplyMarkup(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        self._check_markup(params)
        return self._edit(params)

    def _m_deleteMessage(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        self._messages.pop((params.get("chat_id"), params.get("message_id")), None)  # type: ignore[arg-type]
        return True

    def _m_answerCallbackQuery(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        if not params.get("callback_query_id"):
            raise _ApiError(400, "Bad Request: query is too old and response timeout expired")
        return True

    def _m_answerInlineQuery(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        if len(params.get("results") or []) > 50:
            raise _ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        return True

    def _m_setMyCommands(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        return True

    def _m_setWebhook(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        url = str(params.get("url") or "")
        self.webhook_url = url or None
        self.webhook_secret = params.get("secret_token") or None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        if self.webhook_url:
            # Updates queued for polling go to the webhook now, as on Telegram.
            pending, self._updates = self._updates, []
            for update in pending:
                assert self._deliveries is not None
                self._deliveries.put_nowait(update)
            if pending:
                self._kick_delivery()
        return True

    def _m_deleteWebhook(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        self.webhook_url = self.webhook_secret = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _m_getWebhookInfo(self, params: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    @staticmethod
    def _check_markup(params: dict[str, Any]) -> None:
        markup = params.get("reply_markup")
        if not isinstance(markup, dict):
            return
        buttons = [b for row in markup.get("inline_keyboard", []) for b in row]
        if len(buttons) > 100:
            raise _ApiError(400, "Bad Request: too many buttons")
        for b in buttons:
            data = b.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


class _ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
