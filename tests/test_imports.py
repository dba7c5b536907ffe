import pytest

from bot.telegram.i18n import say
from catalog import registrations as regs
from catalog.errors import InvalidInput
from catalog.imports import HEADER, ImportRowsError, decode, import_registrations
from catalog.registrations import Applicant
from catalog.teams import form_teams
from schedules import loader
from tests.util_catalog import NOW, edited_schedule, make_catalog

TODAY = NOW.date()
A = "2024-A-34-1025"
B1 = "2024-B-1-34-1029"
HEAD = ",".join(HEADER)


@pytest.fixture
def catalog(tmp_path):
    return make_catalog(tmp_path / "c.db")


def small(catalog, tmp_path, capacity):
    fixed = edited_schedule(
        tmp_path,
        'city = "広島", first = 2024-10-25 }',
        f'city = "広島", first = 2024-10-25, capacity = {capacity} }}',
    )
    loader.load(catalog.store, fixed, NOW)


def rows(*lines):
    return "\n".join([HEAD, *lines]) + "\n"


GOOD = rows(
    f"{A},山田 太郎,広島市,local,情報政策課,taro@city.example.lg.jp,広島,0,0,",
    f"{A},佐藤 花子,呉市,local,,hanako@city.example.lg.jp,広島県,,,",
    f"{A},鈴木 一郎,中国電力,infra,,ichiro@example.co.jp,34,true,false,",
    f"{B1},田中 次郎,岡山県,local,,jiro@pref.example.lg.jp,okayama,0,1,",
)


def count(catalog, status="registered"):
    return catalog.store.db.execute(
        "select count(*) from registrations where status = ?", [status]
    ).fetchone()[0]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_import_in_every_encoding(catalog, encoding):
    report = import_registrations(catalog, GOOD.encode(encoding), today=TODAY, now=NOW)
    assert (report.added, report.skipped_duplicates) == (4, 0)
    got = regs.for_session(catalog, A)
    assert [r.name for r in got] == ["山田 太郎", "佐藤 花子", "鈴木 一郎"]
    assert got[0].department == "情報政策課" and got[0].source == "import"
    assert {r.prefecture for r in got} == {"広島県"}
    assert got[2].contractor and not got[2].dispatched
    b1 = regs.for_session(catalog, B1)[0]
    assert b1.dispatched and b1.prefecture == "岡山県"


def test_decode_detects_encodings():
    text = "session,name\n広島,山田\n"
    assert decode(text.encode("utf-8-sig")) == text
    assert decode(text.encode("cp932")) == text
    with pytest.raises(InvalidInput):
        decode(b"\xff\xfe\x00\x81")


def test_importing_twice_adds_nothing(catalog, tmp_path):
    path = tmp_path / "apps.csv"
    path.write_bytes(GOOD.encode("utf-8-sig"))
    first = import_registrations(catalog, path, today=TODAY, now=NOW)
    second = import_registrations(catalog, str(path), today=TODAY, now=NOW)
    assert (first.added, second.added, second.skipped_duplicates) == (4, 0, 4)
    assert count(catalog) == 4


def test_duplicate_detected_by_email_or_by_name_and_organisation(catalog):
    regs.register(catalog, A, [Applicant("山田 太郎", "広島市", "local")], today=TODAY, now=NOW)
    regs.register(
        catalog, A, [Applicant("別人", "府中町", "local", email="x@example.jp")], today=TODAY, now=NOW
    )
    data = rows(
        f"{A},山田　太郎,広島市,local,,,,,,",  # full-width space: same person
        f"{A},別の名前,府中町,local,,x@example.jp,,,,",  # same e-mail
        f"{A},新人,広島市,local,,,,,,",
    )
    report = import_registrations(catalog, data.encode(), today=TODAY, now=NOW)
    assert (report.added, report.skipped_duplicates) == (1, 2)


def test_a_bad_row_saves_nothing_and_names_every_line(catalog):
    data = rows(
        f"{A},山田 太郎,広島市,local,,,,,,",
        f"{A},佐藤 花子,呉市,city-hall,,,,,,",  # line 3: unknown org type
        f"{A},,呉市,local,,,,,,",  # line 4: no name
        "2024-A-99-0101,鈴木,呉市,local,,,,,,",  # line 5: no such session
        f"{A},高橋,呉市,local,,not-an-email,,,,",  # line 6
        f"{A},伊藤,呉市,local,,,,maybe,,",  # line 7: bad flag
        f"{A},山田 太郎,広島市,local,,,,,,",  # line 8: repeats line 2
        f"{A},渡辺,呉市,local,,,,,,",
    )
    with pytest.raises(ImportRowsError) as e:
        import_registrations(catalog, data.encode(), today=TODAY, now=NOW)
    assert [n for n, _ in e.value.problems] == [3, 4, 5, 6, 7, 8]
    assert "line 3" in e.value.en and "city-hall" in e.value.en
    assert "line 8: the same person as line 2" in e.value.en
    assert "3行目" in say(e.value, "ja")
    assert count(catalog) == 0


def test_ineligible_row_refused(catalog):
    data = rows(
        f"{A},山田 太郎,広島市,local,,,,,,",
        f"{B1},鈴木 一郎,中国電力,infra,,,,,,",
        f"{A},学生,広島大学,school,,,,,,",
    )
    with pytest.raises(ImportRowsError) as e:
        import_registrations(catalog, data.encode(), today=TODAY, now=NOW)
    assert [n for n, _ in e.value.problems] == [3]
    assert count(catalog) == 0


def test_closed_session_refused(catalog):
    late = TODAY.replace(year=2025)
    with pytest.raises(ImportRowsError, match="closed"):
        import_registrations(catalog, rows(f"{A},山田,広島市,local,,,,,,").encode(), today=late, now=NOW)


def test_capacity_across_the_whole_file(catalog, tmp_path):
    small(catalog, tmp_path, 2)
    data = rows(*[f"{A},人{i},組織{i},local,,,,,," for i in range(4)])
    with pytest.raises(ImportRowsError) as e:
        import_registrations(catalog, data.encode(), today=TODAY, now=NOW)
    assert [n for n, _ in e.value.problems] == [4, 5]
    assert "Not enough seats" in e.value.en
    assert count(catalog) == 0
    report = import_registrations(catalog, data.encode(), today=TODAY, now=NOW, waitlist=True)
    assert (report.added, report.waitlisted) == (4, 2)
    got = regs.for_session(catalog, A)
    assert [(r.name, r.status, r.position) for r in got] == [
        ("人0", "registered", None),
        ("人1", "registered", None),
        ("人2", "waitlisted", 1),
        ("人3", "waitlisted", 2),
    ]
    assert catalog.session(A).registered == 2


def test_header_must_match(catalog):
    with pytest.raises(InvalidInput, match="missing column 'team_key'"):
        import_registrations(
            catalog,
            b"session,name,organisation,org_type,department,email,prefecture,contractor,dispatched\n",
            today=TODAY,
            now=NOW,
        )
    with pytest.raises(InvalidInput, match="empty"):
        import_registrations(catalog, b"", today=TODAY, now=NOW)


def test_blank_lines_are_ignored_and_columns_may_be_reordered(catalog):
    cols = list(reversed(HEADER))
    data = (
        ",".join(cols)
        + "\n\n"
        + ",".join(
            {"session": A, "name": "山田", "organisation": "広島市", "org_type": "local"}.get(c, "")
            for c in cols
        )
        + "\n"
    )
    assert import_registrations(catalog, data.encode(), today=TODAY, now=NOW).added == 1


def test_team_keys_form_a_whole_team(catalog):
    data = rows(
        *[f"{A},職員{i},広島市,local,,,,,,hiro" for i in range(4)],
        *[f"{A},他{i},組織{i},local,,,,,," for i in range(4)],
    )
    import_registrations(catalog, data.encode(), today=TODAY, now=NOW)
    teams = form_teams(catalog, A, now=NOW)
    whole = [t for t in teams if {m.organisation for m in t.members} == {"広島市"}]
    assert len(whole) == 1 and len(whole[0].members) == 4


def test_team_key_rules(catalog):
    mixed = rows(f"{A},甲,広島市,local,,,,,,k", f"{A},乙,呉市,local,,,,,,k")
    with pytest.raises(ImportRowsError, match="line 3: team 'k' mixes"):
        import_registrations(catalog, mixed.encode(), today=TODAY, now=NOW)
    five = rows(*[f"{A},職員{i},広島市,local,,,,,,k" for i in range(5)])
    with pytest.raises(ImportRowsError, match="line 6: team 'k' has more than 4"):
        import_registrations(catalog, five.encode(), today=TODAY, now=NOW)
    assert count(catalog) == 0
