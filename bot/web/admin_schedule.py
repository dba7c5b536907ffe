"""The admin page's schedule console: add a session, edit or cancel one, and load a fiscal
year from a spreadsheet (upload, preview of what is added / changed / cancelled, apply).

Sign-in, CSRF and rendering are `bot.web.admin`'s (`staff_page`, `staff_post`); the work
is `catalog.schedule_edit` and `catalog.schedule_import`'s, off the event loop (writes
through `Catalog.write`). A weekend or holiday date is saved only after a confirm step.
An upload's preview hands the checked rows (never the file) to the apply step in a
signed, time-limited field, with the fingerprint of the changes it showed: if the
schedule changed meanwhile, the apply is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from aiohttp import web
from itsdangerous import BadSignature, URLSafeTimedSerializer

from bot.telegram.i18n import say
from bot.web import admin
from bot.web.keys import CATALOG, CLOCK, SETTINGS
from catalog import admin_sessions, places, schedule_edit, schedule_import, schedule_sheet
from catalog.errors import CatalogError, InvalidInput
from catalog.service import Catalog

routes = web.RouteTableDef()

MAX_UPLOAD = 1024 * 1024  # a year's schedule is a few tens of kilobytes
PLAN_MAX_AGE = 3600  # a preview can be applied within the hour
FORM_FIELDS = (
    "course",
    "prefecture",
    "city",
    "first",
    "last",
    "start",
    "end",
    "venue",
    "address",
    "capacity",
    "venue_lat",
    "venue_lon",
    "id",
)


def _actor(session: dict[str, Any]) -> str:
    """Who the schedule change log names: the signed-in browser (as admin-web:KEY)."""
    return f"admin-web:{admin_sessions.key_of(session['sid'])}"


def _plan_serializer(request: web.Request) -> URLSafeTimedSerializer:
    token = request.app[SETTINGS].admin_token or ""
    key = hashlib.sha256(b"cyder-admin-schedule-plan\0" + token.encode("utf-8")).hexdigest()
    return URLSafeTimedSerializer(key, salt="cyder-admin-schedule-plan")


def _error_text(e: CatalogError) -> str:
    ja, en = say(e, "ja"), say(e, "en")
    return ja if ja == en else f"{ja} / {en}"


def _problem_text(p: schedule_import.Problem) -> str:
    """A bad row in Japanese and English (once, with its line in Japanese, when the reason
    is a row check's English only)."""
    ja = say(p.said, "ja")
    return f"{ja} / {say(p.said, 'en')}" if p.translated else ja


def _form_context(catalog: Catalog) -> dict[str, Any]:
    return {
        "prefectures": [p.name for p in places.PREFECTURES],
        "cities": sorted({city for _, city in places.venue_cities()}),
        "courses": list(schedule_edit.year_courses(catalog.store, catalog.fiscal_year)),
    }


async def _form_page(
    request: web.Request,
    session: dict[str, Any],
    *,
    mode: str,
    values: dict[str, Any],
    s: Any = None,
    error: str | None = None,
    confirm: list[str] | None = None,
    done: str | None = None,
    promoted: int = 0,
    status: int = 200,
) -> web.Response:
    catalog = request.app[CATALOG]
    context = await asyncio.to_thread(_form_context, catalog)
    return admin.render(
        request,
        "admin_session_form.html",
        {
            "mode": mode,
            "v": values,
            "s": s,
            "error": error,
            "confirm": confirm,
            "done": done,
            "promoted": promoted,
            "csrf": admin.csrf_token(request, session["sid"]),
            **context,
        },
        status=status,
    )


def _posted(form: Any, names: tuple[str, ...]) -> dict[str, str]:
    return {n: str(form.get(n, "")).strip() for n in names if n in form}


# -- the hub ---------------------------------------------------------------------------------


@routes.get("/admin/schedule")
@admin.staff_page
async def schedule_page(request: web.Request, session: admin.SignIn) -> web.Response:
    catalog = request.app[CATALOG]

    def years() -> list[dict[str, Any]]:
        out = []
        for fy in catalog.loaded_years():
            rows = catalog.sessions_of(fy)
            out.append(
                {
                    "fiscal_year": fy,
                    "label": catalog.year_of(fy).label_ja,
                    "sessions": sum(not s.cancelled for s in rows),
                    "cancelled": sum(s.cancelled for s in rows),
                    "shown": fy in catalog.fiscal_years,
                }
            )
        return out

    return admin.render(
        request,
        "admin_schedule.html",
        {
            "years": await asyncio.to_thread(years),
            "current": catalog.fiscal_year,
            "max_mb": MAX_UPLOAD // (1024 * 1024),
            "error": None,
            "csrf": admin.csrf_token(request, session["sid"]),
        },
    )


@routes.get("/admin/schedule/template.xlsx")
@admin.staff_api
async def template_download(request: web.Request, session: admin.SignIn) -> web.Response:
    catalog = request.app[CATALOG]
    raw = request.query.get("year", "")
    year = int(raw) if raw.isdigit() else None

    def build() -> bytes:
        rows = schedule_edit.year_edit_rows(catalog.store, year) if year is not None else []
        courses = list(schedule_edit.year_courses(catalog.store, year or catalog.fiscal_year))
        return schedule_sheet.template(rows, courses=courses, fiscal_year=year)

    if year is not None and year not in catalog.loaded_years():
        raise web.HTTPNotFound(text=f"FY{year} is not loaded\n", content_type="text/plain")
    data = await asyncio.to_thread(build)
    name = f"cyder-schedule-{year}.xlsx" if year else "cyder-schedule-template.xlsx"
    return web.Response(
        body=data,
        headers={
            "Content-Type": schedule_sheet.XLSX_MIME,
            "Content-Disposition": f'attachment; filename="{name}"',
        },
    )


# -- one session -----------------------------------------------------------------------------


@routes.get("/admin/schedule/new")
@admin.staff_page
async def new_form(request: web.Request, session: admin.SignIn) -> web.Response:
    return await _form_page(request, session, mode="add", values={"course": request.query.get("course", "")})


@routes.post("/admin/schedule/new")
@admin.staff_post
async def add(request: web.Request, session: admin.SignIn) -> web.Response:
    form = await request.post()
    values = _posted(form, FORM_FIELDS)
    confirm = form.get("confirm") == "1"
    catalog = request.app[CATALOG]
    try:
        result = await catalog.write(
            schedule_edit.add_session,
            catalog.store,
            values,
            now=request.app[CLOCK].now(),
            default_year=catalog.fiscal_year,
            confirm=confirm,
            actor=_actor(session),
        )
    except schedule_edit.NeedsConfirmation as e:
        return await _form_page(
            request,
            session,
            mode="add",
            values=values,
            confirm=[f"{say(d.said, 'ja')} / {say(d.said, 'en')}" for d in e.days],
        )
    except CatalogError as e:
        return await _form_page(request, session, mode="add", values=values, error=_error_text(e), status=400)
    raise web.HTTPSeeOther(f"/admin/sessions/{result.session_id}/edit?done=added")


def _values_of(catalog: Catalog, session_id: str) -> dict[str, Any]:
    return schedule_edit.session_edit_values(catalog.store, session_id)


@routes.get("/admin/sessions/{session_id}/edit")
@admin.staff_page
async def edit_form(request: web.Request, session: admin.SignIn) -> web.Response:
    catalog = request.app[CATALOG]
    s = admin.session_or_404(catalog, request.match_info["session_id"])
    values = await asyncio.to_thread(_values_of, catalog, s.id)
    done = request.query.get("done")
    promoted = request.query.get("promoted", "")
    return await _form_page(
        request,
        session,
        mode="edit",
        values=values,
        s=s,
        done=done if done in ("added", "updated", "adjusted", "unchanged", "cancelled") else None,
        promoted=int(promoted) if promoted.isdigit() else 0,
    )


@routes.post("/admin/sessions/{session_id}/edit")
@admin.staff_post
async def edit(request: web.Request, session: admin.SignIn) -> web.Response:
    catalog = request.app[CATALOG]
    s = admin.session_or_404(catalog, request.match_info["session_id"])
    form = await request.post()
    values = _posted(form, schedule_edit.EDITABLE)
    clock = request.app[CLOCK]
    try:
        result = await catalog.write(
            schedule_edit.edit_session,
            catalog.store,
            s.id,
            values,
            now=clock.now(),
            today=clock.today(),
            confirm=form.get("confirm") == "1",
            actor=_actor(session),
        )
    except schedule_edit.NeedsConfirmation as e:
        return await _form_page(
            request,
            session,
            mode="edit",
            s=s,
            values={**values, "course": s.course, "id": s.id},
            confirm=[f"{say(d.said, 'ja')} / {say(d.said, 'en')}" for d in e.days],
        )
    except CatalogError as e:
        return await _form_page(
            request,
            session,
            mode="edit",
            s=s,
            values={**values, "course": s.course, "id": s.id},
            error=_error_text(e),
            status=400,
        )
    await admin.tell_schedule_changes(request)  # the promoted's mail, the changed session's
    promoted = f"&promoted={len(result.promoted)}" if result.promoted else ""
    raise web.HTTPSeeOther(f"/admin/sessions/{s.id}/edit?done={result.kind}{promoted}")


@routes.post("/admin/sessions/{session_id}/cancel")
@admin.staff_post
async def cancel(request: web.Request, session: admin.SignIn) -> web.Response:
    catalog = request.app[CATALOG]
    s = admin.session_or_404(catalog, request.match_info["session_id"])
    form = await request.post()
    values = await asyncio.to_thread(_values_of, catalog, s.id)
    if form.get("really") != "1":
        return await _form_page(
            request,
            session,
            mode="edit",
            s=s,
            values=values,
            status=400,
            error="中止するには確認のチェックを入れてください。 / Tick the box to confirm the cancellation.",
        )
    try:
        await catalog.write(
            schedule_edit.cancel_session,
            catalog.store,
            s.id,
            now=request.app[CLOCK].now(),
            actor=_actor(session),
        )
    except CatalogError as e:
        return await _form_page(
            request, session, mode="edit", s=s, values=values, error=_error_text(e), status=400
        )
    await admin.tell_schedule_changes(request)
    raise web.HTTPSeeOther(f"/admin/sessions/{s.id}/edit?done=cancelled")


# -- a year from a spreadsheet ---------------------------------------------------------------


async def _hub_error(request: web.Request, session: dict[str, Any], text: str, status: int) -> web.Response:
    catalog = request.app[CATALOG]
    years = [
        {
            "fiscal_year": fy,
            "label": catalog.year_of(fy).label_ja,
            "sessions": None,
            "cancelled": None,
            "shown": fy in catalog.fiscal_years,
        }
        for fy in catalog.loaded_years()
    ]
    return admin.render(
        request,
        "admin_schedule.html",
        {
            "years": years,
            "current": catalog.fiscal_year,
            "error": text,
            "max_mb": MAX_UPLOAD // (1024 * 1024),
            "csrf": admin.csrf_token(request, session["sid"]),
        },
        status=status,
    )


def _preview_rows(plan: schedule_import.ImportPlan) -> list[dict[str, Any]]:
    out = []
    for change in plan.changes:
        if change.kind == "unchanged":
            continue
        out.append(
            {
                "kind": change.kind,
                "id": change.session_id,
                "line": plan.lines.get(change.session_id),
                "text": say(schedule_import.describe(change), "ja"),
                "registered": plan.registered.get(change.session_id, 0),
            }
        )
    return out


@routes.post("/admin/schedule/upload")
async def upload(request: web.Request) -> web.Response:
    try:
        session = await admin.checked_post(request)
    except web.HTTPRequestEntityTooLarge:
        session = admin.api_or_401(request)
        if isinstance(session, web.Response):
            return session
        return await _hub_error(
            request,
            session,
            f"ファイルが大きすぎます（上限 {MAX_UPLOAD // 1024} KB）。"
            f" / The file is too large (limit {MAX_UPLOAD // 1024} KB).",
            413,
        )
    if isinstance(session, web.Response):
        return session
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return await _hub_error(request, session, "ファイルを選んでください。 / Choose a file.", 400)
    data = await asyncio.to_thread(upload.file.read, MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return await _hub_error(
            request,
            session,
            f"ファイルが大きすぎます（上限 {MAX_UPLOAD // 1024} KB）。"
            f" / The file is too large (limit {MAX_UPLOAD // 1024} KB).",
            413,
        )
    raw_year = str(form.get("fiscal_year", "")).strip()
    if raw_year and not (raw_year.isdigit() and 2000 <= int(raw_year) <= 2100):
        return await _hub_error(
            request,
            session,
            "年度は 2025 のように入力してください。 / Give the fiscal year as a year such as 2025.",
            400,
        )
    name = (upload.filename or "upload").replace("\\", "/").rsplit("/", 1)[-1][:100]
    catalog = request.app[CATALOG]
    try:
        plan = await asyncio.to_thread(
            schedule_import.read_and_plan,
            catalog.store,
            name,
            data,
            fiscal_year=int(raw_year) if raw_year else None,
        )
    except InvalidInput as e:
        return await _hub_error(request, session, f"{name}: {_error_text(e)}", 400)
    token = _plan_serializer(request).dumps(plan.to_json())
    return admin.render(
        request,
        "admin_schedule_preview.html",
        {
            "plan": plan,
            "rows": _preview_rows(plan),
            "counts": schedule_import.counts(plan),
            "problems": [_problem_text(p) for p in plan.problems],
            "weekends": [f"{say(p.said, 'ja')} / {say(p.said, 'en')}" for p in plan.weekend_rows],
            "label": catalog.year_of(plan.fiscal_year).label_ja
            if plan.fiscal_year in catalog.loaded_years()
            else f"{plan.fiscal_year}年度（新規 / new）",
            "token": token,
            "fingerprint": plan.fingerprint(),
            "applied": None,
            "csrf": admin.csrf_token(request, session["sid"]),
        },
        status=200 if not plan.problems else 400,
    )


@routes.post("/admin/schedule/apply")
@admin.staff_post
async def apply(request: web.Request, session: admin.SignIn) -> web.Response:
    form = await request.post()
    try:
        data = _plan_serializer(request).loads(str(form.get("plan", "")), max_age=PLAN_MAX_AGE)
        plan = schedule_import.ImportPlan.from_json(data, confirm_weekends=form.get("confirm") == "1")
    except (BadSignature, KeyError, TypeError, ValueError):
        return await _hub_error(
            request,
            session,
            "プレビューの期限が切れたか無効です。もう一度アップロードしてください。"
            " / The preview expired or is not valid: upload the file again.",
            400,
        )
    catalog = request.app[CATALOG]
    try:
        report = await catalog.write(
            schedule_import.apply_import,
            catalog.store,
            plan,
            now=request.app[CLOCK].now(),
            actor=_actor(session),
            expect=str(form.get("fingerprint", "")),
        )
    except CatalogError as e:
        return await _hub_error(request, session, _error_text(e), 400)
    await admin.tell_schedule_changes(request)
    return admin.render(
        request,
        "admin_schedule_preview.html",
        {
            "plan": plan,
            "rows": _preview_rows(plan),
            "counts": schedule_import.counts(plan),
            "problems": [],
            "weekends": [],
            "label": catalog.year_of(plan.fiscal_year).label_ja,
            "token": None,
            "fingerprint": None,
            "applied": report.summary(),
            "csrf": admin.csrf_token(request, session["sid"]),
        },
    )


def setup(app: web.Application) -> None:
    """Add the schedule console's routes (after `bot.web.admin.setup`, whose templates and
    security headers they use)."""
    app.router.add_routes(routes)
