"""`cyder-bot demo` as a person runs it: a subprocess with a script piped into stdin."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent


def demo_env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("BOT_TOKEN", "CYDER_TODAY", "WEBHOOK_URL", "TELEGRAM_API_BASE")
    }
    return {
        **env,
        "CYDER_DB": str(tmp_path / "demo.db"),
        "HTTP_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def run_demo(tmp_path: Path, port: int, script: str, *args: str, **env: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=script,
        text=True,
        capture_output=True,
        cwd=ROOT,
        env=demo_env(tmp_path, port, **env),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_piped_script_shows_menu_nearby_sessions_and_a_card(tmp_path, unused_tcp_port):
    # plain `cyder-bot` (no BOT_TOKEN) is the demo; a location, then button [1]
    out = run_demo(tmp_path, unused_tcp_port, "34.3963,132.4596\n1\n:quit\n")
    assert "2024-06-01" in out and f"http://127.0.0.1:{unused_tcp_port}/healthz" in out
    assert "[1] 🔎 開催回を探す" in out  # the main menu, numbered
    listing = out.split("> 34.3963,132.4596", 1)[1]
    assert re.search(r"1\. ○ .*広島（広島県） · \d+ km", listing)
    card = out.split("> 1\n", 1)[1]
    assert "申込締切" in card and "[1] ✍️ 申し込む" in card and "2024-A-34-" in card
    assert out.rstrip().endswith("bye / さようなら")


def test_english_profile_by_button_numbers(tmp_path, unused_tcp_port):
    steps = [
        "4",
        "1",  # Profile -> Change
        "2",
        "1",  # local government, its own staff
    ]
    out = run_demo(tmp_path, unused_tcp_port, "\n".join(steps) + "\n", "demo", "--lang", "en")
    assert "Find sessions" in out and "Local government" in out
    assert "Where do you work?" in out


def test_end_of_input_bad_numbers_and_letters(tmp_path, unused_tcp_port):
    out = run_demo(tmp_path, unused_tcp_port, "99\nz\n", "demo")
    assert "(no button [99]" in out
    assert out.rstrip().endswith("bye / さようなら")


def test_cyder_today_overrides_the_demo_clock(tmp_path, unused_tcp_port):
    out = run_demo(tmp_path, unused_tcp_port, "", "demo", CYDER_TODAY="2024-09-01")
    assert "2024-09-01 (CYDER_TODAY)" in out and "2024-06-01" not in out


async def test_http_server_runs_beside_the_demo(tmp_path, unused_tcp_port):
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "demo",
        cwd=ROOT,
        env=demo_env(tmp_path, unused_tcp_port),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout and proc.stdin
    transcript = b""
    while b"[1]" not in transcript:  # the menu after the automatic /start
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line, (await proc.stderr.read()).decode()  # type: ignore[union-attr]
        transcript += line
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{unused_tcp_port}/healthz") as resp,
    ):
        assert resp.status == 200 and (await resp.json())["ok"] is True
    proc.stdin.write(b":quit\n")
    await proc.stdin.drain()
    assert await asyncio.wait_for(proc.wait(), 30) == 0


def test_a_new_user_registers_and_cancels_in_japanese_by_numbers(tmp_path, unused_tcp_port):
    """The whole flow of issue 3 typed into the demo as a person would."""
    script = [
        "34.3963,132.4596",  # share a location in Hiroshima city
        "1",  # the nearest session's card
        "1",  # 申し込む -> the profile questions come first
        "2",
        "1",  # 地方公共団体, its own staff
        "8",
        "4",  # 中国 -> 広島県
        "山田 花子",
        "広島県",
        "情報政策課",
        "hanako@pref.example.jp",
        "2",  # 次へ (no colleagues)
        "1",  # 申込を確定する
        "/my",
        "1",  # the registration
        "3",
        "1",  # この申込を取り消す -> yes
        ":quit",
    ]
    out = run_demo(tmp_path, unused_tcp_port, "\n".join(script) + "\n")
    assert "申込内容の確認" in out and "hanako@pref.example.jp" in out
    assert re.search(r"📎 cyder-2024-A-34-\d+\.ics \(\d+ bytes\)", out)
    after_my = out.split("> /my", 1)[1]
    assert "申込済み" in after_my
    cancelled = after_my.split("> 3\n", 1)[1]
    assert "取り消" in cancelled.split("> 1\n", 1)[1]
    con = sqlite3.connect(tmp_path / "demo.db")
    rows = con.execute("select name, status from registrations").fetchall()
    con.close()
    assert rows == [("山田 花子", "cancelled")]


def test_staff_commands_only_with_staff_flag(tmp_path, unused_tcp_port):
    staff = run_demo(tmp_path, unused_tcp_port, "/stats\n", "demo", "--staff")
    assert "申込状況" in staff.split("> /stats", 1)[1]
    user = run_demo(tmp_path, unused_tcp_port, "/stats\n", "demo")
    assert "申込状況" not in user.split("> /stats", 1)[1]


def test_a_calendar_file_shows_what_it_holds(tmp_path, unused_tcp_port):
    """Not only `📎 cyder-….ics (1351 bytes)`: its METHOD, title, dates and place."""
    ja = run_demo(tmp_path, unused_tcp_port, "/start 2024-A-34-1025\n2\n:quit\n")
    assert re.search(
        r"📎 cyder-2024-A-34-1025\.ics \(\d+ bytes\)\n"
        r"     📅 METHOD:PUBLISH · CYDER A（初級） 広島 · 2024-10-25 · 広島県 広島",
        ja,
    )
    en = run_demo(
        tmp_path / "en", unused_tcp_port, "/start 2024-A-34-1025\n2\n:quit\n", "demo", "--lang", "en"
    )
    assert "📅 METHOD:PUBLISH · CYDER A (Beginner) Hiroshima · 2024-10-25 · Hiroshima" in en
