"""Saving a 所属's figures: versions, 409 on a stale write, history rows, all-or-nothing, permissions, and
published definition versions that never change."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from sqlmodel import select

from app.auth import permissions
from app.auth.models import SectionRole
from app.auth.permissions import Principal
from app.config import PROJECT_ROOT
from app.errors import Conflict, Forbidden, InvalidInput
from app.kpis import service
from app.kpis.catalogue import Catalogue, slot
from app.kpis.loader import load_directory
from app.kpis.models import KpiEvent, KpiValue, KpiVersion
from app.kpis.service import FigureInput

APRIL = date(2026, 4, 1)


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue.of(load_directory(PROJECT_ROOT / "kpis"))


def leader(world) -> Principal:
    return Principal(world.leader_a.id, "leader.a1@test.example", "リーダー", sections={world.a1.id: SectionRole.LEADER})


def test_a_month_is_saved_with_versions_and_history(session, world, catalogue):
    who = leader(world)
    saved = service.save_month(session, who, world.a1, date(2026, 5, 1), catalogue, [
        FigureInput("print.copies", "１２，３４５", 0), FigureInput("fax.sent", "12", 0),
        FigureInput("staff.count", "20人", 0), FigureInput("paper.purchased", "", 0)])
    assert saved.changed == 3  # the empty one was empty before: nothing to write
    values = {(v.figure_key, v.month): (v.value, v.version) for v in session.exec(select(KpiValue))}
    assert values == {("print.copies", date(2026, 5, 1)): (12345, 1), ("fax.sent", date(2026, 5, 1)): (12, 1),
                      ("staff.count", APRIL): (20, 1)}  # a yearly figure is stored in its fiscal year's April
    service.save_month(session, who, world.a1, date(2026, 5, 1), catalogue, [FigureInput("print.copies", "12000", 1)])
    events = session.exec(select(KpiEvent).where(KpiEvent.figure_key == "print.copies").order_by(KpiEvent.id)).all()
    assert [(e.old_value, e.new_value, e.version, e.source, e.actor_id) for e in events] == [
        (None, 12345, 1, "form", who.user_id), (12345, 12000, 2, "form", who.user_id)]
    version = session.exec(select(KpiVersion)).one()
    assert (version.set_id, version.version) == ("paper", 1)


def test_a_stale_write_is_refused_with_what_is_stored_now(session, world, catalogue):
    who = leader(world)
    month = date(2026, 6, 1)
    service.save_month(session, who, world.a1, month, catalogue, [FigureInput("fax.received", "5", 0)])
    with pytest.raises(Conflict) as info:  # read at version 0, someone saved version 1 since
        service.save_month(session, who, world.a1, month, catalogue, [FigureInput("fax.received", "7", 0)])
    assert "FAX受信件数" in info.value.message and "現在: 5件" in info.value.message
    assert info.value.fields["fax.received"]
    # Sent unchanged at an old version: nothing to write, no conflict (as on the sheet).
    assert service.save_month(session, who, world.a1, month, catalogue, [FigureInput("fax.received", "5", 0)]).changed == 0


def test_one_bad_value_saves_nothing_and_names_the_field(session, world, catalogue):
    with pytest.raises(InvalidInput) as info:
        service.save_month(session, leader(world), world.a1, date(2026, 5, 1), catalogue, [
            FigureInput("print.copies", "100", 0), FigureInput("fax.sent", "-3", 0), FigureInput("fax.received", "多い", 0)])
    assert set(info.value.fields) == {"fax.sent", "fax.received"}
    assert "マイナス" in info.value.fields["fax.sent"]
    assert session.exec(select(KpiValue)).first() is None


def test_a_computed_ratio_cannot_be_entered(session, world, catalogue):
    with pytest.raises(InvalidInput, match="計算で求める値"):
        service.save_month(session, leader(world), world.a1, date(2026, 5, 1), catalogue,
                           [FigureInput("approvals.electronic-rate", "90", 0)])


def test_who_may_enter_figures(session, world, catalogue):
    a1 = world.a1.id
    member = Principal(1, "m@x", "職員", sections={a1: SectionRole.MEMBER})
    assert permissions.why_not_enter_figures(member, a1) is None  # the sheet's rule: the 所属's staff
    assert permissions.why_not_enter_figures(Principal(2, "o@x", "他", sections={world.b1.id: SectionRole.LEADER}), a1)
    assert "実績値の取込み" in permissions.why_not_enter_figures(Principal(3, "d@x", "窓口", is_desk=True), a1)
    assert permissions.why_not_enter_figures(dataclasses.replace(member, read_only=True), a1)
    assert permissions.why_not_import_figures(Principal(3, "d@x", "窓口", is_desk=True)) is None
    assert permissions.why_not_import_figures(member)
    with pytest.raises(Forbidden):
        service.save_month(session, Principal(3, "d@x", "窓口", is_desk=True), world.a1, date(2026, 5, 1), catalogue,
                           [FigureInput("fax.sent", "1", 0)])


def test_a_published_definition_file_may_not_change(session, world, catalogue):
    service.save_month(session, leader(world), world.a1, date(2026, 5, 1), catalogue, [FigureInput("fax.sent", "1", 0)])
    entry = catalogue.files[0]
    edited = Catalogue.of([dataclasses.replace(entry, sha256="0" * 64)])
    with pytest.raises(Conflict, match="公開済みの版は変更できません"):
        service.save_month(session, leader(world), world.a1, date(2026, 5, 1), edited, [FigureInput("fax.sent", "2", 1)])


def test_yearly_figures_live_in_their_fiscal_years_april(catalogue):
    staff = catalogue.figure("staff.count")
    assert slot(staff, date(2027, 3, 1)) == APRIL
    assert slot(staff, date(2026, 4, 1)) == APRIL
    assert slot(catalogue.figure("fax.sent"), date(2027, 3, 1)) == date(2027, 3, 1)


def test_the_demo_writes_plausible_figures_through_the_writer(session, world, catalogue):
    from app import demo

    count = demo.load_figures(session, catalogue, months=3, today=date(2026, 12, 5))
    values = {(v.unit_id, v.month, v.figure_key): v.value for v in session.exec(select(KpiValue))}
    assert count == len(values) == 3 * (3 * 7 + 4)  # 3 所属 × (3 months × 7 monthly + 4 yearly of FY2026)
    assert {m for _, m, _ in values} == {date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1), APRIL}
    for (unit, month, key), value in values.items():
        assert value >= 0
        if key == "approvals.electronic":
            assert value <= values[(unit, month, "approvals.total")] - values[(unit, month, "approvals.paper-required")]
    assert {e.source for e in session.exec(select(KpiEvent))} == {"demo"}


def test_more_electronic_approvals_than_approvals_are_refused_at_the_field(session, world, catalogue):
    month = date(2026, 5, 1)
    who = leader(world)
    service.save_month(session, who, world.a1, month, catalogue, [FigureInput("approvals.total", "100", 0),
                                                                   FigureInput("approvals.paper-required", "10", 0)])
    with pytest.raises(InvalidInput) as info:  # 95 > 100 − 10: the rate excluding paper-only documents would pass 100 %
        service.save_month(session, who, world.a1, month, catalogue, [FigureInput("approvals.electronic", "95", 0)])
    assert "電子決裁件数（95）が、決裁件数から法令等で紙が必要な決裁件数を引いた数（90）を超えています" in \
        info.value.fields["approvals.electronic"]
    assert service.save_month(session, who, world.a1, month, catalogue,
                              [FigureInput("approvals.electronic", "90", 0)]).changed == 1
