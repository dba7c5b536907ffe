"""The staff labels the catalog says (audit entries' action, who and details, a schedule
edit's result, an import preview's line) in Japanese and English: the exact text they had
as ja/en string pairs, now that they are gettext messages rendered through `say`; the
command line's English (`english`, no .po files) is the same as the .po's English."""

from __future__ import annotations

from typing import Any

import pytest

from bot.telegram.i18n import say
from catalog.audit import ACTIONS, Entry
from catalog.i18n import english
from catalog.schedule_edit import Change, EditResult
from catalog.schedule_import import describe


def entry(
    action: str = "edited", who: str = "cli", via: str = "cli", staff: bool = True, **details: Any
) -> Entry:
    return Entry(1, "2024-06-01T10:00:00+09:00", who, via, staff, action, "S", 7, details)


WHO = {
    "cli": entry(who="cli", via="cli"),
    "admin": entry(who="admin-web", via="admin-web"),
    "admin-key": entry(who="admin-web:ab12cd34", via="admin-web"),
    "deleted": entry(who="deleted-user", via="chat", staff=False),
    "staff-chat": entry(who="42", via="chat"),
    "user-chat": entry(who="1001", via="chat", staff=False),
    "staff-cli": entry(who="42", via="cli"),
    "staff-web": entry(who="42", via="admin-web"),
    "staff-odd": entry(who="42", via="fax"),
    "user-odd": entry(who="1001", via="fax", staff=False),
}
LABELS = {a: entry(action=a) for a in [*ACTIONS, "something_new"]}
SUMMARIES = {
    "cancelled-reason": entry("cancelled", reason="本人から電話で辞退の連絡"),
    "cancelled-none": entry("cancelled"),
    "moved": entry("moved", **{"from": "A", "to": "B"}),
    "moved-wait": entry("moved", **{"from": "A", "to": "B", "status": "waitlisted"}),
    "moved-bare": entry("moved"),
    "promoted-auto": entry("promoted", auto=True),
    "promoted-hand": entry("promoted"),
    "edited": entry(
        "edited",
        before={"name": "山田", "organisation": "広島市", "department": "", "email": "a@b.jp"},
        after={
            "name": "山田 太郎",
            "organisation": "YOKOHAMA市",
            "department": "情報課",
            "email": "c@d.jp",
            "phone": "0",
        },
    ),
    "edited-new": entry("edited", after={"email": "x@y.jp"}),
    "registered-source": entry("registered", source="chat"),
    "waitlisted-source": entry("waitlisted", source="csv"),
    "registered-none": entry("registered"),
    "imported": entry("imported", file="roster.csv"),
    "teams": entry("teams_formed", sizes=[5, 5, 4]),
    "teams-empty": entry("teams_formed", sizes=[]),
    "team-moved": entry("team_moved", team=2),
    "forgotten": entry("forgotten", registrations=3),
    "redacted": entry("cancelled", redacted=True),
    "redacted-moved": entry("moved", redacted=True, **{"from": "A", "to": "B"}),
    "other": entry("session_added", x=1),
}
EDITS = {
    f"{k}-{n}": EditResult("2024-A-13-0709", k, (), tuple(range(n)))
    for k in ("added", "updated", "adjusted", "unchanged", "cancelled")
    for n in (0, 2)
}
ROW = {
    "course": "A",
    "first_day": "2024-07-09",
    "last_day": "2024-07-09",
    "prefecture": "東京都",
    "city": "千代田区",
}
ROW2 = {**ROW, "last_day": "2024-07-10", "venue": "新会場", "capacity": 40, "start_time": None}
BEFORE = {
    **ROW,
    "venue": "旧会場",
    "capacity": 30,
    "start_time": "09:30",
    "status": "open",
    "end_time": None,
    "address": "x",
    "venue_lat": 35.0,
    "venue_lon": 139.0,
}
ALL = (
    "first_day",
    "last_day",
    "prefecture",
    "city",
    "venue",
    "address",
    "start_time",
    "end_time",
    "capacity",
    "status",
    "venue_lat",
    "venue_lon",
)
AFTER_ALL = {
    "course": "A",
    "first_day": "2024-07-10",
    "last_day": "2024-07-11",
    "prefecture": "大阪府",
    "city": "大阪市",
    "venue": "v",
    "address": None,
    "start_time": "10:00",
    "end_time": "17:00",
    "capacity": 20,
    "status": "closed",
    "venue_lat": 34.0,
    "venue_lon": 135.0,
}
CHANGES = {
    "added": Change("added", "S", None, ROW, ()),
    "cancelled": Change("cancelled", "S", BEFORE, {**ROW, "status": "cancelled"}, ("status",)),
    "updated": Change("updated", "S", BEFORE, ROW2, ("last_day", "venue", "capacity", "start_time")),
    "all": Change("updated", "S", BEFORE, AFTER_ALL, ALL),
    "unknown-field": Change("adjusted", "S", BEFORE, ROW, ("notes",)),
    "nothing": Change("unchanged", "S", BEFORE, ROW, ()),
}


EXPECTED: dict[tuple[str, str], dict[str, str]] = {
    ("describe", "en"): {
        "added": "A 2024-07-09 東京都 千代田区",
        "all": "A 2024-07-10–2024-07-11 大阪府 大阪市 (first day: 2024-07-09 → 2024-07-10; "
        "last day: 2024-07-09 → 2024-07-11; prefecture: 東京都 → 大阪府; city: 千代田区 "
        "→ 大阪市; venue: 旧会場 → v; address: x → -; start: 09:30 → 10:00; end: - "
        "→ 17:00; capacity: 30 → 20; status: open → closed; latitude: 35.0 → "
        "34.0; longitude: 139.0 → 135.0)",
        "cancelled": "A 2024-07-09 東京都 千代田区",
        "nothing": "A 2024-07-09 東京都 千代田区",
        "unknown-field": "A 2024-07-09 東京都 千代田区",
        "updated": "A 2024-07-09–2024-07-10 東京都 千代田区 (last day: 2024-07-09 → "
        "2024-07-10; venue: 旧会場 → 新会場; capacity: 30 → 40; start: 09:30 → "
        "-)",
    },
    ("describe", "ja"): {
        "added": "A 2024-07-09 東京都 千代田区",
        "all": "A 2024-07-10–2024-07-11 大阪府 大阪市 (初日: 2024-07-09 → 2024-07-10; 最終日: "
        "2024-07-09 → 2024-07-11; 都道府県: 東京都 → 大阪府; 市区町村: 千代田区 → 大阪市; 会場: 旧会場 "
        "→ v; 住所: x → -; 開始: 09:30 → 10:00; 終了: - → 17:00; 定員: 30 → 20; 状態: "
        "open → closed; 緯度: 35.0 → 34.0; 経度: 139.0 → 135.0)",
        "cancelled": "A 2024-07-09 東京都 千代田区",
        "nothing": "A 2024-07-09 東京都 千代田区",
        "unknown-field": "A 2024-07-09 東京都 千代田区",
        "updated": "A 2024-07-09–2024-07-10 東京都 千代田区 (最終日: 2024-07-09 → 2024-07-10; "
        "会場: 旧会場 → 新会場; 定員: 30 → 40; 開始: 09:30 → -)",
    },
    ("edit", "en"): {
        "added-0": "2024-A-13-0709: added",
        "added-2": "2024-A-13-0709: added; 2 promoted from the waitlist",
        "adjusted-0": "2024-A-13-0709: capacity changed",
        "adjusted-2": "2024-A-13-0709: capacity changed; 2 promoted from the waitlist",
        "cancelled-0": "2024-A-13-0709: cancelled (registrants will be told)",
        "cancelled-2": "2024-A-13-0709: cancelled (registrants will be told); 2 promoted from the waitlist",
        "unchanged-0": "2024-A-13-0709: nothing changed",
        "unchanged-2": "2024-A-13-0709: nothing changed; 2 promoted from the waitlist",
        "updated-0": "2024-A-13-0709: changed (registrants will be told)",
        "updated-2": "2024-A-13-0709: changed (registrants will be told); 2 promoted from the waitlist",
    },
    ("edit", "ja"): {
        "added-0": "2024-A-13-0709: 追加しました",
        "added-2": "2024-A-13-0709: 追加しました。キャンセル待ちから2名が繰り上がりました",
        "adjusted-0": "2024-A-13-0709: 定員を変更しました",
        "adjusted-2": "2024-A-13-0709: 定員を変更しました。キャンセル待ちから2名が繰り上がりました",
        "cancelled-0": "2024-A-13-0709: 中止にしました（登録者に通知します）",
        "cancelled-2": "2024-A-13-0709: 中止にしました（登録者に通知します）。キャンセル待ちから2名が繰り上がりました",
        "unchanged-0": "2024-A-13-0709: 変更はありません",
        "unchanged-2": "2024-A-13-0709: 変更はありません。キャンセル待ちから2名が繰り上がりました",
        "updated-0": "2024-A-13-0709: 変更しました（登録者に通知します）",
        "updated-2": "2024-A-13-0709: 変更しました（登録者に通知します）。キャンセル待ちから2名が繰り上がりました",
    },
    ("label", "en"): {
        "cancelled": "cancelled",
        "edited": "edited",
        "forgotten": "data deleted",
        "imported": "imported",
        "moved": "moved",
        "promoted": "promoted",
        "registered": "registered",
        "schedule_imported": "schedule imported",
        "session_added": "session added",
        "session_cancelled": "session cancelled",
        "session_edited": "session edited",
        "something_new": "something_new",
        "team_moved": "team move",
        "teams_formed": "teams formed",
        "waitlisted": "waitlisted",
    },
    ("label", "ja"): {
        "cancelled": "取消",
        "edited": "修正",
        "forgotten": "データ削除",
        "imported": "取込",
        "moved": "開催回の変更",
        "promoted": "繰上げ",
        "registered": "申込",
        "schedule_imported": "日程の取込",
        "session_added": "開催回の追加",
        "session_cancelled": "開催回の中止",
        "session_edited": "開催回の変更",
        "something_new": "something_new",
        "team_moved": "チーム移動",
        "teams_formed": "チーム編成",
        "waitlisted": "キャンセル待ち登録",
    },
    ("summary", "en"): {
        "cancelled-none": "",
        "cancelled-reason": "reason: 本人から電話で辞退の連絡",
        "edited": "name: '山田' → '山田 太郎'; organisation: '広島市' → 'YOKOHAMA市'; "
        "department: '' → '情報課'; e-mail: 'a@b.jp' → 'c@d.jp'; phone: '' → "
        "'0'",
        "edited-new": "e-mail: '' → 'x@y.jp'",
        "forgotten": "3 registration(s)",
        "imported": "roster.csv",
        "moved": "A → B",
        "moved-bare": "? → ?",
        "moved-wait": "A → B; to the waitlist",
        "other": "",
        "promoted-auto": "a seat was freed",
        "promoted-hand": "by hand",
        "redacted": "details deleted",
        "redacted-moved": "A → B; details deleted",
        "registered-none": "",
        "registered-source": "via chat",
        "team-moved": "to team 2",
        "teams": "5+5+4",
        "teams-empty": "0",
        "waitlisted-source": "via csv",
    },
    ("summary", "ja"): {
        "cancelled-none": "",
        "cancelled-reason": "理由: 本人から電話で辞退の連絡",
        "edited": "氏名: '山田' → '山田 太郎'; 所属: '広島市' → 'YOKOHAMA市'; 部署: '' → '情報課'; メール: "
        "'a@b.jp' → 'c@d.jp'; phone: '' → '0'",
        "edited-new": "メール: '' → 'x@y.jp'",
        "forgotten": "申込3件",
        "imported": "roster.csv",
        "moved": "A → B",
        "moved-bare": "? → ?",
        "moved-wait": "A → B; キャンセル待ちへ",
        "other": "",
        "promoted-auto": "空席による自動繰上げ",
        "promoted-hand": "手動",
        "redacted": "詳細は削除済み",
        "redacted-moved": "A → B; 詳細は削除済み",
        "registered-none": "",
        "registered-source": "経路: chat",
        "team-moved": "チーム2へ",
        "teams": "5+5+4",
        "teams-empty": "0",
        "waitlisted-source": "経路: csv",
    },
    ("who", "en"): {
        "admin": "admin page",
        "admin-key": "admin page (ab12cd34)",
        "cli": "CLI",
        "deleted": "deleted user",
        "staff-chat": "staff 42 (chat)",
        "staff-cli": "staff 42 (CLI)",
        "staff-odd": "staff 42 (fax)",
        "staff-web": "staff 42 (admin page)",
        "user-chat": "user 1001 (chat)",
        "user-odd": "user 1001 (fax)",
    },
    ("who", "ja"): {
        "admin": "管理画面",
        "admin-key": "管理画面 (ab12cd34)",
        "cli": "CLI",
        "deleted": "削除済みの利用者",
        "staff-chat": "スタッフ 42 (チャット)",
        "staff-cli": "スタッフ 42 (CLI)",
        "staff-odd": "スタッフ 42 (fax)",
        "staff-web": "スタッフ 42 (管理画面)",
        "user-chat": "利用者 1001 (チャット)",
        "user-odd": "利用者 1001 (fax)",
    },
}

CASES: dict[str, dict[str, Any]] = {
    "who": WHO,
    "label": LABELS,
    "summary": SUMMARIES,
    "edit": EDITS,
    "describe": CHANGES,
}


def said(kind: str, x: Any) -> Any:
    """What the catalog says for case `x` of `kind` (a message, not yet text)."""
    if kind == "who":
        return x.who_text()
    if kind == "label":
        return x.label()
    if kind in ("summary", "edit"):
        return x.summary()
    return describe(x)


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("kind", list(CASES))
def test_staff_labels_say_what_they_said(kind: str, lang: str) -> None:
    got = {k: say(said(kind, x), lang) for k, x in CASES[kind].items()}
    assert got == EXPECTED[(kind, lang)]


@pytest.mark.parametrize("kind", list(CASES))
def test_the_command_lines_english_is_the_po_files(kind: str) -> None:
    got = {k: english(said(kind, x)) for k, x in CASES[kind].items()}
    assert got == EXPECTED[(kind, "en")]
