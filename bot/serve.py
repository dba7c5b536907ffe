"""`cyder-bot serve`: one event loop running the HTTP app and, with BOT_TOKEN, the bot.

Long polling by default; a webhook on the HTTP app when WEBHOOK_URL is set (aiogram's
`SimpleRequestHandler`, as `bot.web.webhook.WebhookHandler`, and `setup_application`, as
its webhook example does). Telegram
errors are retried by `RetryMiddleware` on the bot's session, errors raised in handlers
are logged (never fatal), and SIGINT/SIGTERM stop everything gracefully: the
Dispatcher's startup hook starts the background jobs, its shutdown hook
(`bot.telegram.lifecycle`) lets the updates in progress finish and ends the jobs. Logs
carry update ids and error types, never message texts, names or e-mail addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher, Router
from aiogram.types import ErrorEvent
from aiogram.webhook.aiohttp_server import setup_application
from aiohttp import web

from bot.config import Settings
from bot.runtime import clock_for, open_catalog
from bot.telegram import lifecycle, reminders, schedule_watch
from bot.telegram.factory import create_bot, create_dispatcher
from bot.telegram.lifecycle import Jobs
from bot.telegram.menu import set_commands
from bot.telegram.notify import Notifier
from bot.telegram.outbox import Outbox, Outboxes
from bot.telegram.resilience import where
from bot.telegram.updates import Poller
from bot.web.app import create_web_app
from bot.web.keys import BOT, DISPATCHER, NOTIFIER
from bot.web.webhook import WebhookHandler
from catalog.clock import Clock
from catalog.service import Catalog

log = logging.getLogger("cyder.runner")

BackgroundFn = Callable[[Outbox, Settings], Awaitable[None]]

# Long-running jobs started beside the bot, each `async def fn(outbox, settings)` (the
# outbox carries the bot, the catalog and the clock, and is the one the staff's
# broadcasts use too).
BACKGROUND_TASKS: list[tuple[str, BackgroundFn]] = [
    ("reminders", reminders.run),
    ("schedule_watch", schedule_watch.run),
]

# Updates handled at once in polling mode (aiogram starts a task per update).
CONCURRENT_UPDATES = 64
# How long polling may take to stop: the shutdown hook's waits, and a little more.
STOP_TIMEOUT = 2 * lifecycle.GRACE + 5


class ServeError(Exception):
    """The server cannot start (e.g. the port is taken): one clear line for the CLI."""


async def _log_error(event: ErrorEvent) -> bool:
    """The last-resort error handler: log without personal data and carry on."""
    exc = event.exception
    log.error("update %s failed: %s at %s", event.update.update_id, type(exc).__name__, where(exc))
    return True


def add_error_logging(dp: Dispatcher) -> None:
    """Errors no feature router handled are logged; the process never dies of one."""
    router = Router(name="errors-fallback")
    router.errors.register(_log_error)
    dp.include_router(router)


async def _supervise(name: str, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Run a background job; if it crashes, log it and start it again after a pause."""
    delay = 1.0
    while True:
        try:
            await fn(*args)
            return
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a job's failure must not stop the bot
            log.error(
                "background %s failed: %s at %s; restarting in %.0fs", name, type(e).__name__, where(e), delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 300.0)


def build_dispatcher(settings: Settings, catalog: Catalog, clock: Clock, **kwargs: Any) -> Dispatcher:
    """`create_dispatcher` (which the tests use too) plus a last-resort error logger."""
    dp = create_dispatcher(settings, catalog, clock, **kwargs)
    add_error_logging(dp)
    return dp


def add_background_jobs(dp: Dispatcher, settings: Settings) -> None:
    """Start BACKGROUND_TASKS when `dp` starts (polling, or the webhook's app starting),
    as endless jobs of its `jobs`, sending through its `outboxes`; the shutdown hook of
    `bot.telegram.lifecycle` cancels them."""

    async def start_background(
        bot: Bot, jobs: Jobs, outboxes: Outboxes, notifier: Notifier | None = None
    ) -> None:
        if notifier is not None:  # first: what an earlier process left in the outbox
            jobs.spawn(_supervise("notifications", notifier.run, bot), name="notifications", endless=True)
        outbox = outboxes.for_bot(bot)
        for name, fn in BACKGROUND_TASKS:
            jobs.spawn(_supervise(name, fn, outbox, settings), name=name, endless=True)

    dp.startup.register(start_background)


def build_bot(settings: Settings, catalog: Catalog, clock: Clock) -> tuple[Bot, Dispatcher]:
    """The Bot (`create_bot` installs the Telegram-error retries) and the Dispatcher."""
    bot = create_bot(settings)
    return bot, build_dispatcher(settings, catalog, clock)


def webhook_secret(settings: Settings) -> str:
    """WEBHOOK_SECRET, or a random one for this run (Telegram sends it back in a header)."""
    return settings.webhook_secret or secrets.token_urlsafe(32)


def setup_webhook(app: web.Application, settings: Settings, bot: Bot, dp: Dispatcher) -> str:
    """Take updates at WEBHOOK_URL's path; requests without the secret header get 401.
    The app's startup and shutdown run the Dispatcher's (`setup_application`)."""
    assert settings.webhook_url
    path = urlsplit(settings.webhook_url).path or "/"
    secret = webhook_secret(settings)
    # First, so that on shutdown the Dispatcher's hook (updates in progress finish) runs
    # before the request handler's own, which closes the bot's session.
    setup_application(app, dp, bot=bot)
    WebhookHandler(dispatcher=dp, bot=bot, secret_token=secret).register(app, path=path)
    return secret


async def _startup_call(what: str, coro: Awaitable[Any]) -> None:
    try:
        await coro
    except Exception as e:  # noqa: BLE001 - the bot can run without its command menu
        log.error("%s failed: %s", what, type(e).__name__)


async def serve(
    settings: Settings,
    *,
    clock: Clock | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[web.Application], Any] | None = None,
    install_signals: bool = True,
) -> None:
    """Run until SIGINT/SIGTERM (or `stop` is set): the HTTP app, and the bot when
    BOT_TOKEN is set (polling, or a webhook when WEBHOOK_URL is set)."""
    clock = clock or clock_for(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if install_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)

    catalog = open_catalog(settings, clock)
    app = create_web_app(settings, catalog, clock)
    bot: Bot | None = None
    dp: Dispatcher | None = None
    secret = None
    if settings.bot_token:
        bot, dp = build_bot(settings, catalog, clock)
        add_background_jobs(dp, settings)
        app[BOT] = bot
        app[DISPATCHER] = dp
        app[NOTIFIER] = dp.workflow_data.get("notifier")  # the one its background job runs
        if settings.webhook_url:
            secret = setup_webhook(app, settings, bot, dp)

    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        if bot is not None:
            await bot.session.close()
        raise ServeError(
            f"cannot listen on {settings.http_host}:{settings.http_port}: "
            f"{e.strerror or e} (set HTTP_HOST/HTTP_PORT)"
        ) from e
    log.info("HTTP on http://%s:%s", settings.http_host, settings.http_port)

    polling: asyncio.Task[Any] | None = None
    poller: Poller | None = None
    try:
        if bot is not None and dp is not None:
            await _startup_call("setMyCommands", set_commands(bot))
            if secret is not None:
                assert settings.webhook_url
                await bot.set_webhook(
                    settings.webhook_url, secret_token=secret, allowed_updates=dp.resolve_used_update_types()
                )
                log.info("webhook mode")
            else:
                await _startup_call("deleteWebhook", bot.delete_webhook())
                # our loop, not dp.start_polling: an update aiogram cannot parse is
                # skipped instead of stalling the batch (bot.telegram.updates)
                poller = Poller(dp, bot, timeout=30, concurrency=CONCURRENT_UPDATES)
                polling = asyncio.create_task(poller.run())
                log.info("polling mode")
        if on_ready is not None:
            on_ready(app)
        waiter = asyncio.create_task(stop.wait())
        watched = {waiter} | ({polling} if polling else set())
        done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        if polling in done and polling is not None:
            polling.result()  # polling ended by itself: surface why
        waiter.cancel()
    finally:
        log.info("shutting down")
        if polling is not None and poller is not None and not polling.done():
            poller.stop()  # Poller.run then runs the Dispatcher's shutdown hook
            try:
                await asyncio.wait_for(polling, STOP_TIMEOUT)
            except (TimeoutError, asyncio.CancelledError):
                polling.cancel()
        await runner.cleanup()  # a webhook's app runs the Dispatcher's shutdown hook here
        if bot is not None:
            await bot.session.close()
        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
