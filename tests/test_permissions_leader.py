"""The predicates for targets and support records, per role: each allows someone and refuses someone."""

from __future__ import annotations

import pytest

from app.auth import permissions as p
from app.auth.models import SectionRole
from app.auth.permissions import Principal

A, B = 1, 2
MEMBER = Principal(1, "m@x", "職員", sections={A: SectionRole.MEMBER})
LEADER = Principal(2, "l@x", "リーダー", sections={A: SectionRole.LEADER})
OTHER_LEADER = Principal(3, "o@x", "他所属リーダー", sections={B: SectionRole.LEADER})
DESK = Principal(4, "d@x", "窓口", is_desk=True)
ADMIN = Principal(5, "a@x", "管理者", is_admin=True)
TOKEN_LEADER = Principal(2, "l@x", "リーダー", sections={A: SectionRole.LEADER}, read_only=True)


@pytest.mark.parametrize(("who", "allowed"), [
    (LEADER, True), (MEMBER, False), (OTHER_LEADER, False), (DESK, False), (ADMIN, False), (TOKEN_LEADER, False)])
def test_only_the_sections_leader_sets_targets(who, allowed):
    assert (p.why_not_set_targets(who, A) is None) is allowed


@pytest.mark.parametrize(("who", "allowed"), [
    (LEADER, True), (MEMBER, True), (OTHER_LEADER, False), (DESK, True), (ADMIN, True), (TOKEN_LEADER, True)])
def test_who_reads_a_sections_support_records(who, allowed):
    assert (p.why_not_read_support(who, A) is None) is allowed


@pytest.mark.parametrize(("who", "allowed"), [
    (LEADER, False), (MEMBER, False), (DESK, True), (ADMIN, True),
    (Principal(4, "d@x", "窓口", is_desk=True, read_only=True), False)])
def test_only_the_desk_and_admins_manage_records(who, allowed):
    assert (p.why_not_manage_support(who) is None) is allowed


@pytest.mark.parametrize(("who", "allowed"), [
    (LEADER, True), (MEMBER, False), (OTHER_LEADER, False), (DESK, False), (TOKEN_LEADER, False)])
def test_the_sections_leader_sends_consultation_requests(who, allowed):
    assert (p.why_not_request_support(who, A) is None) is allowed


@pytest.mark.parametrize(("who", "created_by", "origin", "state", "allowed"), [
    (LEADER, 2, "request", "received", True),
    (LEADER, 2, "request", "in_progress", False),
    (LEADER, 9, "request", "received", False),  # another leader's request
    (LEADER, 2, "desk", "received", False),
    (MEMBER, 1, "request", "received", False),
    (TOKEN_LEADER, 2, "request", "received", False),
])
def test_a_leader_edits_only_their_own_request_while_it_is_received(who, created_by, origin, state, allowed):
    refusal = p.why_not_edit_request(who, A, created_by_id=created_by, origin=origin, state=state)
    assert (refusal is None) is allowed
