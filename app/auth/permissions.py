"""Who may do what: the one place that interprets roles. Pure functions over a Principal.

Each ``why_not_*`` returns None when the action is allowed, else the reason in Japanese (shown to
the person with a 403), so refusals always say why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from app.auth.models import SectionRole


@dataclass(frozen=True)
class Principal:
    """The signed-in person, as every request sees them."""

    user_id: int
    upn: str
    display_name: str
    is_admin: bool = False
    is_desk: bool = False
    sections: Mapping[int, SectionRole] = field(default_factory=dict)  # unit id → role
    read_only: bool = False  # signed in with an API token: reading only
    dev: bool = False  # development sign-in

    def role_in(self, unit_id: int) -> SectionRole | None:
        return self.sections.get(unit_id)

    @property
    def sees_everything(self) -> bool:
        return self.is_admin or self.is_desk

    @property
    def roles(self) -> list[str]:
        names = []
        if self.is_admin:
            names.append("admin")
        if self.is_desk:
            names.append("desk")
        if SectionRole.LEADER in self.sections.values():
            names.append("leader")
        if SectionRole.MEMBER in self.sections.values():
            names.append("member")
        return names


def why_not_read_sheet(p: Principal, unit_id: int) -> str | None:
    if p.sees_everything or p.role_in(unit_id) is not None:
        return None
    return "この所属のチェックシートは、所属の職員と業務DX相談窓口だけが見られます。"


def why_not_edit_sheet(p: Principal, unit_id: int, *, sheet_submitted: bool, round_open: bool) -> str | None:
    if p.read_only:
        return "APIトークンでは閲覧だけができます。"
    if p.role_in(unit_id) is None:
        if p.sees_everything:
            return "業務DX相談窓口・管理者はチェックシートを閲覧できますが、変更はできません。"
        return "この所属のチェックシートは、所属の職員だけが入力できます。"
    if not round_open:
        return "この調査回は受付期間外のため、変更できません。"
    if sheet_submitted:
        return "提出済みのため変更できません。変更するにはDX推進リーダーが提出を取り消してください。"
    return None


def why_not_submit(p: Principal, unit_id: int, *, sheet_submitted: bool, round_open: bool) -> str | None:
    if p.read_only:
        return "APIトークンでは閲覧だけができます。"
    if p.role_in(unit_id) is not SectionRole.LEADER:
        return "提出・提出の取消はDX推進リーダーだけができます。"
    if not round_open:
        return "この調査回は受付期間外のため、提出・取消はできません。"
    return None


def why_not_see_all_sections(p: Principal) -> str | None:
    if p.sees_everything:
        return None
    return "全所属の一覧は業務DX相談窓口・管理者だけが見られます。"


def why_not_admin(p: Principal) -> str | None:
    if p.is_admin and not p.read_only:
        return None
    return "この操作は管理者だけができます。"


def why_not_see_group(p: Principal, sections: int, min_size: int) -> str | None:
    """A group aggregate (全庁, a 部局): the desk always; others only for groups of ``min_size`` 所属
    or more, so that no single 所属 can be singled out."""
    if p.sees_everything or sections >= min_size:
        return None
    return f"{min_size}所属未満のグループの集計は、業務DX相談窓口だけが見られます。"
