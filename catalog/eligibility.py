"""Who may attend which course, and what it costs.

The rules are data (the `org_types`, `modifiers` and `courses.allowed` rows the
schedule file loads); this module only reads them. `decide()` is pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from catalog.errors import InvalidInput
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
    course: str
    eligible: bool
    fee: str | None  # "free" | "paid"; None when the person may not take the course
    fee_yen: int | None  # 0 when free; None when not eligible or no price is announced
    reason_ja: str
    reason_en: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "course": self.course, "eligible": self.eligible, "fee": self.fee,
            "fee_yen": self.fee_yen, "reason_ja": self.reason_ja, "reason_en": self.reason_en,
        }

    def fee_text(self, lang: str) -> str:
        """'無料' / '77,000円（税込）' / '有料（金額未発表）' / '対象外', or the English."""
        en = lang.startswith("en")
        if not self.eligible:
            return "Not eligible" if en else "対象外"
        if self.fee == "free":
            return "Free" if en else "無料"
        if self.fee_yen is None:
            return "Paid (price not announced)" if en else "有料（金額未発表）"
        return f"¥{self.fee_yen:,} (tax incl.)" if en else f"{self.fee_yen:,}円（税込）"

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
            r["code"]: OrgType(r["code"], r["name_ja"], r["name_en"], bool(r["public"]),
                               bool(r["local"]), r["fee"])
            for r in store.query("select * from org_types order by position")
        }
        mods = tuple(
            Modifier(r["flag"], r["effect"], r["reason_ja"], r["reason_en"])
            for r in store.query("select * from modifiers order by position")
        )
        courses = tuple(
            CourseRule(r["code"], r["name_ja"], r["name_en"], r["allowed"], r["fee_yen"],
                       r["organisations_ja"], r["organisations_en"])
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
                f"unknown organisation type {code!r}; choose one of: {valid}",
                f"組織種別 {code!r} は不明です。次から選んでください: {valid}",
            )
        return self.org_types[key]

    def course(self, code: str) -> CourseRule:
        for c in self.courses:
            if c.code.lower() == (code or "").strip().lower():
                return c
        valid = ", ".join(c.code for c in self.courses)
        raise InvalidInput(f"unknown course {code!r}; choose one of: {valid}",
                           f"コース {code!r} は不明です。次から選んでください: {valid}")

    def decide(self, profile: Profile, course: str) -> Verdict:
        """The verdict for one person and one course. Its reason and its fee never
        contradict: an ineligible verdict carries no fee, and the dispatched/contractor
        flags change only how a public body's row applies (a business is its own row)."""
        rule = self.course(course)
        org = self.org_type(profile.org_type)
        flags = {"student": profile.student, "dispatched": profile.dispatched,
                 "contractor": profile.contractor}
        note: Modifier | None = None
        local, fee = org.local, org.fee
        for mod in self.modifiers:  # strongest first; the first that applies decides
            if not flags.get(mod.flag):
                continue
            if mod.effect == "refuse":
                return Verdict(rule.code, False, None, None, mod.reason_ja, mod.reason_en)
            if not org.public:
                continue  # 派遣/請負 at a business: the business's own row applies
            note = mod
            if mod.effect == "as_private":
                private = self.org_types.get("private")
                local, fee = False, private.fee if private else "paid"
            break  # "as_own_org": the org type's own row applies unchanged
        amount = self._amount(rule, fee)
        notes_ja = [note.reason_ja] if note else []
        notes_en = [note.reason_en] if note else []
        if rule.allowed == "local" and not local:
            return Verdict(rule.code, False, None, None,
                           "".join([*notes_ja, f"{rule.name_ja}は{rule.organisations_ja}の職員向けです。"]),
                           " ".join([*notes_en, f"{rule.name_en} is for {rule.organisations_en.lower()}."]))
        if rule.allowed == "nonlocal" and local:
            return Verdict(rule.code, False, None, None,
                           f"{rule.name_ja}は地方公共団体以外の方が対象です（地方公共団体の方はB-1コースへ）。",
                           f"{rule.name_en} is for organisations other than local governments "
                           "(local governments take B-1).")
        ja, en = self._fee_sentences(org, fee, amount, note)
        return Verdict(rule.code, True, fee, amount, ja, en)

    @staticmethod
    def _fee_sentences(org: OrgType, fee: str, amount: int | None,
                       note: Modifier | None) -> tuple[str, str]:
        """The fee said once, in one sentence, after the modifier's reason if any (which
        says how the person counts, never what they pay)."""
        who_ja, who_en = org.name_ja, org.name_en
        if fee == "free":
            ja = f"{who_ja}の職員は無料で受講できます。"
            en = f"Staff of a {who_en.lower()} attend free of charge."
        elif note is not None:
            ja = ("有料です（金額は未発表）。" if amount is None
                  else f"受講料は{amount:,}円（税込）です。")
            en = ("It is paid; the price is not announced." if amount is None
                  else f"The fee is ¥{amount:,} (tax incl.).")
        else:
            ja = (f"{who_ja}は有料です（金額は未発表）。" if amount is None
                  else f"{who_ja}の受講料は{amount:,}円（税込）です。")
            en = (f"A {who_en.lower()} pays; the price is not announced." if amount is None
                  else f"The fee for a {who_en.lower()} is ¥{amount:,} (tax incl.).")
        if note is None:
            return ja, en
        return note.reason_ja + ja, f"{note.reason_en} {en}"

    def fee_groups(self, course: str) -> FeeGroups:
        """The organisation types that may take `course`, split into free and paid: B-1
        names only local governments, B-2 everyone else."""
        rule = self.course(course)
        orgs = [o for o in self.org_types.values()
                if rule.allowed == "all" or (rule.allowed == "local") == o.local]
        return FeeGroups(rule.code, tuple(o for o in orgs if o.fee == "free"),
                         tuple(o for o in orgs if o.fee != "free"), rule.fee_yen)

    def fee_overview(self, lang: str) -> list[str]:
        """Who pays what when the person is not known: the free, the paid with each
        course's price (only courses they may take: B-1 has no paid line), then how
        dispatched workers, contractors and students count (the modifiers' reasons)."""
        en = lang.startswith("en")
        free: dict[str, OrgType] = {}
        paid: dict[str, OrgType] = {}
        prices: dict[int | None, list[str]] = {}
        for c in self.courses:
            groups = self.fee_groups(c.code)
            free.update((o.code, o) for o in groups.free)
            if groups.paid:
                paid.update((o.code, o) for o in groups.paid)
                prices.setdefault(groups.fee_yen, []).append(c.name_en if en else c.name_ja)
        lines = []
        if en:
            if free:
                lines.append("Free: " + ", ".join(o.name_en.lower() for o in free.values()))
            if paid:
                priced = "; ".join(
                    f"{', '.join(names)}: "
                    + ("price not announced" if amount is None else f"¥{amount:,} (tax incl.)")
                    for amount, names in prices.items())
                lines.append("Paid: " + ", ".join(o.name_en.lower() for o in paid.values())
                             + f" ({priced})")
            lines += [m.reason_en for m in self.modifiers]
            return lines
        if free:
            lines.append("無料: " + "、".join(o.name_ja for o in free.values()))
        if paid:
            priced = "、".join(
                f"{'・'.join(names)} "
                + ("金額未発表" if amount is None else f"{amount:,}円（税込）")
                for amount, names in prices.items())
            lines.append("有料: " + "、".join(o.name_ja for o in paid.values())
                         + f"（{priced}）")
        lines += [m.reason_ja for m in self.modifiers]
        return lines

    def decide_all(self, profile: Profile) -> list[Verdict]:
        """One verdict per course, in the course table's order."""
        return [self.decide(profile, c.code) for c in self.courses]

    @staticmethod
    def _amount(rule: CourseRule, fee: str) -> int | None:
        return 0 if fee == "free" else rule.fee_yen
