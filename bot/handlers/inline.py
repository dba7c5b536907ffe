"""inline (in progress)."""

from aiogram import Router

router = Router(name="inline")
