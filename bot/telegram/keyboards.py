"""Keyboard builders. They take domain objects and return markup; texts are translated
in the current locale (call them inside a handler)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from aiogram.utils.i18n import gettext as _

from bot.telegram.callbacks import (
    CourseCB,
    DraftCB,
    FindCB,
    ForgetCB,
    LangCB,
    MateCB,
    MenuCB,
    MyCB,
    ProfileCB,
    RegCB,
    RegionCB,
    SearchFeedCB,
    SessionCB,
    StaffCB,
    SubCB,
)
from catalog import places
from catalog.eligibility import OrgType
from catalog.sessions import Session

_T = TypeVar("_T")


# Buttons shown before, by text and callback data (type and field values). A results page
# or a card builds a score of buttons, and building one (packing its data, then pydantic
# validating it) costs more than the rest of the line it stands for: with this cache a
# typed-place search takes 0.96–1.03 ms (CPU, p50) instead of 1.27 ms, a results page
# 0.80 ms instead of 1.07 ms, the menu 0.33 instead of 0.38 ms (bench_dispatcher's
# updates, one kind at a time; without it the benchmark's ratio fell to 0.31, target 0.30).
# Re-measured with the one catalog snapshot (bench_dispatcher --cpu, 3 runs): the
# prefecture search's p50 1.09–1.16 ms with it, 1.32–1.38 ms without; ratio 0.31–0.33
# with, 0.29–0.32 without. Again once every update's background work counted (writes
# on the loop; 3 runs): searches 1.01–1.08 ms with it, 1.25–1.34 ms without; ratio
# 0.30–0.31 with, 0.27–0.28 without. (A cache of whole keyboards by locale on top of it
# showed no figure, 0.30 either way, and went.)
# Shared objects are safe: aiogram never mutates a markup it sends.
_BUTTONS: dict[tuple[Any, ...], InlineKeyboardButton] = {}


def button(text: str, cb: CallbackData) -> InlineKeyboardButton:
    """A callback button, shared with every earlier one of the same text and data."""
    key = (text, type(cb), *cb.__dict__.values())
    made = _BUTTONS.get(key)
    if made is None:
        if len(_BUTTONS) >= 4096:
            _BUTTONS.clear()
        made = _BUTTONS[key] = InlineKeyboardButton(text=text, callback_data=cb.pack())
    return made


def url_button(text: str, url: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, url=url)


def markup(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=rows)


class Rows:
    """A small keyboard builder. (aiogram's InlineKeyboardBuilder deep-copies the whole
    markup on export, which cost more than the rest of a handler.)"""

    def __init__(self) -> None:
        self.rows: list[list[InlineKeyboardButton]] = []

    def row(self, *buttons: InlineKeyboardButton) -> Rows:
        if buttons:
            self.rows.append(list(buttons))
        return self

    def grid(self, buttons: Sequence[InlineKeyboardButton], width: int) -> Rows:
        for i in range(0, len(buttons), width):
            self.rows.append(list(buttons[i : i + width]))
        return self

    def as_markup(self) -> InlineKeyboardMarkup:
        return markup(self.rows)


def back_to_menu() -> InlineKeyboardButton:
    return button(_("⬅️ Menu"), MenuCB(action="start"))


def main_menu() -> InlineKeyboardMarkup:
    rows = [
        [
            button(_("🔎 Find sessions"), MenuCB(action="find")),
            button(_("📚 Courses"), MenuCB(action="courses")),
        ],
        [
            button(_("📝 My registrations"), MenuCB(action="my")),
            button(_("👤 Profile"), MenuCB(action="profile")),
        ],
        [
            button(_("📅 Calendar feed"), MenuCB(action="sub")),
            button(_("🌐 Language"), MenuCB(action="lang")),
        ],
        [button(_("❓ Help"), MenuCB(action="help"))],
    ]
    return markup(rows)


def only_menu() -> InlineKeyboardMarkup:
    return markup([[back_to_menu()]])


def languages() -> InlineKeyboardMarkup:
    return markup([[button("日本語", LangCB(lang="ja")), button("English", LangCB(lang="en"))]])


def region_name(region: places.Region, lang: str) -> str:
    return region.name_en if lang == "en" else region.name


def pref_name(pref: places.Prefecture, lang: str) -> str:
    return pref.romaji if lang == "en" else pref.name


def org_types(types: Sequence[OrgType], lang: str) -> InlineKeyboardMarkup:
    return markup(
        [[button(t.name_en if lang == "en" else t.name_ja, ProfileCB(step="o", value=t.code))] for t in types]
    )


def work_question() -> InlineKeyboardMarkup:
    return markup(
        [
            [button(_("Staff of this organisation"), ProfileCB(step="w", value="staff"))],
            [button(_("Dispatched worker (派遣) under its direction"), ProfileCB(step="w", value="disp"))],
            [button(_("Contractor (請負) running its systems"), ProfileCB(step="w", value="cont"))],
        ]
    )


def profile_regions(lang: str) -> InlineKeyboardMarkup:
    kb = Rows().grid(
        [
            button(region_name(r, lang), ProfileCB(step="r", value=str(i)))
            for i, r in enumerate(places.REGIONS)
        ],
        3,
    )
    return kb.row(button(_("Skip"), ProfileCB(step="f", value="0"))).as_markup()


def profile_prefectures(region: places.Region, lang: str) -> InlineKeyboardMarkup:
    kb = Rows().grid(
        [
            button(pref_name(places.prefecture(code), lang), ProfileCB(step="f", value=str(code)))
            for code in region.prefectures
        ],
        3,
    )
    return kb.row(button(_("⬅️ Back"), ProfileCB(step="x", value=""))).as_markup()


def profile_view() -> InlineKeyboardMarkup:
    return markup([[button(_("✏️ Change"), ProfileCB(step="e"))], [back_to_menu()]])


def find_menu(lang: str, home: int | None = None) -> InlineKeyboardMarkup:
    """Regions, "near me", everything; with `home` (the profile's prefecture) a first
    button for that prefecture and its neighbours."""
    kb = Rows()
    if home:
        kb.row(
            button(
                _("🏠 {pref} and nearby").format(pref=pref_name(places.prefecture(home), lang)),
                FindCB(kind="q", key=str(home)),
            )
        )
    kb.grid([button(region_name(r, lang), RegionCB(idx=i)) for i, r in enumerate(places.REGIONS)], 3)
    kb.row(button(_("📍 Near me"), MenuCB(action="near")), button(_("🗓 All upcoming"), FindCB(kind="a")))
    kb.row(back_to_menu())
    return kb.as_markup()


def region_prefectures(idx: int, region: places.Region, lang: str) -> InlineKeyboardMarkup:
    kb = Rows().grid(
        [
            button(pref_name(places.prefecture(code), lang), FindCB(kind="p", key=str(code)))
            for code in region.prefectures
        ],
        3,
    )
    kb.row(button(_("The whole region"), FindCB(kind="r", key=str(idx))))
    kb.row(button(_("⬅️ Back"), MenuCB(action="find")))
    return kb.as_markup()


def location_request() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=_("📍 Send my location"), request_location=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
        input_field_placeholder=_("or type a place: 広島, Sapporo…"),
    )


def _search_order(cb: FindCB, lang: str) -> list[InlineKeyboardButton]:
    """Switch the order of a search from a point: its own, by date, nearest first."""
    if cb.kind not in ("q", "n"):
        return []
    choices = [("d", _("📅 By date")), ("k", _("📏 Nearest first"))]
    if cb.kind == "q":
        pref = places.prefecture(int(cb.key))
        choices.insert(0, ("", _("🏠 {pref} first").format(pref=pref_name(pref, lang))))
    current = cb.sort or ("k" if cb.kind == "n" else "")
    return [
        button(f"• {label}" if key == current else label, cb.model_copy(update={"sort": key, "page": 0}))
        for key, label in choices
    ]


def search_results(
    cb: FindCB,
    lang: str,
    *,
    sessions: Sequence[tuple[str, str]],
    page: int,
    pages: int,
    codes: Sequence[str],
    has_profile: bool,
    instead: Sequence[tuple[str, str]] | None = None,
    offer_year: bool = False,
) -> InlineKeyboardMarkup:
    """The buttons under one page of a search. `sessions`: the page's (id, label) each,
    empty when nothing is shown; `codes`: the courses to filter on, in order; `instead`:
    when the course filtered on is not the user's, the (code, name) of those they may take
    (then no sessions); `offer_year`: nothing upcoming but sessions earlier this year."""
    rows = Rows()
    if instead is not None:
        for code, name in instead:
            rows.row(
                button(
                    _("🔎 Sessions of {course}").format(course=name),
                    cb.model_copy(update={"course": code, "page": 0}),
                )
            )
    elif not sessions:
        if offer_year:
            rows.row(button(_("🗓 Show the whole year"), cb.model_copy(update={"year": 1, "page": 0})))
        if cb.kind == "p":
            rows.row(button(_("📍 Nearby prefectures"), cb.model_copy(update={"kind": "q", "page": 0})))
    else:
        for session_id, label in sessions:
            rows.row(button(label, SessionCB(id=session_id)))
        nav = []
        if page > 0:
            nav.append(button(_("◀️ Previous"), cb.model_copy(update={"page": page - 1})))
        if page < pages - 1:
            nav.append(button(_("Next ▶️"), cb.model_copy(update={"page": page + 1})))
        rows.row(*nav)
        rows.row(*_search_order(cb, lang))
    # course filter and "all / only mine"
    course_buttons = [
        button(f"• {code}" if cb.course == code else code, cb.model_copy(update={"course": code, "page": 0}))
        for code in codes
    ]
    if cb.course:
        course_buttons.append(button(_("any course"), cb.model_copy(update={"course": "", "page": 0})))
    rows.row(*course_buttons)
    if has_profile:
        toggle = _("Only sessions I may attend") if cb.every else _("Show all sessions")
        rows.row(button(toggle, cb.model_copy(update={"every": 1 - cb.every, "page": 0})))
    rows.row(
        button(_("📅 Subscribe to this search"), SearchFeedCB(kind=cb.kind, key=cb.key, course=cb.course))
    )
    rows.row(button(_("🔎 New search"), MenuCB(action="find")), back_to_menu())
    return rows.as_markup()


def place_suggestions(items: Sequence[tuple[CallbackData, str]]) -> InlineKeyboardMarkup:
    """One button per suggested place, (search, label) each; then the main menu's buttons."""
    rows = Rows()
    for cb, label in items:
        rows.row(button(label, cb))
    for row in main_menu().inline_keyboard:
        rows.row(*row)
    return rows.as_markup()


def session_card(
    session: Session, *, can_register: bool, full: bool, share_url: str | None
) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    if can_register:
        if full:
            rows.append([button(_("⏳ Join the waitlist"), SessionCB(id=session.id, action="wl"))])
        else:
            rows.append([button(_("✍️ Register"), SessionCB(id=session.id, action="reg"))])
    rows.append([button(_("📅 Add to calendar"), SessionCB(id=session.id, action="ics"))])
    if share_url:
        rows.append([url_button(_("↗️ Share"), share_url)])
    rows.append([button(_("🔎 Find sessions"), MenuCB(action="find")), back_to_menu()])
    return markup(rows)


def course_list(codes: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup:
    return markup([*([button(label, CourseCB(code=code))] for code, label in codes), [back_to_menu()]])


def course_card(code: str, has_sessions: bool, apply_url: str = "") -> InlineKeyboardMarkup:
    """With `apply_url` (a course applied for on the official site, プレCYDER) a link."""
    rows = []
    if has_sessions:
        rows.append([button(_("🔎 Sessions of this course"), FindCB(kind="a", course=code))])
    if apply_url:
        rows.append([url_button(_("🌐 Apply on the official site"), apply_url)])
    rows.append([button(_("⬅️ Courses"), MenuCB(action="courses")), back_to_menu()])
    return markup(rows)


def cancel_dialogue() -> InlineKeyboardMarkup:
    return markup([[button(_("✖️ Cancel"), RegCB(action="stop"))]])


def reuse_or_cancel(summary: str) -> InlineKeyboardMarkup:
    """The first question, with a button to reuse the details of the last application."""
    label = _("↩️ As last time: {details}").format(details=summary)
    if len(label) > 60:
        label = label[:59] + "…"
    return markup([[button(label, RegCB(action="reuse"))], [button(_("✖️ Cancel"), RegCB(action="stop"))]])


def skip_or_cancel() -> InlineKeyboardMarkup:
    return markup([[button(_("Skip"), RegCB(action="skip")), button(_("✖️ Cancel"), RegCB(action="stop"))]])


def colleagues_question(can_add: bool) -> InlineKeyboardMarkup:
    rows = []
    if can_add:
        rows.append([button(_("➕ Add a colleague (同行者)"), RegCB(action="add"))])
    rows.append([button(_("Continue ➡️"), RegCB(action="done"))])
    rows.append([button(_("✖️ Cancel"), RegCB(action="stop"))])
    return markup(rows)


def team_question() -> InlineKeyboardMarkup:
    return markup(
        [
            [button(_("Yes, we four are one team"), RegCB(action="team"))],
            [button(_("No, mix us with others"), RegCB(action="noteam"))],
            [button(_("✖️ Cancel"), RegCB(action="stop"))],
        ]
    )


def confirm_registration(waitlist: bool) -> InlineKeyboardMarkup:
    label = _("✅ Join the waitlist") if waitlist else _("✅ Confirm registration")
    return markup([[button(label, RegCB(action="ok"))], [button(_("✖️ Cancel"), RegCB(action="stop"))]])


def waitlist_offer(session_id: str) -> InlineKeyboardMarkup:
    return markup(
        [
            [button(_("⏳ Join the waitlist"), SessionCB(id=session_id, action="wl"))],
            [button(_("🔎 Other sessions"), MenuCB(action="find")), back_to_menu()],
        ]
    )


def my_list(items: Sequence[tuple[int, str]]) -> InlineKeyboardMarkup:
    return markup(
        [
            *([button(label, MyCB(action="show", reg=reg_id))] for reg_id, label in items),
            [button(_("🔎 Find sessions"), MenuCB(action="find")), back_to_menu()],
        ]
    )


def my_registration(reg_id: int, session_id: str) -> InlineKeyboardMarkup:
    return markup(
        [
            [button(_("📅 Calendar file"), MyCB(action="ics", reg=reg_id))],
            [button(_("ℹ️ Session details"), SessionCB(id=session_id))],
            [button(_("🗑 Cancel this registration"), MyCB(action="cancel", reg=reg_id))],
            [button(_("⬅️ My registrations"), MyCB(action="list"))],
        ]
    )


def confirm_cancel(reg_id: int) -> InlineKeyboardMarkup:
    return markup(
        [
            [button(_("Yes, cancel it"), MyCB(action="yes", reg=reg_id))],
            [button(_("No, keep it"), MyCB(action="show", reg=reg_id))],
        ]
    )


def confirm_forget() -> InlineKeyboardMarkup:
    return markup(
        [
            [button(_("Yes, delete everything"), ForgetCB(action="yes"))],
            [button(_("No, keep my data"), ForgetCB(action="no"))],
        ]
    )


def subscribe_page(url: str) -> InlineKeyboardMarkup:
    """The page that subscribes a calendar (Telegram's buttons cannot open webcal://)."""
    return markup([[url_button(_("📅 Open the subscribe page"), url)]])


def subscription(has_token: bool, page_url: str | None = None) -> InlineKeyboardMarkup:
    rows = []
    if page_url:
        rows.append([url_button(_("📅 Open the subscribe page"), page_url)])
    if has_token:
        rows.append([button(_("🔄 New link (old one stops working)"), SubCB(action="new"))])
        rows.append([button(_("🚫 Turn my feed off"), SubCB(action="off"))])
    else:
        rows.append([button(_("🔑 Create my personal feed"), SubCB(action="new"))])
    rows.append([back_to_menu()])
    return markup(rows)


# -- a representative's colleagues (同行者) -----------------------------------------------------


def _clip(label: str, limit: int = 60) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def draft_removals(people: Sequence[tuple[int, str, str]]) -> list[list[InlineKeyboardButton]]:
    """One "remove" button per colleague typed so far: (index, name, key)."""
    return [
        [button(_clip(_("➖ Remove {name}").format(name=name)), DraftCB(action="rm", idx=idx, key=key))]
        for idx, name, key in people
    ]


def colleagues_draft(can_add: bool, people: Sequence[tuple[int, str, str]]) -> InlineKeyboardMarkup:
    """The colleagues question with a "remove" button for each colleague typed so far."""
    rows = colleagues_question(can_add).inline_keyboard
    return markup([*rows[:-2], *draft_removals(people), *rows[-2:]])


def confirm_draft(waitlist: bool, people: Sequence[tuple[int, str, str]]) -> InlineKeyboardMarkup:
    """The summary's confirm button, a "remove" button per colleague, cancel."""
    rows = confirm_registration(waitlist).inline_keyboard
    return markup([rows[0], *draft_removals(people), *rows[1:]])


def my_registration_with(reg_id: int, session_id: str, colleagues: int) -> InlineKeyboardMarkup:
    """`my_registration` with a button to the colleagues this person registered."""
    rows = my_registration(reg_id, session_id).inline_keyboard
    if not colleagues:
        return markup(rows)
    mates = [button(_("👥 Colleagues ({n})").format(n=colleagues), MateCB(action="list", reg=reg_id))]
    return markup([mates, *rows])


def my_list_items(items: Sequence[tuple[CallbackData, str]]) -> InlineKeyboardMarkup:
    """/my with any kind of button per line (own registration, or colleagues only)."""
    return markup(
        [
            *([button(label, cb)] for cb, label in items),
            [button(_("🔎 Find sessions"), MenuCB(action="find")), back_to_menu()],
        ]
    )


def confirm_cancel_with_colleagues(reg_id: int, n: int) -> InlineKeyboardMarkup:
    return markup(
        [
            [
                button(
                    _("🗑 Cancel me and my {n} colleague(s)").format(n=n), MateCB(action="ownall", reg=reg_id)
                )
            ],
            [button(_("🗑 Cancel only me (colleagues stay registered)"), MateCB(action="own", reg=reg_id))],
            [button(_("No, keep it"), MyCB(action="show", reg=reg_id))],
        ]
    )


def colleague_list(own_id: int, own_active: bool, mates: Sequence[tuple[int, str]]) -> InlineKeyboardMarkup:
    rows = [[button(_clip("👤 " + label), MateCB(action="show", reg=reg_id))] for reg_id, label in mates]
    if mates:
        rows.append([button(_("🗑 Cancel all colleagues"), MateCB(action="all", reg=own_id))])
    back = MyCB(action="show", reg=own_id) if own_active else MyCB(action="list")
    rows.append([button(_("⬅️ My registrations"), back)])
    return markup(rows)


def confirm_cancel_colleagues(own_id: int) -> InlineKeyboardMarkup:
    return markup(
        [
            [button(_("Yes, cancel them"), MateCB(action="allyes", reg=own_id))],
            [button(_("No, keep them"), MateCB(action="list", reg=own_id))],
        ]
    )


def colleague_view(reg_id: int, own_id: int, can_edit: bool) -> InlineKeyboardMarkup:
    rows = []
    if can_edit:
        rows.append([button(_("✏️ Change the name"), MateCB(action="name", reg=reg_id))])
        rows.append([button(_("✏️ Change the e-mail address"), MateCB(action="email", reg=reg_id))])
    rows.append([button(_("🗑 Cancel this colleague's registration"), MateCB(action="cancel", reg=reg_id))])
    rows.append([button(_("⬅️ Colleagues"), MateCB(action="list", reg=own_id))])
    return markup(rows)


def confirm_cancel_colleague(reg_id: int) -> InlineKeyboardMarkup:
    return markup(
        [
            [button(_("Yes, cancel it"), MateCB(action="yes", reg=reg_id))],
            [button(_("No, keep it"), MateCB(action="show", reg=reg_id))],
        ]
    )


def staff_suggestions(cmd: str, fmt: str, sessions: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup:
    """Sessions that matched a staff command's place and date: (id, label) each."""
    return markup([[button(_clip(label), StaffCB(cmd=cmd, id=sid, fmt=fmt))] for sid, label in sessions])
