"""The Outbox against the fake Bot API server with Telegram's flood limits switched on."""

from __future__ import annotations

import pytest

from bot.demo.fake_telegram import FakeTelegram
from bot.telegram.outbox import Outbox, Progress, Summary
from catalog import reminders as notes
from catalog.clock import Clock
from tests.util_catalog import make_catalog

pytestmark = pytest.mark.telegram_limits

STAFF = 9000


@pytest.fixture
def catalog(tmp_path):
    return make_catalog(tmp_path / "cyder.db")


@pytest.fixture
def outbox(tg_bot, catalog):
    return Outbox(tg_bot, catalog, Clock())


def requests(tg: FakeTelegram, method: str = "sendMessage", chat_id: int | None = None):
    """Every request of a method (refused ones too), optionally to one chat."""
    return [c for c in tg.calls if c.method == method and (chat_id is None or c.chat_id == chat_id)]


def max_in_window(times: list[float], width: float = 1.0) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= width:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def test_broadcast_stays_under_30_per_second_and_gets_no_429(tg, outbox):
    chats = list(range(1, 46))
    summary = await outbox.broadcast((c, f"hello {c}") for c in chats)
    assert (summary.sent, summary.failed, summary.blocked) == (45, 0, 0)
    sends = requests(tg)
    assert [c.status for c in sends] == [200] * 45  # no 429 at all
    assert sorted(c.chat_id for c in sends) == chats
    assert max_in_window([c.at for c in sends]) <= 30
    # ...and it does not crawl either: 45 messages at ~29/s take about 1.5 s.
    span = max(c.at for c in sends) - min(c.at for c in sends)
    assert 1.2 < span < 3.0


async def test_one_chat_gets_at_most_one_message_per_second(tg, outbox):
    for i in range(3):
        assert await outbox.send(77, f"message {i}") == "sent"
    sends = requests(tg, chat_id=77)
    assert [c.status for c in sends] == [200, 200, 200]
    gaps = [b.at - a.at for a, b in zip(sends, sends[1:], strict=False)]
    assert all(g >= 0.95 for g in gaps), gaps


async def test_429_retry_after_is_waited_out_and_the_message_still_goes(tg, outbox):
    tg.fail_next(1, 429, retry_after=1, methods=["sendMessage"])
    summary = await outbox.broadcast([(5, "a"), (6, "b")])
    assert (summary.sent, summary.failed, summary.retried_429) == (2, 0, 1)
    sends = requests(tg)
    refused = [c for c in sends if c.status == 429]
    later = [c for c in sends if c.status == 200]
    assert len(refused) == 1 and len(later) == 2
    assert {c.chat_id for c in later} == {5, 6}
    # Everyone paused for retry_after, not only the refused sender.
    assert min(c.at for c in later) - refused[0].at >= 0.95


async def test_blocked_user_is_recorded_and_skipped_next_time(tg, outbox, catalog):
    tg.block(42)
    first = await outbox.broadcast([(41, "x"), (42, "x"), (43, "x")])
    assert (first.sent, first.blocked, first.results[42]) == (2, 1, "blocked")
    assert notes.blocked_chats(catalog.store) == {42}
    before = len(requests(tg, chat_id=42))
    assert before == 1
    second = await outbox.broadcast([(41, "y"), (42, "y")])
    assert (second.sent, second.blocked) == (1, 1)
    assert len(requests(tg, chat_id=42)) == before  # not tried again
    assert await outbox.send(42, "z") == "blocked"
    assert len(requests(tg, chat_id=42)) == before


async def test_failed_sends_are_counted_not_retried_forever(tg, outbox):
    summary = await outbox.broadcast([(1, "ok"), (2, "   ")])  # empty text: 400
    assert (summary.sent, summary.failed, summary.results[2]) == (1, 1, "failed")
    assert [c.status for c in requests(tg, chat_id=2)] == [400]


async def test_progress_message_is_edited_while_sending_and_at_the_end(tg, tg_bot, catalog):
    outbox = Outbox(tg_bot, catalog, Clock(), progress_every=0.5)
    status = await tg_bot.send_message(STAFF, "starting")

    def render(s: Summary) -> str:
        return f"{s.done}/{s.total} sent={s.sent} failed={s.failed} blocked={s.blocked}"

    tg.block(3)
    summary = await outbox.broadcast(
        ((c, "hi") for c in range(1, 121)), progress=Progress(STAFF, status.message_id, render)
    )
    edits = [c for c in tg.calls_of("editMessageText") if c.ok]
    assert len(edits) >= 3  # several updates during ~4 s, plus the final one
    assert all(c.params["message_id"] == status.message_id for c in edits)
    assert tg.message(STAFF, status.message_id)["text"] == "120/120 sent=119 failed=0 blocked=1"
    assert summary.total == 120
    assert len(edits) < 10  # throttled, not one edit per message
    gaps = [b.at - a.at for a, b in zip(edits, edits[1:], strict=False)]
    assert all(g >= 0.95 for g in gaps), gaps  # and within the staff chat's 1/s
