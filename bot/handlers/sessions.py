"""Find sessions and show a session card (in progress)."""

from __future__ import annotations

import datetime as dt

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot.handlers.common import session_card, show
from catalog.service import Catalog
from catalog.sessions import Session
from catalog.users import User

router = Router(name="sessions")


async def send_card(event: Message | CallbackQuery, session: Session, *, catalog: Catalog,
                    today: dt.date, user_record: User | None, lang: str) -> None:
    profile = user_record.profile if user_record else None
    await show(event, session_card(catalog, session, profile, today, lang))
