"""Chat handlers driven through the real Dispatcher with a recording Bot session."""

from __future__ import annotations

from tests.conftest import ChatUser


async def test_start_ja(user: ChatUser) -> None:
    await user.send("/start")
    assert "CYDER" in user.text()
    assert user.buttons()
