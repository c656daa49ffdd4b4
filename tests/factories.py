"""Plain factory functions with keyword defaults (no factory classes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session

from app.auth.models import Membership, SectionRole, User
from app.checklists import service as checklists
from app.checklists.loader import LoadedChecklist, load_checklist, parse_checklist
from app.config import PROJECT_ROOT
from app.orgs.models import Unit, UnitKind
from app.rounds import service as rounds
from app.rounds.models import Round
from app.sheets import service as sheets_service
from app.sheets.models import Sheet

V1 = PROJECT_ROOT / "checklists" / "paperless" / "v1.yaml"
SINCE = date(2020, 4, 1)


def make_unit(session: Session, code: str, name: str, *, kind=UnitKind.SECTION, parent: Unit | None = None,
              valid_from: date = SINCE, valid_to: date | None = None, position: int = 0) -> Unit:
    unit = Unit(code=code, name=name, kind=kind, parent_id=parent.id if parent else None, valid_from=valid_from,
                valid_to=valid_to, position=position)
    session.add(unit)
    session.flush()
    return unit


def make_user(session: Session, upn: str, name: str | None = None, *, section: Unit | None = None,
              role: SectionRole = SectionRole.MEMBER, is_admin=False, is_desk=False, is_active=True) -> User:
    user = User(upn=upn.lower(), display_name=name or upn.split("@")[0], is_admin=is_admin, is_desk=is_desk,
                is_active=is_active)
    session.add(user)
    session.flush()
    if section is not None:
        session.add(Membership(user_id=user.id, unit_id=section.id, role=role))
        session.flush()
    return user


def publish(session: Session, loaded: LoadedChecklist | None = None) -> int:
    return checklists.publish(session, loaded or load_checklist(V1)).id


def checklist_yaml(text: str, path: str = "test.yaml") -> LoadedChecklist:
    return parse_checklist(text.encode("utf-8"), display_path=path)


def make_round(session: Session, version_id: int, *, title="令和8年度 第1回", fiscal_year=2026,
               opens_on: date | None = None, open_it=True) -> Round:
    opens_on = opens_on or date.today() - timedelta(days=10)
    r = rounds.create_round(session, fiscal_year=fiscal_year, title=title, checklist_version_id=version_id,
                            opens_on=opens_on, closes_on=opens_on + timedelta(days=60))
    if open_it:
        sheets_service.open_round(session, r, on=opens_on)
    return r


def sheet_of(session: Session, round_id: int, unit: Unit) -> Sheet:
    from sqlmodel import select

    return session.exec(select(Sheet).where(Sheet.round_id == round_id, Sheet.unit_id == unit.id)).one()


@dataclass
class World:
    bureau_a: Unit
    bureau_b: Unit
    a1: Unit
    a2: Unit
    b1: Unit
    member_a: User
    leader_a: User
    member_a2: User
    member_b: User
    leader_b: User
    desk: User
    admin: User
    version_id: int
    round: Round


def build_world(session: Session) -> World:
    bureau_a = make_unit(session, "A", "A部", kind=UnitKind.BUREAU, position=1)
    bureau_b = make_unit(session, "B", "B部", kind=UnitKind.BUREAU, position=2)
    a1 = make_unit(session, "A1", "A部 一課", parent=bureau_a, position=1)
    a2 = make_unit(session, "A2", "A部 二課", parent=bureau_a, position=2)
    b1 = make_unit(session, "B1", "B部 一課", parent=bureau_b, position=1)
    world = World(
        bureau_a=bureau_a, bureau_b=bureau_b, a1=a1, a2=a2, b1=b1,
        member_a=make_user(session, "member.a1@test.example", "職員 A1", section=a1),
        leader_a=make_user(session, "leader.a1@test.example", "リーダー A1", section=a1, role=SectionRole.LEADER),
        member_a2=make_user(session, "member.a2@test.example", "職員 A2", section=a2),
        member_b=make_user(session, "member.b1@test.example", "職員 B1", section=b1),
        leader_b=make_user(session, "leader.b1@test.example", "リーダー B1", section=b1, role=SectionRole.LEADER),
        desk=make_user(session, "desk@test.example", "窓口", is_desk=True),
        admin=make_user(session, "admin@test.example", "管理者", is_admin=True),
        version_id=0,
        round=None,  # type: ignore[arg-type]
    )
    world.version_id = publish(session)
    world.round = make_round(session, world.version_id)
    session.commit()
    return world


# --- leader pages and support records (branch leader) ---------------------------------------------------


def set_answers(session: Session, round_id: int, unit: Unit, statuses: dict[str, str | None]) -> None:
    """Write answers into a sheet through the writer, whatever its state (test set-up): ``{item_key: status}``."""
    from app.jpdate import now_utc, today_jst
    from app.sheets import writer
    from app.sheets.models import EventSource

    [sheet] = writer.lock(session, [sheet_of(session, round_id, unit).id])
    definition = checklists.get_definition(session, sheet.version_id)
    stored = writer.answers(session, sheet.id, list(statuses))
    changes = [writer.Change(definition.by_key[key], stored[key], status, stored[key].memo)
               for key, status in statuses.items() if status != stored[key].status]
    writer.write_answers(session, sheet, definition, changes, actor_id=None, source=EventSource.DEMO, now=now_utc(),
                         entry_on=today_jst())


def make_target(session: Session, unit: Unit, round_id: int, item_key: str, status: str, *, by: User | None = None):
    from app.trend.models import Target

    target = Target(unit_id=unit.id, round_id=round_id, item_key=item_key, status=status,
                    set_by_id=by.id if by else None)
    session.add(target)
    session.flush()
    return target


def make_support_record(session: Session, unit: Unit, *, round_id: int | None = None, state: str = "in_progress",
                        origin: str = "desk", consulted_on: date | None = None, follow_up_on: date | None = None,
                        items: tuple[str, ...] = (), advice: str = "助言", message: str = "",
                        by: User | None = None):
    from sqlalchemy import insert

    from app.support.models import SupportRecord, SupportRecordItem

    record = SupportRecord(unit_id=unit.id, round_id=round_id, origin=origin, state=state,
                           consulted_on=consulted_on or date.today(), follow_up_on=follow_up_on, advice=advice,
                           request_message=message, created_by_id=by.id if by else None)
    session.add(record)
    session.flush()
    if items:
        session.execute(insert(SupportRecordItem), [{"record_id": record.id, "item_key": k} for k in items])
        session.flush()
    return record
# --- excel branch: answers through the real service ------------------------------------------------


def fill(session: Session, round_id: int, unit: Unit, user: User, answers: dict[str, tuple[str | None, str]],
         *, commit: bool = True) -> None:
    """Save answers ``{item_key: (status, memo)}`` as ``user`` through sheets.service (history included)."""
    from app.auth import service as auth_service
    from app.sheets import service as sheets_service
    from app.sheets.models import EventSource

    principal = auth_service.load_principal(session, user.id)
    view = sheets_service.get_sheet_for(session, principal, round_id, unit.code)
    inputs = [sheets_service.AnswerInput(key, status, memo, view.answers[key].version)
              for key, (status, memo) in answers.items()]
    sheets_service.save_answers(session, principal, round_id, unit.code, inputs, source=EventSource.PAGE)
    if commit:
        session.commit()


# --- the desk's hand-worked organisation (tests/test_desk_*.py) -------------------------------------

def mark_submitted(session: Session, round_id: int, unit: Unit) -> None:
    """提出 through the writer (whatever the answers): the state, its history event and the tallies by state."""
    from app.jpdate import now_utc
    from app.sheets import writer
    from app.sheets.models import EventSource, SheetState

    [sheet] = writer.lock(session, [sheet_of(session, round_id, unit).id])
    definition = checklists.get_definition(session, sheet.version_id)
    writer.set_state(session, sheet, definition, SheetState.SUBMITTED, actor_id=None, source=EventSource.DEMO,
                     now=now_utc())


def field(kind: str, key: str) -> str:
    """The sheet form's field of an item of checklist v1: s<position> (status), m<position> (memo) or
    v<position> (version)."""
    return f"{kind[0]}{V1_KEYS.index(key) + 1}"


V1_KEYS = ("office.daily.keep-electronic", "office.daily.no-personal-printing", "briefing.section.paperless",
           "briefing.bureau.paperless", "meeting.internal.no-paper-handouts", "meeting.external.advance-or-tablet")
# Round 1 of the desk world, item by item in sheet order (difficulty ☆ ☆☆ ☆ ☆ ☆ ☆☆☆; the last two
# allow 該当なし); None is unanswered. Worked figures are in tests/test_desk_figures.py.
DESK_ANSWERS: dict[str, tuple[str | None, ...]] = {
    "P1": ("◎", "◎", "◎", "◎", "◎", "◎"),  # submitted
    "P2": ("×", "△", "○", "◎", "該当なし", "×"),  # complete, not submitted
    "P3": ("△", None, None, None, None, None),
    "P4": (None,) * 6,  # not started
    "P5": ("○", "○", "×", "△", "○", "該当なし"),  # submitted
    "Q1": ("×",) * 6,
    "Q2": (None,) * 6,  # not started, no leader
}


@dataclass
class DeskWorld:
    """部局 P (5 所属), Q (2 所属, under five), E (no 所属); round 1 answered, round 2 (no answers)."""

    bureaus: dict[str, Unit]
    sections: dict[str, Unit]
    desk: User
    admin: User
    member_p2: User
    leader_p1: User
    version_id: int
    round: Round
    empty_round: Round


def build_desk_world(session: Session) -> DeskWorld:
    bureaus = {code: make_unit(session, code, f"{code}部", kind=UnitKind.BUREAU, position=i)
               for i, code in enumerate(("P", "Q", "E"), start=1)}
    sections = {}
    for code in DESK_ANSWERS:
        sections[code] = make_unit(session, code, f"{code[0]}部 {code[1]}課", parent=bureaus[code[0]],
                                   position=int(code[1]))
    leaders = {}
    for code in ("P1", "P2", "P3", "P4", "P5", "Q1"):
        leaders[code] = make_user(session, f"leader.{code.lower()}@test.example", f"リーダー {code}",
                                  section=sections[code], role=SectionRole.LEADER)
    make_user(session, "leader2.p3@test.example", "リーダー P3 副", section=sections["P3"], role=SectionRole.LEADER)
    make_user(session, "retired.p4@test.example", "退職 P4", section=sections["P4"], role=SectionRole.LEADER,
              is_active=False)
    world = DeskWorld(
        bureaus=bureaus, sections=sections,
        desk=make_user(session, "desk@test.example", "窓口", is_desk=True),
        admin=make_user(session, "admin@test.example", "管理者", is_admin=True),
        member_p2=make_user(session, "member.p2@test.example", "職員 P2", section=sections["P2"]),
        leader_p1=leaders["P1"],
        version_id=publish(session),
        round=None,  # type: ignore[arg-type]
        empty_round=None,  # type: ignore[arg-type]
    )
    world.round = make_round(session, world.version_id, title="令和8年度 第1回", opens_on=date(2026, 10, 1))
    for code, statuses in DESK_ANSWERS.items():
        set_answers(session, world.round.id, sections[code], dict(zip(V1_KEYS, statuses, strict=True)))
    for code in ("P1", "P5"):
        mark_submitted(session, world.round.id, sections[code])
    world.empty_round = make_round(session, world.version_id, title="令和9年度 第1回", fiscal_year=2027,
                                   opens_on=date(2027, 10, 1))
    session.commit()
    return world


def definition_item_text(session: Session, world: World, key: str) -> str:
    """The text of an item of the world's checklist (v1)."""
    return checklists.get_definition(session, world.version_id).by_key[key].text


# --- good practice (issue 14.3) -----------------------------------------------------------------------------


def share_practice(session: Session, round_id: int, unit: Unit, item_key: str, memo: str, *,
                   status: str = "◎", share: bool = True) -> None:
    """Answer ``item_key`` with ``status`` and ``memo``, 「取組事例として共有する」 ticked (or not), through the writer."""
    from app.jpdate import now_utc, today_jst
    from app.sheets import writer
    from app.sheets.models import EventSource

    [sheet] = writer.lock(session, [sheet_of(session, round_id, unit).id])
    definition = checklists.get_definition(session, sheet.version_id)
    stored = writer.answers(session, sheet.id, [item_key])[item_key]
    writer.write_answers(session, sheet, definition,
                         [writer.Change(definition.by_key[item_key], stored, status, memo, share)],
                         actor_id=None, source=EventSource.DEMO, now=now_utc(), entry_on=today_jst())
