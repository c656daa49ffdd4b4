"""Reminder rules per round: whom to remind and when, the preview of exactly who receives what, and the
enqueueing (reminder log + outbox rows in one transaction). Pure decisions in ``decide``; queries here."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.auth import permissions
from app.auth.models import Membership, SectionRole, User
from app.auth.permissions import Principal
from app.db import one_at_a_time, session_for
from app.errors import Forbidden, InvalidInput
from app.jpdate import now_utc, today_jst
from app.notify.models import TARGET_LABELS, ReminderLog, ReminderRule
from app.orgs.models import Unit
from app.outbox import notices
from app.outbox.service import Notice, bureau_scope, contact_address, enqueue_mail, enqueue_teams
from app.rounds.models import Round, RoundState
from app.scoring.rules import PROGRESS_LABELS, Progress
from app.sheets import figures

LIMITS = {"min_days_between": (1, 60), "max_per_section": (1, 20), "escalate_after": (0, 20)}


def target_of(progress: Progress, complete: bool) -> str:
    """The rule's vocabulary for a sheet not yet submitted: 未着手, 入力中, or 全項目回答済・未提出."""
    if progress is Progress.IN_PROGRESS and complete:
        return "ready"
    return progress.value


def target_label(target: str) -> str:
    return TARGET_LABELS["ready"] if target == "ready" else PROGRESS_LABELS[Progress(target)]


@dataclass
class Planned:
    """One 所属 of the preview: the reminder it gets (``number``, to ``recipients``) or why it gets none."""

    unit_id: int
    code: str
    name: str
    bureau_id: int
    bureau_name: str
    target: str
    number: int  # the reminder this would be (1 = first)
    recipients: list[tuple[int, str, str]] = field(default_factory=list)  # (user id, name, address)
    skipped: str = ""  # why no reminder goes out (empty: it does)
    escalate: bool = False  # the 部局's contact is told too

    @property
    def label(self) -> str:
        return target_label(self.target)


def decide(*, target: str, rule: ReminderRule | None, sent: int, last_on: date | None, today: date,
           manual: bool, has_recipients: bool) -> str:
    """Why a 所属 gets no reminder now ('' when it gets one). Pure."""
    if not has_recipients:
        return "DX推進リーダーが登録されていません"
    if rule is None:
        return "" if manual else "督促の設定がありません"
    if sent >= rule.max_per_section:
        return f"督促の上限（{rule.max_per_section}回）に達しています"
    if manual:
        return ""
    if target not in rule.target_set:
        return "督促の対象外の状況です"
    if today < rule.starts_on:
        return "督促の開始日前です"
    if last_on is not None and (today - last_on).days < rule.min_days_between:
        return f"前回の督促から{rule.min_days_between}日たっていません"
    return ""


def get_rule(session: Session, round_id: int) -> ReminderRule | None:
    return session.exec(select(ReminderRule).where(ReminderRule.round_id == round_id)).first()


def _check(p: Principal) -> None:
    refusal = permissions.why_not_manage_reminders(p)
    if refusal:
        raise Forbidden(refusal)


def save_rule(session: Session, principal: Principal, round_: Round, *, enabled: bool, starts_on: date | None,
              min_days_between: int | None, max_per_section: int | None, targets: Collection[str],
              escalate_after: int | None) -> ReminderRule:
    _check(principal)
    errors: dict[str, str] = {}
    if starts_on is None:
        errors["starts_on"] = "督促の開始日を入力してください（例: 2026-06-20）。"
    elif starts_on > round_.closes_on:
        errors["starts_on"] = "督促の開始日は締切日以前にしてください。"
    values = {"min_days_between": min_days_between, "max_per_section": max_per_section,
              "escalate_after": escalate_after}
    names = {"min_days_between": "督促の間隔", "max_per_section": "1所属あたりの督促の上限",
             "escalate_after": "部局に知らせるまでの督促の回数"}
    for name, value in values.items():
        low, high = LIMITS[name]
        if value is None or not low <= value <= high:
            errors[name] = f"{names[name]}は{low}～{high}の整数で入力してください。"
    chosen = [t for t in TARGET_LABELS if t in set(targets)]
    if not chosen:
        errors["targets"] = "督促する所属の状況を1つ以上選んでください。"
    if errors:
        raise InvalidInput("督促の設定を保存できませんでした。赤く示した項目を直してください。", fields=errors)
    rule = get_rule(session, round_.id) or ReminderRule(round_id=round_.id, starts_on=starts_on)
    rule.enabled = enabled
    rule.starts_on = starts_on
    rule.min_days_between = min_days_between
    rule.max_per_section = max_per_section
    rule.targets = ",".join(chosen)
    rule.escalate_after = escalate_after
    rule.updated_at = now_utc()
    rule.updated_by_id = principal.user_id
    session.add(rule)
    session.flush()
    return rule


def _history(session: Session, round_id: int) -> dict[int, tuple[int, date]]:
    """{unit id: (reminders sent, date of the last)} of a round."""
    rows = session.exec(select(ReminderLog.unit_id, func.max(ReminderLog.number), func.max(ReminderLog.sent_on))
                        .where(ReminderLog.round_id == round_id).group_by(ReminderLog.unit_id)).all()
    return {unit_id: (n, on) for unit_id, n, on in rows}


def _leaders(session: Session, unit_ids: Collection[int]) -> dict[int, list[tuple[int, str, str]]]:
    found: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    if not unit_ids:
        return found
    rows = session.exec(select(Membership.unit_id, User.id, User.display_name, User.upn)
                        .join(User, User.id == Membership.user_id)
                        .where(Membership.unit_id.in_(list(unit_ids)), Membership.role == SectionRole.LEADER,
                               User.is_active)
                        .order_by(Membership.unit_id, User.display_name, User.upn)).all()
    for unit_id, user_id, name, upn in rows:
        found[unit_id].append((user_id, name, upn))
    return found


def plan(session: Session, round_: Round, *, today: date | None = None, unit_ids: Collection[int] | None = None,
         manual: bool = False) -> list[Planned]:
    """Every 所属 of the round not yet submitted (or those of ``unit_ids``), in organisation order, with the
    reminder it would get now and its recipients, or why it gets none. Submitted 所属 never get one."""
    today = today or today_jst()
    rule = get_rule(session, round_.id)
    pending = (Progress.NOT_STARTED, Progress.IN_PROGRESS)
    sheets = figures.sheet_totals(session, round_.id, unit_ids=unit_ids, progress=pending)
    history = _history(session, round_.id)
    leaders = _leaders(session, [s.unit_id for s in sheets])
    bureaus = dict(session.exec(select(Unit.id, Unit.name).where(Unit.id.in_({s.bureau_id for s in sheets}))).all())
    result = []
    for s in sheets:
        sent, last_on = history.get(s.unit_id, (0, None))
        target = target_of(s.progress, s.tally.is_complete)
        p = Planned(s.unit_id, s.code, s.name, s.bureau_id, bureaus.get(s.bureau_id, ""), target, sent + 1,
                    leaders.get(s.unit_id, []))
        p.skipped = decide(target=target, rule=rule, sent=sent, last_on=last_on, today=today, manual=manual,
                           has_recipients=bool(p.recipients))
        p.escalate = not p.skipped and rule is not None and 0 < rule.escalate_after <= p.number
        result.append(p)
    return result


def message_for(round_: Round, p: Planned, today: date) -> Notice:
    return notices.reminder(round_id=round_.id, round_title=round_.title, closes_on=round_.closes_on,
                            section_code=p.code, section_name=p.name, progress_label=p.label, number=p.number,
                            today=today)


def enqueue(session: Session, round_: Round, planned: list[Planned], *, today: date | None = None,
            manual: bool, actor_id: int | None = None) -> int:
    """Write the reminders of ``planned`` (those not skipped): the log row and the outbox rows of each 所属,
    and per 部局 one notice to its contact for the 所属 that reached the rule's escalation. Returns mails
    queued. A 所属 reminded twice at once (two clicks) is refused by the log's unique number."""
    today = today or today_jst()
    if round_.state != RoundState.OPEN:
        raise InvalidInput("受付中の調査回だけに督促を送れます。")
    queued = 0
    escalations: dict[int, list[Planned]] = defaultdict(list)
    for p in planned:
        if p.skipped:
            continue
        session.add(ReminderLog(round_id=round_.id, unit_id=p.unit_id, number=p.number, sent_on=today, manual=manual,
                                actor_id=actor_id))
        notice = message_for(round_, p, today)
        queued += enqueue_mail(session, notice, [(uid, addr) for uid, _, addr in p.recipients],
                               key=f"reminder.r{round_.id}.u{p.unit_id}.n{p.number}")
        if p.escalate:
            escalations[p.bureau_id].append(p)
    session.flush()
    for bureau_id, items in escalations.items():
        bureau = session.get(Unit, bureau_id)
        notice = notices.escalation(round_id=round_.id, round_title=round_.title, closes_on=round_.closes_on,
                                    bureau_code=bureau.code, bureau_name=bureau.name,
                                    sections=[(p.name, p.number) for p in items], today=today)
        digest = hashlib.sha256(",".join(f"{p.unit_id}.{p.number}" for p in items).encode()).hexdigest()[:12]
        key = f"escalation.r{round_.id}.b{bureau_id}.{digest}"
        scope = bureau_scope(bureau_id)
        address = contact_address(session, scope)
        if address:
            queued += enqueue_mail(session, notice, [(None, address)], key=key)
        enqueue_teams(session, notice, scope, key)
    return queued


def send_now(session: Session, principal: Principal, round_: Round, unit_ids: Collection[int]) -> tuple[int, int]:
    """「今すぐ送る」 from the board for the chosen 所属 (within the rule's limit per 所属, if any): (所属
    reminded, mails queued)."""
    _check(principal)
    if not unit_ids:
        raise InvalidInput("督促を送る所属を選んでください。")
    one_at_a_time(session, f"reminders:{round_.id}")
    planned = plan(session, round_, unit_ids=unit_ids, manual=True)
    queued = enqueue(session, round_, planned, manual=True, actor_id=principal.user_id)
    return sum(1 for p in planned if not p.skipped), queued


DEADLINE_NOTICE_DAYS = (3, 1)  # 締切3日前 and 前日: every 所属 not yet submitted is told (no rule needed)


def deadline_notices(session: Session, round_: Round, today: date) -> int:
    """On the 3rd day and the day before the deadline, the leaders of every 所属 not yet submitted get a
    notice (once per day: the key names the day). Returns the mails queued."""
    days = (round_.closes_on - today).days
    if round_.state != RoundState.OPEN or days not in DEADLINE_NOTICE_DAYS:
        return 0
    pending = figures.sheet_totals(session, round_.id, progress=(Progress.NOT_STARTED, Progress.IN_PROGRESS))
    leaders = _leaders(session, [s.unit_id for s in pending])
    queued = 0
    for s in pending:
        notice = notices.deadline_soon(round_id=round_.id, round_title=round_.title, closes_on=round_.closes_on,
                                       section_code=s.code, section_name=s.name, today=today)
        queued += enqueue_mail(session, notice, [(uid, addr) for uid, _, addr in leaders.get(s.unit_id, [])],
                               key=f"deadline_soon.r{round_.id}.u{s.unit_id}.d{days}")
    return queued


def run_due(engine: Engine, today: date | None = None) -> int:
    """Today's automatic notices of every open round: the reminders of the rounds whose rule is on, and the
    deadline notices 3 days and 1 day before (the sender's daily part), each round in its own transaction.
    Returns the mails queued."""
    today = today or today_jst()
    queued = 0
    with session_for(engine) as session:
        open_ids = session.exec(select(Round.id).where(Round.state == RoundState.OPEN)).all()
    for round_id in open_ids:
        with session_for(engine, write=True) as session:
            round_ = session.get(Round, round_id)
            if round_ is not None:
                queued += deadline_notices(session, round_, today)
                session.commit()
    with session_for(engine) as session:
        round_ids = session.exec(select(ReminderRule.round_id).join(Round, Round.id == ReminderRule.round_id)
                                 .where(ReminderRule.enabled, Round.state == RoundState.OPEN,
                                        ReminderRule.starts_on <= today)).all()
    for round_id in round_ids:
        with session_for(engine, write=True) as session:
            one_at_a_time(session, f"reminders:{round_id}")
            round_ = session.get(Round, round_id)
            if round_ is None or round_.state != RoundState.OPEN:
                continue
            queued += enqueue(session, round_, plan(session, round_, today=today), today=today, manual=False)
            session.commit()
    return queued
