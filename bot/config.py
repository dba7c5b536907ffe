"""Settings, read once from the environment into one frozen object."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from catalog.validation import EMAIL_RE

DEFAULT_ORGANIZER = "cyder-office@example.invalid"


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


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} is not true or false")


def _address(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not EMAIL_RE.match(raw):
        raise SettingsError(f"{name}={raw!r} is not an e-mail address")
    return raw


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
    organizer_email: str = DEFAULT_ORGANIZER
    reminder_hour: int = 9
    fiscal_year: int = 2024
    # Mail (iMIP invites): off without smtp_host.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str | None = None  # the From address; the office (organizer) when unset
    smtp_starttls: bool = True
    mail_per_minute: int = 30
    smtp_timeout: float = 30.0

    @property
    def mail_enabled(self) -> bool:
        """Whether anything is mailed: only with an SMTP server to send through."""
        return bool(self.smtp_host)

    @property
    def mail_from(self) -> str:
        """The From address of mail: SMTP_FROM, else the office."""
        return self.smtp_from or self.organizer_email

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        host = env.get("HTTP_HOST", "127.0.0.1").strip() or "127.0.0.1"
        port = _int(env, "HTTP_PORT", 8080)
        hour = _int(env, "CYDER_REMINDER_HOUR", 9)
        if not 0 <= hour <= 23:
            raise SettingsError(f"CYDER_REMINDER_HOUR={hour} must be 0-23")
        organizer = _address(env, "CYDER_ORGANIZER")
        smtp_host = env.get("SMTP_HOST", "").strip() or None
        smtp_user = env.get("SMTP_USER", "").strip() or None
        smtp_password = env.get("SMTP_PASSWORD", "") or None
        smtp_port = _int(env, "SMTP_PORT", 587)
        rate = _int(env, "SMTP_RATE_PER_MINUTE", 30)
        if smtp_host:
            # An invite's ORGANIZER is who calendars show and replies go to: no stand-in.
            if organizer is None:
                raise SettingsError(
                    "CYDER_ORGANIZER (the office's e-mail address) is required when SMTP_HOST is set"
                )
            if not 1 <= smtp_port <= 65535:
                raise SettingsError(f"SMTP_PORT={smtp_port} must be 1-65535")
            if bool(smtp_user) != bool(smtp_password):
                raise SettingsError("give both SMTP_USER and SMTP_PASSWORD, or neither")
            if rate < 1:
                raise SettingsError(f"SMTP_RATE_PER_MINUTE={rate} must be 1 or more")
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
            public_base_url=(env.get("PUBLIC_BASE_URL", "").strip() or f"http://{host}:{port}").rstrip("/"),
            organizer_email=organizer or DEFAULT_ORGANIZER,
            reminder_hour=hour,
            smtp_host=smtp_host,
            smtp_port=smtp_port,
            smtp_user=smtp_user,
            smtp_password=smtp_password,
            smtp_from=_address(env, "SMTP_FROM"),
            smtp_starttls=_bool(env, "SMTP_STARTTLS", True),
            mail_per_minute=rate,
        )
