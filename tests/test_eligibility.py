"""Every row of the rules table (org types, modifiers, course rules) has a test here."""

import pytest

from bot.telegram.i18n import say
from catalog.eligibility import Profile
from catalog.errors import InvalidInput
from tests.util_catalog import make_catalog


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    return make_catalog(tmp_path_factory.mktemp("e") / "c.db").rules


def verdicts(rules, **kw):
    return {v.course: v for v in rules.decide_all(Profile(**kw))}


def test_rule_rows_are_the_ones_tested_here(rules):
    assert list(rules.org_types) == ["national", "local", "iaa", "designated", "infra", "private", "school"]
    assert [m.flag for m in rules.modifiers] == ["student", "dispatched", "contractor"]
    assert {c.code: c.allowed for c in rules.courses} == {
        "A": "all",
        "B-1": "local",
        "B-2": "nonlocal",
        "C": "all",
        "PRE": "all",
    }


@pytest.mark.parametrize("org", ["national", "iaa", "designated"])
def test_public_bodies_other_than_local_are_free_and_take_b2_not_b1(rules, org):
    v = verdicts(rules, org_type=org)
    assert {c: x.eligible for c, x in v.items()} == {
        "A": True,
        "B-1": False,
        "B-2": True,
        "C": True,
        "PRE": True,
    }
    assert all(x.fee == "free" and x.fee_yen == 0 for x in v.values() if x.eligible)
    assert (v["B-1"].fee, v["B-1"].fee_yen) == (None, None)  # not eligible: no fee at all
    assert "無料" in say(v["A"].reason, "ja") and "free" in v["A"].reason_en
    assert "B-1" in v["B-1"].reason_en and "地方公共団体" in say(v["B-1"].reason, "ja")


def test_local_government_is_free_and_takes_b1_not_b2(rules):
    v = verdicts(rules, org_type="local")
    assert {c: x.eligible for c, x in v.items()} == {
        "A": True,
        "B-1": True,
        "B-2": False,
        "C": True,
        "PRE": True,
    }
    assert v["B-1"].fee_yen == 0 and v["C"].fee == "free"
    assert "B-1" in say(v["B-2"].reason, "ja")  # points local staff to B-1


@pytest.mark.parametrize("org", ["infra", "private", "school"])
def test_businesses_and_schools_pay_site_prices(rules, org):
    v = verdicts(rules, org_type=org)
    assert {c: x.eligible for c, x in v.items()} == {
        "A": True,
        "B-1": False,
        "B-2": True,
        "C": True,
        "PRE": True,
    }
    assert (v["A"].fee_yen, v["B-2"].fee_yen, v["C"].fee_yen) == (77000, 77000, 121000)
    assert v["PRE"].fee == "paid" and v["PRE"].fee_yen is None  # no price announced anywhere
    assert say(v["PRE"].fee_said, "ja") == "有料（金額未発表）"
    assert say(v["C"].fee_said, "ja") == "121,000円（税込）"
    assert say(v["A"].fee_said, "en") == "¥77,000 (tax incl.)"


def test_student_modifier_refuses_everything(rules):
    v = verdicts(rules, org_type="local", student=True)
    assert not any(x.eligible for x in v.values())
    assert all("学生" in say(x.reason, "ja") and "Students" in x.reason_en for x in v.values())


def test_dispatched_modifier_counts_as_the_public_bodys_staff(rules):
    v = verdicts(rules, org_type="local", dispatched=True, contractor=True)
    assert v["B-1"].eligible and v["B-1"].fee == "free"
    assert not v["B-2"].eligible
    assert "派遣" in say(v["A"].reason, "ja")


def test_contractor_modifier_counts_as_a_private_business(rules):
    v = verdicts(rules, org_type="local", contractor=True)
    assert not v["B-1"].eligible and v["B-2"].eligible
    assert v["A"].fee == "paid" and v["A"].fee_yen == 77000 and v["C"].fee_yen == 121000
    assert "委託" in say(v["A"].reason, "ja") and "contractor" in v["A"].reason_en


def test_unknown_org_type_and_course_name_the_choices(rules):
    with pytest.raises(InvalidInput, match="national, local, iaa"):
        rules.decide(Profile("company"), "A")
    with pytest.raises(InvalidInput, match="A, B-1, B-2, C, PRE"):
        rules.decide(Profile("local"), "D")


def test_rules_are_data_a_corrected_table_changes_verdicts(tmp_path):
    from schedules import loader
    from tests.util_catalog import NOW, edited_schedule

    catalog = make_catalog(tmp_path / "c.db")
    fixed = edited_schedule(
        tmp_path,
        'code = "school"\nname_ja = "学校法人"\nname_en = "School corporation"\n'
        'public = false\nlocal = false\nfee = "paid"',
        'code = "school"\nname_ja = "学校法人"\nname_en = "School corporation"\n'
        'public = false\nlocal = false\nfee = "free"',
    )
    loader.load(catalog.store, fixed, NOW)
    assert catalog.verdict(Profile("school"), "A").fee == "free"
