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
    fee: str  # "free" | "paid"
    fee_yen: int | None  # 0 when free; None when paid but no price is announced
    reason_ja: str
    reason_en: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "course": self.course, "eligible": self.eligible, "fee": self.fee,
            "fee_yen": self.fee_yen, "reason_ja": self.reason_ja, "reason_en": self.reason_en,
        }

    def fee_text(self, lang: str) -> str:
        """'無料' / '77,000円（税込）' / '有料（金額未発表）', or the English."""
        en = lang.startswith("en")
        if self.fee == "free":
            return "Free" if en else "無料"
        if self.fee_yen is None:
            return "Paid (price not announced)" if en else "有料（金額未発表）"
        return f"¥{self.fee_yen:,} (tax incl.)" if en else f"{self.fee_yen:,}円（税込）"


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
        """The verdict for one person and one course."""
        rule = self.course(course)
        org = self.org_type(profile.org_type)
        flags = {"student": profile.student, "dispatched": profile.dispatched,
                 "contractor": profile.contractor}
        notes_ja: list[str] = []
        notes_en: list[str] = []
        local, fee = org.local, org.fee
        for mod in self.modifiers:  # strongest first; the first that applies decides
            if not flags.get(mod.flag):
                continue
            if mod.effect == "refuse":
                return Verdict(rule.code, False, org.fee, self._amount(rule, org.fee),
                               mod.reason_ja, mod.reason_en)
            notes_ja.append(mod.reason_ja)
            notes_en.append(mod.reason_en)
            if mod.effect == "as_private":
                private = self.org_types.get("private")
                local, fee = False, private.fee if private else "paid"
            break  # "as_own_org": the org type's own row applies unchanged
        who_ja, who_en = org.name_ja, org.name_en
        if rule.allowed == "local" and not local:
            return Verdict(rule.code, False, fee, self._amount(rule, fee),
                           " ".join([*notes_ja, f"{rule.name_ja}は{rule.organisations_ja}の職員向けです。"]),
                           " ".join([*notes_en, f"{rule.name_en} is for {rule.organisations_en.lower()}."]))
        if rule.allowed == "nonlocal" and local:
            return Verdict(rule.code, False, fee, self._amount(rule, fee),
                           f"{rule.name_ja}は地方公共団体以外の方が対象です（地方公共団体の方はB-1コースへ）。",
                           f"{rule.name_en} is for organisations other than local governments "
                           "(local governments take B-1).")
        if fee == "free":
            ja = f"{who_ja}の職員は無料で受講できます。"
            en = f"Staff of a {who_en.lower()} attend free of charge."
        else:
            amount = self._amount(rule, fee)
            if amount is None:
                price_ja, price_en = "（金額は未発表）", " (the price is not announced)"
            else:
                price_ja, price_en = f": {amount:,}円（税込）", f": ¥{amount:,} incl. tax"
            ja = (f"{who_ja}は有料です" if not notes_ja else "有料です") + price_ja + "。"
            en = (f"A {who_en.lower()} pays" if not notes_en else "Paid") + price_en + "."
        return Verdict(rule.code, True, fee, self._amount(rule, fee),
                       " ".join([*notes_ja, ja]), " ".join([*notes_en, en]))

    def decide_all(self, profile: Profile) -> list[Verdict]:
        """One verdict per course, in the course table's order."""
        return [self.decide(profile, c.code) for c in self.courses]

    @staticmethod
    def _amount(rule: CourseRule, fee: str) -> int | None:
        return 0 if fee == "free" else rule.fee_yen
