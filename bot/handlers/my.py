"""my (in progress)."""

from aiogram import Router

router = Router(name="my")
