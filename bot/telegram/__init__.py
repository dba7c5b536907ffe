"""The Telegram door: the Dispatcher factory, middlewares, i18n, callbacks, keyboards,
the outbox (Telegram's pace) and the background jobs (reminders, schedule watch)."""
