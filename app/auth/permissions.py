"""Who may do what: the one place that interprets roles. Pure functions over a Principal.

Each ``why_not_*`` returns None when the action is allowed, else the reason in Japanese (shown to
the person with a 403), so refusals always say why.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from app.auth.models import SectionRole
from app.statuses import Status


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


def why_not_read_sheet(p: Principal, unit_id: int, *, readable: Collection[int] = ()) -> str | None:
    """``readable``: the units the person's 所属 continue after reorganisations (``auth.scope.readable_units``),
    so that the staff of a renamed, moved, merged or split 所属 can read their predecessors' past sheets."""
    if p.sees_everything or p.role_in(unit_id) is not None or unit_id in readable:
        return None
    return "この所属のチェックシートは、所属の職員と業務DX相談窓口だけが見られます。"


def why_not_edit_sheet(p: Principal, unit_id: int, *, sheet_submitted: bool, round_open: bool) -> str | None:
    if p.read_only:
        return "APIトークンでは閲覧だけができます。"
    if p.role_in(unit_id) is None:
        if p.sees_everything:
            return "業務DX相談窓口・管理者はチェックシートを閲覧できますが、変更はできません。"
        if not round_open:  # staff reading a predecessor's sheet of a past round
            return "この調査回は受付期間外のため、変更できません。"
        return "この所属のチェックシートは、所属の職員だけが入力できます。"
    if not round_open:
        return "この調査回は受付期間外のため、変更できません。"
    if sheet_submitted:
        if p.role_in(unit_id) is SectionRole.LEADER:
            return "提出済みのため変更できません。変更するには「提出を取り消す」を押してください。"
        return "提出済みのため変更できません。変更するにはDX推進リーダーが提出を取り消してください。"
    return None


def why_not_confirm_previous(p: Principal, unit_id: int, *, sheet_submitted: bool, round_open: bool) -> str | None:
    """「変更なし」 and 「前回どおりで確認」 (``app.sheets.previous``) answer items with the previous round's answers:
    a change of the sheet, for whoever may change it. The answers offered are those of the 所属's own past
    (its lineage), which its staff may read (``auth.scope``)."""
    return why_not_edit_sheet(p, unit_id, sheet_submitted=sheet_submitted, round_open=round_open)


def why_not_read_evidence(p: Principal, unit_id: int, *, readable: Collection[int] = ()) -> str | None:
    """Evidence on answers (根拠資料: the 所属's own documents and links) is read by the 所属's staff (and the staff of
    the 所属 that continue it, ``readable``) and the desk only: not by administrators who are not the desk."""
    if p.is_desk or p.role_in(unit_id) is not None or unit_id in readable:
        return None
    return "根拠資料は、所属の職員と業務DX相談窓口だけが見られます。"


def why_not_edit_evidence(p: Principal, unit_id: int, *, sheet_submitted: bool, round_open: bool) -> str | None:
    """Adding or removing evidence is a change of the sheet: for whoever may change it, while it may be changed."""
    return why_not_edit_sheet(p, unit_id, sheet_submitted=sheet_submitted, round_open=round_open)


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


def sees_preparing_rounds(p: Principal) -> bool:
    """A round being prepared (準備中, no sheets yet) is shown to the desk and admins only."""
    return p.sees_everything


def why_not_admin(p: Principal) -> str | None:
    if p.is_admin and not p.read_only:
        return None
    return "この操作は管理者だけができます。"


# --- Targets (目標) and support records (伴走支援) ---------------------------------------------------


def why_not_set_targets(p: Principal, unit_id: int) -> str | None:
    if p.read_only:
        return "APIトークンでは閲覧だけができます。"
    if p.role_in(unit_id) is SectionRole.LEADER:
        return None
    if p.role_in(unit_id) is SectionRole.MEMBER:
        return "目標の設定・変更は所属のDX推進リーダーだけができます（職員は閲覧できます）。"
    if p.sees_everything:
        return "目標は所属のDX推進リーダーが設定します。業務DX相談窓口・管理者は閲覧だけができます。"
    return "この所属の目標は、所属のDX推進リーダーだけが設定できます。"


def why_not_read_support(p: Principal, unit_id: int) -> str | None:
    if p.sees_everything or p.role_in(unit_id) is not None:
        return None
    return "伴走支援の記録は、その所属の職員と業務DX相談窓口だけが見られます。"


def why_not_manage_support(p: Principal) -> str | None:
    """Recording consultations, editing any record, changing its state: the desk (and admins)."""
    if p.read_only:
        return "APIトークンでは閲覧だけができます。"
    if p.sees_everything:
        return None
    return "伴走支援の記録の作成・変更は業務DX相談窓口だけができます（所属の方は閲覧と「相談する」ができます）。"


def why_not_request_support(p: Principal, unit_id: int) -> str | None:
    """「相談する」: the 所属's DX推進リーダー sends a request to the desk."""
    if p.read_only:
        return "APIトークンでは閲覧だけができます。"
    if p.role_in(unit_id) is SectionRole.LEADER:
        return None
    if p.role_in(unit_id) is SectionRole.MEMBER:
        return "業務DX相談窓口への相談は、所属のDX推進リーダーから送ります。リーダーにご相談ください。"
    if p.sees_everything:
        return "窓口の方は「伴走支援」から相談の記録を作成してください。"
    return "この所属の相談は、所属のDX推進リーダーだけが送れます。"


def why_not_ask_practice(p: Principal, unit_id: int, latest_status: str | None) -> str | None:
    """「この所属に聞いてみる」 on another 所属's shared practice (a 「相談する」, so its rules first): only a 所属
    at △ or × on the item — its answer of the latest round in which it answered the item (the rounds in the order
    held; ``latest_status`` None: never answered) — the 所属 whose hints show the practice."""
    refusal = why_not_request_support(p, unit_id)
    if refusal:
        return refusal
    if latest_status not in (Status.FAIR, Status.NOT_DONE):
        now = f"最新の回答は「{latest_status}」です" if latest_status else "まだ回答していません"
        return (f"「この所属に聞いてみる」は、この項目に△か×と回答している所属が使えます（この所属の{now}）。"
                "困っている項目は「相談する」から窓口に相談してください。")
    return None


def why_not_read_practices(p: Principal) -> str | None:
    """Shared practices (取組事例, app/sheets/practice.py): everyone signed in (a 所属 shared them to be read);
    a Principal is signed in (anonymous requests are refused before: 401, or the sign-in page)."""
    return None


def why_not_mark_practice(p: Principal) -> str | None:
    """Featuring (おすすめ) or hiding a shared practice: the desk and admins."""
    if p.read_only:
        return "APIトークンでは閲覧だけができます。"
    if p.sees_everything:
        return None
    return "取組事例のおすすめ・非表示は業務DX相談窓口だけができます。"


def why_not_edit_request(p: Principal, unit_id: int, *, created_by_id: int | None, origin: str,
                         state: str) -> str | None:
    """A leader may still change their own request (message, items) while the desk has not taken it up."""
    if p.read_only:
        return "APIトークンでは閲覧だけができます。"
    if origin != "request" or created_by_id != p.user_id or p.role_in(unit_id) is not SectionRole.LEADER:
        return "この記録は業務DX相談窓口だけが変更できます。"
    if state != "received":
        return "窓口が対応を始めたため、相談の内容は変更できません。追加の相談は新しく送ってください。"
    return None


# --- Exports, API tokens, group figures ----------------------------------------------------------------


def why_not_export(p: Principal, unit_ids: Collection[int]) -> str | None:
    """Exporting the sheets of ``unit_ids`` (CSV/XLSX): the desk and admins any; a DX推進リーダー only
    the 所属 they lead. Members read and print their sheet on its page but do not export."""
    if p.sees_everything:
        return None
    if unit_ids and all(p.role_in(u) is SectionRole.LEADER for u in unit_ids):
        return None
    if SectionRole.LEADER in p.sections.values():
        return ("DX推進リーダーがエクスポートできるのは、自分の所属のチェックシートだけです。"
                "所属を指定してください（例: ?section=所属コード）。")
    return ("エクスポートは、DX推進リーダー（自分の所属）・業務DX相談窓口・管理者だけができます。"
            "内容はチェックシートの画面で確認・印刷できます。")


def why_not_export_everything(p: Principal) -> str | None:
    """The flat table of every answer of every round (Power BI): the desk and admins (and their read-only
    API tokens). A DX推進リーダー exports their own 所属 as CSV/XLSX instead."""
    if p.sees_everything:
        return None
    return ("全所属の回答の一覧（分析用）は、業務DX相談窓口・管理者だけが読めます。"
            "DX推進リーダーは自分の所属のCSV・Excelをダウンロードできます。")


def why_not_manage_tokens(p: Principal) -> str | None:
    """Creating and revoking one's own API tokens (read-only access for Power BI / Power Query)."""
    if p.read_only:
        return "APIトークンでは、APIトークンの作成・取消はできません。"
    if p.sees_everything:
        return None
    return "APIトークンは、業務DX相談窓口・管理者だけが作成できます。"


def why_not_see_group(p: Principal, contributors: int, min_size: int) -> str | None:
    """A group figure (全庁, a 部局, one item over a group): the desk always; others only when at least
    ``min_size`` 所属 contributed to it (answered what the figure is made of: a maturity counts the 所属
    with a maturity, an item's counts the 所属 that answered the item), so that no single 所属 can be
    singled out — a group of five where only one has answered is a group of one."""
    if p.sees_everything or contributors >= min_size:
        return None
    return f"回答した所属が{min_size}未満の集計は、特定の所属が分からないよう業務DX相談窓口だけが見られます。"


# --- Measured figures (実績値, app/kpis) ------------------------------------------------------------------
# Reading a 所属's figures follows its sheet (``why_not_read_sheet``, through ``scope.why_not_read``).


def why_not_enter_figures(p: Principal, unit_id: int) -> str | None:
    """Entering a 所属's monthly figures on its page: the 所属's staff, as its sheet (the DX推進リーダー
    usually); the desk and admins import them in bulk instead."""
    if p.read_only:
        return "APIトークンでは閲覧だけができます。"
    if p.role_in(unit_id) is not None:
        return None
    if p.sees_everything:
        return ("業務DX相談窓口・管理者は実績値を閲覧できますが、この画面では入力できません。"
                "まとめて登録するときは「実績値の取込み」を使ってください。")
    return "この所属の実績値は、所属の職員だけが入力できます。"


def why_not_import_figures(p: Principal) -> str | None:
    """Bulk import of figures (CSV/XLSX from the copier, document or FAX systems): the desk and admins."""
    if p.read_only:
        return "APIトークンでは閲覧だけができます。"
    if p.sees_everything:
        return None
    return "実績値の一括取込みは、業務DX相談窓口・管理者だけができます。"


def why_not_see_figures_desk(p: Principal) -> str | None:
    """The desk's figures: every 所属 by name, 部局 totals and 「評価と実績のずれ」."""
    if p.sees_everything:
        return None
    return "全所属の実績値と「評価と実績のずれ」は、業務DX相談窓口・管理者だけが見られます。"


def why_not_set_caps(p: Principal) -> str | None:
    """Caps per 部局 (上限, e.g. the copy paper a 部局 may buy in a fiscal year): the desk and admins set them;
    they are read where the desk's figures are (``why_not_see_figures_desk``)."""
    if p.read_only:
        return "APIトークンでは閲覧だけができます。"
    if p.sees_everything:
        return None
    return "実績値の上限は、業務DX相談窓口・管理者だけが設定できます。"


# --- Notifications -------------------------------------------------------------------------------------


def why_not_manage_reminders(p: Principal) -> str | None:
    """Reminder rules, their preview and 「今すぐ送る」: the desk and admins."""
    if p.read_only:
        return "APIトークンでは閲覧だけができます。"
    if p.sees_everything:
        return None
    return "督促の設定と送信は業務DX相談窓口・管理者だけができます。"


def why_not_manage_notices(p: Principal) -> str | None:
    """送信できなかった通知 and 再送, where each 部局 and the desk are told (contact, Teams webhook): admins."""
    return why_not_admin(p)


def why_not_set_own_notices(p: Principal) -> str | None:
    """通知設定: every signed-in person, for their own notices (not through an API token)."""
    if p.read_only:
        return "APIトークンでは閲覧だけができます。"
    return None


# --- The desk's review (確認済 / 差戻し) -------------------------------------------------------------------


def why_not_review(p: Principal, *, sheet_submitted: bool, sent_back: bool, round_open: bool,
                   send_back: bool) -> str | None:
    """Marking a sheet's items 確認済 or 差戻し (or the whole sheet 確認済): the desk and admins, on a submitted
    sheet. A sheet already sent back (a draft with 差戻し on it) may get further 差戻し comments; sending back
    reopens the sheet, so it needs an open round. The 所属 reads the marks on its sheet page."""
    if p.read_only:
        return "APIトークンでは閲覧だけができます。"
    if not p.sees_everything:
        return "チェックシートの確認・差戻しは、業務DX相談窓口・管理者だけができます。"
    if send_back and not round_open:
        return "この調査回は受付期間外のため、差戻しはできません。"
    if not sheet_submitted and not (send_back and sent_back):
        return "提出されていないチェックシートは確認できません。所属が提出してから確認してください。"
    return None
