"""Who may attend which course, and what it costs.

The rules are data (the `org_types`, `modifiers` and `courses.allowed` rows the
schedule file loads); this module only reads them. `decide()` is pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from catalog.errors import InvalidInput
from catalog.i18n import ByLang, Joined, Lazy, Said
from catalog.i18n import gettext_lazy as _l
from catalog.store import Store


@dataclass(frozen=True)
class Profile:
    """What the rules need to know about a person."""

    org_type: str
    contractor: bool = False
    dispatched: bool = False
    student: bool = False


@dataclass(frozen=True)
class OrgType:
    code: str
    name_ja: str
    name_en: str
    public: bool
    local: bool
    fee: str  # "free" | "paid"


@dataclass(frozen=True)
class Modifier:
    flag: str
    effect: str  # "refuse" | "as_own_org" | "as_private"
    reason_ja: str
    reason_en: str


@dataclass(frozen=True)
class CourseRule:
    code: str
    name_ja: str
    name_en: str
    allowed: str  # "all" | "local" | "nonlocal"
    fee_yen: int | None  # None: no price announced
    organisations_ja: str
    organisations_en: str


@dataclass(frozen=True)
class Verdict:
    """`reason` says why, as a gettext message whose course and organisation names (data)
    are given in both languages: show it with `bot.telegram.i18n.say(verdict.reason, lang)`;
    `reason_en` is the English (the command line's)."""

    course: str
    eligible: bool
    fee: str | None  # "free" | "paid"; None when the person may not take the course
    fee_yen: int | None  # 0 when free; None when not eligible or no price is announced
    reason: Said

    @property
    def reason_en(self) -> str:
        return str(self.reason)

    def as_dict(self) -> dict[str, Any]:
        """The verdict without its reason (the door adds it in the languages it shows)."""
        return {"course": self.course, "eligible": self.eligible, "fee": self.fee, "fee_yen": self.fee_yen}

    @property
    def fee_said(self) -> Lazy:
        """'無料' / '77,000円（税込）' / '有料（金額未発表）' / '対象外' (Free, ¥77,000 (tax
        incl.), ...): show it with `say(verdict.fee_said, lang)`."""
        if not self.eligible:
            return _l("Not eligible")
        if self.fee == "free":
            return _l("Free")
        if self.fee_yen is None:
            return _l("Paid (price not announced)")
        return price(self.fee_yen)

    def fee_cell(self) -> str | int:
        """The fee for a table: the amount, "not announced", or "-" when not eligible."""
        if not self.eligible:
            return "-"
        return "not announced" if self.fee_yen is None else self.fee_yen


@dataclass(frozen=True)
class FeeGroups:
    """Who pays what for one course, among the organisations that may take it."""

    course: str
    free: tuple[OrgType, ...]
    paid: tuple[OrgType, ...]
    fee_yen: int | None  # the price for the paid; None when not announced


@dataclass(frozen=True)
class Rules:
    org_types: dict[str, OrgType]
    modifiers: tuple[Modifier, ...]
    courses: tuple[CourseRule, ...]

    @classmethod
    def from_store(cls, store: Store, fiscal_year: int) -> Rules:
        orgs = {
            r["code"]: OrgType(
                r["code"], r["name_ja"], r["name_en"], bool(r["public"]), bool(r["local"]), r["fee"]
            )
            for r in store.query("select * from org_types order by position")
        }
        mods = tuple(
            Modifier(r["flag"], r["effect"], r["reason_ja"], r["reason_en"])
            for r in store.query("select * from modifiers order by position")
        )
        courses = tuple(
            CourseRule(
                r["code"],
                r["name_ja"],
                r["name_en"],
                r["allowed"],
                r["fee_yen"],
                r["organisations_ja"],
                r["organisations_en"],
            )
            for r in store.query(
                "select * from courses where fiscal_year = ? order by position", [fiscal_year]
            )
        )
        return cls(orgs, mods, courses)

    def org_type(self, code: str) -> OrgType:
        """The org type for `code`, or InvalidInput naming the valid codes."""
        key = (code or "").strip().lower()
        if key not in self.org_types:
            valid = ", ".join(self.org_types)
            raise InvalidInput(
                _l("unknown organisation type {code!r}; choose one of: {valid}", code=code, valid=valid)
            )
        return self.org_types[key]

    def course(self, code: str) -> CourseRule:
        for c in self.courses:
            if c.code.lower() == (code or "").strip().lower():
                return c
        valid = ", ".join(c.code for c in self.courses)
        raise InvalidInput(_l("unknown course {code!r}; choose one of: {valid}", code=code, valid=valid))

    def decide(self, profile: Profile, course: str) -> Verdict:
        """The verdict for one person and one course. Its reason and its fee never
        contradict: an ineligible verdict carries no fee, and the dispatched/contractor
        flags change only how a public body's row applies (a business is its own row)."""
        rule = self.course(course)
        org = self.org_type(profile.org_type)
        flags = {
            "student": profile.student,
            "dispatched": profile.dispatched,
            "contractor": profile.contractor,
        }
        note: Modifier | None = None
        local, fee = org.local, org.fee
        for mod in self.modifiers:  # strongest first; the first that applies decides
            if not flags.get(mod.flag):
                continue
            if mod.effect == "refuse":
                return Verdict(rule.code, False, None, None, ByLang(mod.reason_ja, mod.reason_en))
            if not org.public:
                continue  # 派遣/請負 at a business: the business's own row applies
            note = mod
            if mod.effect == "as_private":
                private = self.org_types.get("private")
                local, fee = False, private.fee if private else "paid"
            break  # "as_own_org": the org type's own row applies unchanged
        amount = self._amount(rule, fee)
        course_name = ByLang(rule.name_ja, rule.name_en)
        if rule.allowed == "local" and not local:
            return Verdict(
                rule.code,
                False,
                None,
                None,
                _after(
                    note,
                    _l(
                        "{course} is for {organisations}.",
                        course=course_name,
                        organisations=ByLang(rule.organisations_ja, rule.organisations_en.lower()),
                    ),
                ),
            )
        if rule.allowed == "nonlocal" and local:
            return Verdict(
                rule.code,
                False,
                None,
                None,
                _l(
                    "{course} is for organisations other than local governments "
                    "(local governments take B-1).",
                    course=course_name,
                ),
            )
        return Verdict(rule.code, True, fee, amount, self._fee_sentence(org, fee, amount, note))

    @staticmethod
    def _fee_sentence(org: OrgType, fee: str, amount: int | None, note: Modifier | None) -> Said:
        """The fee said once, in one sentence, after the modifier's reason if any (which
        says how the person counts, never what they pay)."""
        who = ByLang(org.name_ja, org.name_en.lower())
        if fee == "free":
            said = _l("Staff of a {org} attend free of charge.", org=who)
        elif note is not None:
            said = (
                _l("It is paid; the price is not announced.")
                if amount is None
                else _l("The fee is ¥{amount} (tax incl.).", amount=f"{amount:,}")
            )
        else:
            said = (
                _l("A {org} pays; the price is not announced.", org=who)
                if amount is None
                else _l("The fee for a {org} is ¥{amount} (tax incl.).", org=who, amount=f"{amount:,}")
            )
        return _after(note, said)

    def fee_groups(self, course: str) -> FeeGroups:
        """The organisation types that may take `course`, split into free and paid: B-1
        names only local governments, B-2 everyone else."""
        rule = self.course(course)
        orgs = [
            o
            for o in self.org_types.values()
            if rule.allowed == "all" or (rule.allowed == "local") == o.local
        ]
        return FeeGroups(
            rule.code,
            tuple(o for o in orgs if o.fee == "free"),
            tuple(o for o in orgs if o.fee != "free"),
            rule.fee_yen,
        )

    def fee_overview(self) -> list[Said]:
        """Who pays what when the person is not known: the free, the paid with each
        course's price (only courses they may take: B-1 has no paid line), then how
        dispatched workers, contractors and students count (the modifiers' reasons)."""
        free: dict[str, OrgType] = {}
        paid: dict[str, OrgType] = {}
        prices: dict[int | None, list[ByLang]] = {}
        for c in self.courses:
            groups = self.fee_groups(c.code)
            free.update((o.code, o) for o in groups.free)
            if groups.paid:
                paid.update((o.code, o) for o in groups.paid)
                prices.setdefault(groups.fee_yen, []).append(ByLang(c.name_ja, c.name_en))
        lines: list[Said] = []
        if free:
            lines.append(_l("Free: {organisations}", organisations=org_list(free.values())))
        if paid:
            priced = Joined(
                ByLang("、", "; "),
                [
                    _l(
                        "{courses}: {price}",
                        courses=Joined(ByLang("・", ", "), names),
                        price=_l("price not announced") if amount is None else price(amount),
                    )
                    for amount, names in prices.items()
                ],
            )
            lines.append(
                _l("Paid: {organisations} ({prices})", organisations=org_list(paid.values()), prices=priced)
            )
        lines += [ByLang(m.reason_ja, m.reason_en) for m in self.modifiers]
        return lines

    def decide_all(self, profile: Profile) -> list[Verdict]:
        """One verdict per course, in the course table's order."""
        return [self.decide(profile, c.code) for c in self.courses]

    @staticmethod
    def _amount(rule: CourseRule, fee: str) -> int | None:
        return 0 if fee == "free" else rule.fee_yen


def _after(note: Modifier | None, said: Lazy) -> Said:
    """`said` after the modifier's reason, if any (Japanese runs them on, English puts a
    space between)."""
    if note is None:
        return said
    return _l("{note} {reason}", note=ByLang(note.reason_ja, note.reason_en), reason=said)


def price(amount: int) -> Lazy:
    """'77,000円（税込）' / '¥77,000 (tax incl.)'."""
    return _l("¥{amount} (tax incl.)", amount=f"{amount:,}")


def org_list(orgs: Iterable[OrgType]) -> Joined:
    """Organisation types named one after another: '国の機関、地方公共団体' /
    'national agency, local government'."""
    return Joined(ByLang("、", ", "), [ByLang(o.name_ja, o.name_en.lower()) for o in orgs])
