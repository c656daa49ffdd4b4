"""The pure permission predicates, per role: each role has what it may and may not do."""

from __future__ import annotations

from app.auth.models import SectionRole
from app.auth.permissions import (
    Principal,
    why_not_admin,
    why_not_edit_sheet,
    why_not_read_sheet,
    why_not_see_all_sections,
    why_not_submit,
)

A, B = 1, 2
OPEN_DRAFT = {"sheet_submitted": False, "round_open": True}
SUBMITTED = {"sheet_submitted": True, "round_open": True}
CLOSED = {"sheet_submitted": False, "round_open": False}

member_a = Principal(1, "m@x", "m", sections={A: SectionRole.MEMBER})
leader_a = Principal(2, "l@x", "l", sections={A: SectionRole.LEADER})
desk = Principal(3, "d@x", "d", is_desk=True)
admin = Principal(4, "a@x", "a", is_admin=True)
token_leader_a = Principal(2, "l@x", "l", sections={A: SectionRole.LEADER}, read_only=True)


def test_member_reads_and_edits_only_their_own_draft():
    assert why_not_read_sheet(member_a, A) is None
    assert why_not_read_sheet(member_a, B) is not None
    assert why_not_edit_sheet(member_a, A, **OPEN_DRAFT) is None
    assert "リーダー" in why_not_edit_sheet(member_a, A, **SUBMITTED)
    assert "受付期間外" in why_not_edit_sheet(member_a, A, **CLOSED)
    assert why_not_edit_sheet(member_a, B, **OPEN_DRAFT) is not None
    assert "リーダーだけ" in why_not_submit(member_a, A, **OPEN_DRAFT)
    assert why_not_see_all_sections(member_a) is not None
    assert why_not_admin(member_a) is not None


def test_leader_submits_and_reopens_their_own_sheet_while_the_round_is_open():
    assert why_not_submit(leader_a, A, **OPEN_DRAFT) is None
    assert why_not_submit(leader_a, A, **SUBMITTED) is None
    assert why_not_submit(leader_a, A, **CLOSED) is not None
    assert why_not_submit(leader_a, B, **OPEN_DRAFT) is not None
    assert "取り消す" in why_not_edit_sheet(leader_a, A, **SUBMITTED)


def test_desk_reads_everything_and_changes_nothing():
    assert why_not_read_sheet(desk, A) is None and why_not_read_sheet(desk, B) is None
    assert why_not_see_all_sections(desk) is None
    assert "変更はできません" in why_not_edit_sheet(desk, A, **OPEN_DRAFT)
    assert why_not_submit(desk, A, **OPEN_DRAFT) is not None
    assert why_not_admin(desk) is not None


def test_admin_manages_but_does_not_fill_in_sheets():
    assert why_not_admin(admin) is None
    assert why_not_read_sheet(admin, A) is None
    assert why_not_edit_sheet(admin, A, **OPEN_DRAFT) is not None


def test_an_api_token_only_reads():
    assert why_not_read_sheet(token_leader_a, A) is None
    assert "閲覧だけ" in why_not_edit_sheet(token_leader_a, A, **OPEN_DRAFT)
    assert "閲覧だけ" in why_not_submit(token_leader_a, A, **OPEN_DRAFT)
    assert why_not_admin(Principal(4, "a@x", "a", is_admin=True, read_only=True)) is not None


def test_staff_read_the_units_their_section_continues_and_are_told_why_not_the_others():
    """``readable``: the predecessors of the person's 所属 (auth.scope.readable_units)."""
    assert why_not_read_sheet(member_a, B, readable={B}) is None
    assert why_not_read_sheet(member_a, B, readable={3}) == (
        "この所属のチェックシートは、所属の職員と業務DX相談窓口だけが見られます。")


def test_each_refusal_says_why_in_words_for_that_person():
    """The reason differs by who asks: the words are part of the rule (a refusal tells the person what to do)."""
    from app.auth.permissions import (
        why_not_edit_request,
        why_not_manage_support,
        why_not_manage_tokens,
        why_not_read_support,
        why_not_request_support,
        why_not_set_targets,
    )

    token = "APIトークンでは閲覧だけができます。"
    assert why_not_set_targets(member_a, A) == "目標の設定・変更は所属のDX推進リーダーだけができます（職員は閲覧できます）。"
    assert why_not_set_targets(desk, A) == "目標は所属のDX推進リーダーが設定します。業務DX相談窓口・管理者は閲覧だけができます。"
    assert why_not_set_targets(member_a, B) == "この所属の目標は、所属のDX推進リーダーだけが設定できます。"
    assert why_not_set_targets(token_leader_a, A) == token
    assert why_not_request_support(member_a, A) == (
        "業務DX相談窓口への相談は、所属のDX推進リーダーから送ります。リーダーにご相談ください。")
    assert why_not_request_support(desk, A) == "窓口の方は「伴走支援」から相談の記録を作成してください。"
    assert why_not_request_support(member_a, B) == "この所属の相談は、所属のDX推進リーダーだけが送れます。"
    assert why_not_request_support(token_leader_a, A) == token
    assert why_not_manage_support(member_a) == (
        "伴走支援の記録の作成・変更は業務DX相談窓口だけができます（所属の方は閲覧と「相談する」ができます）。")
    assert why_not_manage_support(Principal(3, "d@x", "d", is_desk=True, read_only=True)) == token
    assert why_not_read_support(member_a, B) == "伴走支援の記録は、その所属の職員と業務DX相談窓口だけが見られます。"
    assert why_not_edit_request(leader_a, A, created_by_id=99, origin="request", state="received") == (
        "この記録は業務DX相談窓口だけが変更できます。")
    assert why_not_edit_request(token_leader_a, A, created_by_id=2, origin="request", state="received") == token
    assert why_not_edit_request(leader_a, A, created_by_id=2, origin="request", state="in_progress") == (
        "窓口が対応を始めたため、相談の内容は変更できません。追加の相談は新しく送ってください。")
    assert why_not_manage_tokens(member_a) == "APIトークンは、業務DX相談窓口・管理者だけが作成できます。"
    assert why_not_manage_tokens(Principal(3, "d@x", "d", is_desk=True, read_only=True)) == (
        "APIトークンでは、APIトークンの作成・取消はできません。")
    assert why_not_see_all_sections(member_a) == "全所属の一覧は業務DX相談窓口・管理者だけが見られます。"
    assert why_not_admin(member_a) == "この操作は管理者だけができます。"


def test_each_refusal_to_edit_submit_export_or_see_a_group_says_why_in_words_for_that_person():
    """The reason is shown to the person with the 403 and tells them what to do: the words are part of the rule."""
    from app.auth.permissions import why_not_export, why_not_see_group

    token = "APIトークンでは閲覧だけができます。"
    closed = "この調査回は受付期間外のため、変更できません。"
    assert why_not_edit_sheet(token_leader_a, A, **OPEN_DRAFT) == token
    assert why_not_edit_sheet(desk, A, **OPEN_DRAFT) == (
        "業務DX相談窓口・管理者はチェックシートを閲覧できますが、変更はできません。")
    assert why_not_edit_sheet(admin, A, **CLOSED) == (
        "業務DX相談窓口・管理者はチェックシートを閲覧できますが、変更はできません。")
    assert why_not_edit_sheet(member_a, B, **CLOSED) == closed  # a predecessor's sheet of a past round
    assert why_not_edit_sheet(member_a, B, **OPEN_DRAFT) == "この所属のチェックシートは、所属の職員だけが入力できます。"
    assert why_not_edit_sheet(member_a, A, **CLOSED) == closed
    assert why_not_edit_sheet(leader_a, A, sheet_submitted=True, round_open=False) == closed
    assert why_not_edit_sheet(leader_a, A, **SUBMITTED) == (
        "提出済みのため変更できません。変更するには「提出を取り消す」を押してください。")
    assert why_not_edit_sheet(member_a, A, **SUBMITTED) == (
        "提出済みのため変更できません。変更するにはDX推進リーダーが提出を取り消してください。")
    assert why_not_edit_sheet(leader_a, A, **OPEN_DRAFT) is None

    assert why_not_submit(token_leader_a, A, **OPEN_DRAFT) == token
    assert why_not_submit(member_a, A, **OPEN_DRAFT) == "提出・提出の取消はDX推進リーダーだけができます。"
    assert why_not_submit(desk, A, **OPEN_DRAFT) == "提出・提出の取消はDX推進リーダーだけができます。"
    assert why_not_submit(leader_a, A, **CLOSED) == "この調査回は受付期間外のため、提出・取消はできません。"

    leader_elsewhere = (
        "DX推進リーダーがエクスポートできるのは、自分の所属のチェックシートだけです。"
        "所属を指定してください（例: ?section=所属コード）。")
    nobody = ("エクスポートは、DX推進リーダー（自分の所属）・業務DX相談窓口・管理者だけができます。"
              "内容はチェックシートの画面で確認・印刷できます。")
    leader_ab = Principal(5, "l2@x", "l2", sections={A: SectionRole.LEADER, B: SectionRole.MEMBER})
    assert why_not_export(desk, [A, B]) is None and why_not_export(admin, []) is None
    assert why_not_export(leader_a, [A]) is None
    assert why_not_export(leader_a, []) == leader_elsewhere  # the whole round: not a leader's
    assert why_not_export(leader_a, [A, B]) == leader_elsewhere
    assert why_not_export(leader_ab, [B]) == leader_elsewhere  # a member there, not its leader
    assert why_not_export(member_a, [A]) == nobody
    assert why_not_export(Principal(6, "n@x", "n"), []) == nobody

    small = "回答した所属が5未満の集計は、特定の所属が分からないよう業務DX相談窓口だけが見られます。"
    assert why_not_see_group(member_a, 4, 5) == small
    assert why_not_see_group(member_a, 5, 5) is None
    assert why_not_see_group(desk, 1, 5) is None and why_not_see_group(admin, 0, 5) is None
