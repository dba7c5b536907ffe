"""profile (in progress)."""

from aiogram import Router

router = Router(name="profile")
