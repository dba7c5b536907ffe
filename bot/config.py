"""Settings, read once from the environment into one frozen object."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class SettingsError(ValueError):
    """An environment variable with a value we cannot use."""


def _date(env: Mapping[str, str], name: str) -> dt.date | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as e:
        raise SettingsError(f"{name}={raw!r} is not a date (YYYY-MM-DD)") from e


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as e:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from e


def _ids(env: Mapping[str, str], name: str) -> frozenset[int]:
    out = set()
    for part in env.get(name, "").replace(" ", "").split(","):
        if part:
            if not part.lstrip("-").isdigit():
                raise SettingsError(f"{name}: {part!r} is not a Telegram user id")
            out.add(int(part))
    return frozenset(out)


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Secrets (tokens) come only from the environment."""

    bot_token: str | None = field(default=None, repr=False)
    db_path: Path = Path("cyder.db")
    today: dt.date | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    telegram_api_base: str | None = None
    admin_ids: frozenset[int] = frozenset()
    admin_token: str | None = field(default=None, repr=False)
    public_base_url: str = "http://127.0.0.1:8080"
    organizer_email: str = "cyder-office@example.invalid"
    reminder_hour: int = 9
    fiscal_year: int = 2024

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        host = env.get("HTTP_HOST", "127.0.0.1").strip() or "127.0.0.1"
        port = _int(env, "HTTP_PORT", 8080)
        hour = _int(env, "CYDER_REMINDER_HOUR", 9)
        if not 0 <= hour <= 23:
            raise SettingsError(f"CYDER_REMINDER_HOUR={hour} must be 0-23")
        return cls(
            bot_token=env.get("BOT_TOKEN", "").strip() or None,
            db_path=Path(env.get("CYDER_DB", "").strip() or "cyder.db"),
            today=_date(env, "CYDER_TODAY"),
            http_host=host,
            http_port=port,
            webhook_url=env.get("WEBHOOK_URL", "").strip() or None,
            webhook_secret=env.get("WEBHOOK_SECRET", "").strip() or None,
            telegram_api_base=env.get("TELEGRAM_API_BASE", "").strip() or None,
            admin_ids=_ids(env, "ADMIN_IDS"),
            admin_token=env.get("ADMIN_TOKEN", "").strip() or None,
            public_base_url=(env.get("PUBLIC_BASE_URL", "").strip()
                             or f"http://{host}:{port}").rstrip("/"),
            organizer_email=env.get("CYDER_ORGANIZER", "").strip() or cls.organizer_email,
            reminder_hour=hour,
        )
