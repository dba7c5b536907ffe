"""Sending mail over SMTP with aiosmtplib: paced, and every failure classified.

`Mailer.send` either returns (the server took the message) or raises:
- `TemporaryMailError`: worth trying again later with backoff — a 4xx answer,
  a connection refused, dropped or timed out, and also our own setup refused
  by the server (login, STARTTLS, sender address: every message would fail
  the same way until an operator fixes it, so none is given up; `setup` says so);
- `PermanentMailError`: give this message up and log it — a 5xx answer about
  the message or its recipient, or an address that cannot be mailed at all.

Nothing here logs or raises with an address or a name: logs carry the
Message-ID (built from ids only) and the SMTP code; server texts are scrubbed
of anything that looks like an address. One connection per message keeps a
failure from touching the next one; the pace (`SMTP_RATE_PER_MINUTE`) is a
steady leaky bucket (aiolimiter), so a run of mail never bursts.
"""

from __future__ import annotations

import logging
import re
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses

import aiosmtplib
from aiolimiter import AsyncLimiter

from bot.config import Settings
from catalog.validation import EMAIL_RE

log = logging.getLogger("cyder.mail")

_ADDRESS = re.compile(r"<?[^\s<>@]+@[^\s<>@]+>?")


def scrub(text: str) -> str:
    """Server text without anything that looks like an e-mail address."""
    return _ADDRESS.sub("<address>", text or "").strip()[:200]


class MailError(Exception):
    """A message not sent: `code` is the SMTP reply code when there was one."""

    temporary = False

    def __init__(self, reason: str, code: int | None = None, *, setup: bool = False) -> None:
        self.reason = scrub(reason)
        self.code = code
        self.setup = setup
        super().__init__(f"{code} {self.reason}" if code else self.reason)


class TemporaryMailError(MailError):
    """Try again later (with backoff)."""

    temporary = True


class PermanentMailError(MailError):
    """Give this message up: it will never go through as it is."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 587
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    per_minute: int = 30
    timeout: float = 30.0
    tls_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig | None:
        """The server from the settings; None when mail is off (no SMTP_HOST)."""
        if not settings.smtp_host:
            return None
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_user,
            settings.smtp_password,
            settings.smtp_starttls,
            settings.mail_per_minute,
            settings.smtp_timeout,
        )


def _recipients(message: EmailMessage) -> list[str]:
    values = [str(v) for k in ("To", "Cc", "Bcc") for v in message.get_all(k, [])]
    return [addr for _name, addr in getaddresses(values) if addr]


def classify(error: BaseException) -> MailError:
    """What an aiosmtplib (or socket) failure means for this message."""
    if isinstance(error, MailError):
        return error
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in error.recipients]
        code = max(codes) if codes else None
        text = error.recipients[0].message if error.recipients else "recipient refused"
        if code is not None and 400 <= code < 500:
            return TemporaryMailError(text, code)
        return PermanentMailError(text, code)
    if isinstance(error, aiosmtplib.SMTPAuthenticationError | aiosmtplib.SMTPSenderRefused):
        return TemporaryMailError(error.message, error.code, setup=True)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        if 500 <= error.code < 600:
            return PermanentMailError(error.message, error.code)
        return TemporaryMailError(error.message, error.code)
    if isinstance(error, aiosmtplib.SMTPNotSupported):  # e.g. no STARTTLS offered
        return TemporaryMailError(str(error), setup=True)
    if isinstance(error, aiosmtplib.SMTPException | OSError | TimeoutError):
        return TemporaryMailError(type(error).__name__ + ": " + str(error))
    return TemporaryMailError(type(error).__name__)


class Mailer:
    """Sends `EmailMessage`s through one SMTP server at a steady pace."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self.limiter = AsyncLimiter(1, 60.0 / max(1, config.per_minute))

    @classmethod
    def from_settings(cls, settings: Settings) -> Mailer | None:
        """A Mailer when mail is on (SMTP_HOST set), else None."""
        config = SmtpConfig.from_settings(settings)
        return cls(config) if config else None

    async def send(self, message: EmailMessage) -> None:
        """Hand one message to the server; TemporaryMailError / PermanentMailError."""
        mid = str(message.get("Message-ID", "-"))
        recipients = _recipients(message)
        if not recipients or not all(EMAIL_RE.match(a) for a in recipients):
            log.warning("mail %s not sent: bad address (permanent)", mid)
            raise PermanentMailError("bad address")
        async with self.limiter:
            try:
                await self._deliver(message)
            except Exception as e:
                err = classify(e)
                kind = "temporary" if err.temporary else "permanent"
                log.warning("mail %s not sent (%s%s): %s", mid, kind, ", setup" if err.setup else "", err)
                raise err from None
        log.info("mail %s sent", mid)

    async def _deliver(self, message: EmailMessage) -> None:
        """One connection: TLS and login (a failure there is ours: `setup`), then the
        message (a refusal there is about the message)."""
        c = self.config
        implicit_tls = c.port == 465
        smtp = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            use_tls=implicit_tls,
            start_tls=False,
            tls_context=c.tls_context,
            timeout=c.timeout,
        )
        await smtp.connect()
        try:
            try:
                if c.starttls and not implicit_tls:
                    await smtp.starttls(tls_context=c.tls_context)
                if c.user and c.password:
                    await smtp.login(c.user, c.password)
            except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPNotSupported) as e:
                raise TemporaryMailError(
                    str(getattr(e, "message", e)), getattr(e, "code", None), setup=True
                ) from None
            except aiosmtplib.SMTPException as e:
                if isinstance(e, OSError):  # the connection itself: not our setup
                    raise
                raise TemporaryMailError(str(e), setup=True) from None
            await smtp.send_message(message)
        finally:
            if smtp.is_connected:
                try:
                    await smtp.quit()
                except (aiosmtplib.SMTPException, OSError):
                    smtp.close()
