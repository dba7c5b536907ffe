"""The "email" channel of the notification outbox: one queued row becomes one mail.

`MailChannel` is what `bot.telegram.notify.Notifier.channels["email"]` calls for a
claimed row (channel "email"). It answers as every channel does, and the Notifier
records the answer:

- "sent": the SMTP server took the message;
- "retry": a passing failure (a 4xx answer, the server unreachable, our own login or
  TLS refused: `TemporaryMailError`), tried again with the Notifier's backoff;
- "failed": a permanent refusal (5xx, an address that cannot be mailed:
  `PermanentMailError`), given up with one log line (row id, kind, SMTP code);
- "skipped": nothing to mail: mail is off (no SMTP_HOST), the registration is gone, or
  the mail no longer fits its state (`NothingToSend`: a confirmation for someone who
  cancelled since).

The message is built in a worker thread (`build_mail` reads SQLite) and sent with
aiosmtplib on the loop, paced by the Mailer (`SMTP_RATE_PER_MINUTE`). Logs carry row
ids, kinds and SMTP codes, never an address or a name. Nobody is mailed twice: the row
was claimed before, and is marked after; the one gap is a crash between the server's
"250" and the mark (then the same Message-ID goes again once).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from bot.config import Settings
from bot.mail.message import Mail, MailKind, NothingToSend, Office, build_mail
from bot.mail.sender import Mailer, PermanentMailError, TemporaryMailError
from catalog import notifications as nt
from catalog.clock import Clock
from catalog.errors import NotFound
from catalog.registrations import get_registration
from catalog.service import Catalog
from catalog.users import get_user

log = logging.getLogger("cyder.mail")

KIND = {
    nt.REGISTERED: MailKind.CONFIRMATION,
    nt.WAITLISTED: MailKind.CONFIRMATION,
    nt.PROMOTED: MailKind.PROMOTION,
    nt.CANCELLED: MailKind.CANCEL,
    nt.SESSION_CHANGED: MailKind.UPDATE,  # CANCEL when the session itself was cancelled
    nt.REMINDER: MailKind.REMINDER,
    nt.CORRECTED: MailKind.CORRECTION,
}


class MailChannel:
    """Sends the outbox's e-mail rows (`mailer` None: mail is off, every row skipped)."""

    def __init__(self, catalog: Catalog, office: Office, clock: Clock, mailer: Mailer | None) -> None:
        self.catalog = catalog
        self.office = office
        self.clock = clock
        self.mailer = mailer

    @classmethod
    def from_settings(cls, catalog: Catalog, settings: Settings, clock: Clock) -> MailChannel:
        return cls(catalog, Office.from_settings(settings), clock, Mailer.from_settings(settings))

    @property
    def enabled(self) -> bool:
        """Whether mail is on (an SMTP server is set)."""
        return self.mailer is not None

    def build(self, row: nt.Notification) -> Mail | None:
        """The mail for a row as the catalog stands now; None when there is nothing to
        send. Reads SQLite: call it in a worker thread."""
        kind = KIND.get(row.kind)
        if kind is None or row.registration_id is None:
            return None
        try:
            reg = get_registration(self.catalog, row.registration_id)
            if kind is MailKind.UPDATE and self.catalog.session(reg.session_id).cancelled:
                kind = MailKind.CANCEL
            copy = None
            if kind is MailKind.CANCEL and row.payload.get("moved_from"):
                # a staff move: cancel the old copy (its session, one SEQUENCE above the last)
                copy = dataclasses.replace(
                    reg,
                    session_id=str(row.payload["moved_from"]),
                    status="cancelled",
                    position=None,
                    cancelled_at=reg.updated_at,
                    sequence=int(row.payload.get("sequence") or 0),
                )
            elif kind is MailKind.CANCEL and row.payload.get("old_email"):
                # a corrected address: cancel the copy the old address holds (same UID)
                kind = MailKind.ADDRESS_CHANGED
                copy = dataclasses.replace(
                    reg,
                    email=str(row.payload["old_email"]),
                    status="cancelled",
                    position=None,
                    cancelled_at=reg.updated_at,
                    sequence=int(row.payload.get("sequence") or reg.sequence),
                )
            elif kind is MailKind.CORRECTION and row.email != reg.email:
                return None  # corrected again since: the later correction's rows tell
            return build_mail(
                self.catalog,
                reg.id,
                kind,
                office=self.office,
                now=self.clock.now(),
                lang=self._lang(row, reg.user_id),
                registration=copy,
            )
        except (NothingToSend, NotFound):
            return None

    def _lang(self, row: nt.Notification, user_id: int | None) -> str:
        """The reader's language: the acting chat's, else the registrant's chat's, else
        Japanese (a colleague without a chat; the body carries English too)."""
        lang = row.payload.get("lang")
        if lang in ("ja", "en"):
            return str(lang)
        user = get_user(self.catalog.store, user_id) if user_id is not None else None
        return "en" if user and (user.lang or "").startswith("en") else "ja"

    async def __call__(self, bot: Any, row: nt.Notification, paced: bool) -> str:
        if self.mailer is None or row.email is None:
            return nt.SKIPPED
        mail = await asyncio.to_thread(self.build, row)
        if mail is None:
            return nt.SKIPPED
        try:
            await self.mailer.send(mail.message)
        except TemporaryMailError:
            return nt.RETRY  # logged by the Mailer (Message-ID, code); the Notifier backs off
        except PermanentMailError as e:
            log.warning("%s mail notification %s given up: SMTP %s", row.kind, row.id, e.code or "-")
            return nt.FAILED
        return nt.SENT
