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
