"""Mail: iMIP invites and notices built (`message`) and sent over SMTP (`sender`)."""

from bot.mail.message import Mail, MailKind, NothingToSend, Office, build_mail
from bot.mail.sender import Mailer, MailError, PermanentMailError, SmtpConfig, TemporaryMailError

__all__ = [
    "Mail",
    "MailError",
    "MailKind",
    "Mailer",
    "NothingToSend",
    "Office",
    "PermanentMailError",
    "SmtpConfig",
    "TemporaryMailError",
    "build_mail",
]
