"""Demo and benchmark data: a prefectural-office-like organisation, demo users and rounds of answers
that improve over time, with noise. Written in bulk (executemany in chunks) so that millions of
answers take minutes.

The default (60 所属, 2 rounds, the seed's 6-item checklist) is what ``make run`` loads into an empty
database. ``bench_checklist(40)`` builds a 40-item checklist in code for benchmark-size data
(3,000 所属 × 40 items × 20 rounds = 2.4 million answers).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import yaml
from sqlalchemy import func, insert, select
from sqlmodel import Session

from app.auth.models import Membership, SectionRole, User
from app.checklists import service as checklists
from app.checklists.loader import LoadedChecklist, parse_checklist
from app.checklists.service import Definition
from app.jpdate import JST, fiscal_year_label, fiscal_year_of, now_utc, to_jst, today_jst
from app.orgs.models import Unit, UnitKind
from app.rounds.models import Round, RoundState
from app.sheets import figures, writer
from app.sheets.models import Answer, EventKind, EventSource, Sheet

# A prefectural office: 11 部局, 60 所属 (some 部局 small on purpose: fewer than 5 所属).
BUREAUS: list[tuple[str, str, list[str]]] = [
    ("10", "経営管理部", ["総務課", "人事課", "財政課", "税務課", "市町村支援課", "情報政策課", "管財課", "営繕課"]),
    ("20", "知事政策局", ["秘書課", "広報課", "成長戦略室", "国際課"]),
    ("30", "地方創生局", ["地方創生推進課", "移住・UIJターン促進課", "中山間地域対策課", "交通政策課", "観光振興室"]),
    ("40", "生活環境文化部", ["県民生活課", "文化振興課", "環境政策課", "環境保全課", "自然保護課", "スポーツ振興課"]),
    ("50", "厚生部", ["厚生企画課", "健康課", "医務課", "高齢福祉課", "障害福祉課", "感染症対策課", "薬事指導課",
                     "こども未来課"]),
    ("60", "商工労働部", ["商工企画課", "経営支援課", "地域産業支援課", "労働政策課", "立地通商課",
                         "ものづくり研究開発センター"]),
    ("70", "農林水産部", ["農林水産企画課", "農業技術課", "農村振興課", "森林政策課", "水産漁港課", "農産食品課"]),
    ("80", "土木部", ["管理課", "建設技術企画課", "道路課", "河川課", "砂防課", "都市計画課", "建築住宅課",
                     "港湾空港課"]),
    ("90", "会計管理局", ["会計課", "出納課"]),
    ("91", "危機管理局", ["危機管理課", "消防課"]),
    ("95", "教育委員会事務局", ["教育企画課", "小中学校課", "県立学校課", "生涯学習・文化財室", "保健体育課"]),
]
SURNAMES = (
    "佐藤 鈴木 高橋 田中 伊藤 渡辺 山本 中村 小林 加藤 吉田 山田 佐々木 山口 松本 井上 木村 林 斎藤 清水 "
    "山崎 森 池田 橋本 阿部 石川 山下 中島 石井 小川 前田 岡田 長谷川 藤田 後藤 近藤 村上 遠藤 青木 坂本"
).split()
GIVEN = "太郎 花子 健一 美咲 翔太 陽子 大輔 由美 直樹 恵 誠 さくら 拓也 真由美 和也 明美 亮 智子 浩二 彩".split()
SYMBOLS = ("×", "△", "○", "◎")  # level 0..3
CHUNK = 20_000
Progress = Callable[[int], None]


@dataclass(frozen=True)
class DemoPlan:
    sections: int = 60
    rounds: int = 2
    seed: int = 1
    history: bool = True  # one history event per answered item (off for benchmark-size data)


def is_empty(session: Session) -> bool:
    return session.execute(select(func.count()).select_from(Unit)).scalar_one() == 0


def version_files(directory: Path) -> list[Path]:
    """The checklist's version files ``v<N>.yaml`` in ``directory``, oldest version first."""
    numbered = [(int(m.group(1)), p) for p in directory.glob("v*.yaml") if (m := re.fullmatch(r"v(\d+)\.yaml", p.name))]
    return [p for _, p in sorted(numbered)]


def load(session: Session, checklist: LoadedChecklist, plan: DemoPlan, progress: Progress = lambda n: None,
         *, newest: LoadedChecklist | None = None, between: Sequence[LoadedChecklist] = ()) -> None:
    """Fill an empty database. The caller commits. With ``newest`` (a later version of the checklist), the
    newest round uses it and the older rounds ``checklist``: the demo shows a real version change. The
    versions ``between`` them are published too (in order, used by no round), as an office that had
    published each of them would have."""
    rng = random.Random(plan.seed)
    version = checklists.publish(session, checklist)
    definition = checklists.get_definition(session, version.id)
    for middle in between:
        checklists.publish(session, middle)
    if newest is not None:
        newest_version = checklists.publish(session, newest)
        newest_definition = checklists.get_definition(session, newest_version.id)
    calendar = _round_calendar(plan.rounds)
    units = _organisation(session, plan.sections, rng, date(calendar[0][0], 4, 1))
    sections = [u for u in units if u.kind == UnitKind.SECTION]
    bureau_of = {u.id: u.parent_id for u in sections}
    _users(session, sections, rng)
    propensity = {u.id: rng.gauss(0.0, 0.8) for u in sections}
    not_applicable = {(u.id, item.key) for u in sections for item in definition.items
                      if item.allows_na and rng.random() < 0.12}
    if newest is not None:
        not_applicable |= {(u.id, item.key) for u in sections for item in newest_definition.items
                           if item.allows_na and item.key not in definition.by_key and rng.random() < 0.12}
    for index, (fy, number, opens, closes, state) in enumerate(calendar):
        if newest is not None and index == len(calendar) - 1:
            version, definition = newest_version, newest_definition
        round_ = Round(fiscal_year=fy, title=f"{fiscal_year_label(fy)} 第{number}回",
                       checklist_version_id=version.id, opens_on=opens, closes_on=closes, state=state)
        session.add(round_)
        session.flush()
        _fill_round(session, round_, definition, sections, bureau_of, propensity, not_applicable,
                    index * _improvement_scale(plan.rounds), rng, plan, progress,
                    memos=plan.history and index >= len(calendar) - 2)  # (the previous round's are offered again)
        if round_.state == RoundState.CLOSED:
            figures.materialize(session, round_.id)  # as closing it would have
    if plan.history and len(calendar) >= 2:
        _support_and_targets(session, sections, rng)


MEMOS = (
    "共有フォルダ（Teams）に保存している",
    "会議資料は前日までにTeamsで共有",
    "外部の方の会議はまだ紙が中心",
    "各課モニターを使って投影している",
    "個人のメモは紙が多い。タブレットの活用を検討中",
)
ADVICE = (
    "ペーパーレス会議のすすめを紹介。次回から資料は前日までにTeamsで共有し、当日は各課モニターで投影する。",
    "会議用タブレットの貸出方法を案内。外部委員には事前に電子で送付できるか確認する。",
    "紙で保管している資料の棚卸しを提案。事務サポートセンターでのデータ化も案内。",
)


def _support_and_targets(session: Session, sections: list[Unit], rng: random.Random) -> None:
    """What the desk and the leaders would have done between the last two rounds: targets set after the
    previous round, and support records (伴走支援) in every state."""
    from app.support.models import SupportRecord, SupportRecordItem, SupportState
    from app.trend.models import Target

    rounds = list(session.execute(select(Round).order_by(Round.opens_on)).scalars())
    previous = rounds[-2]
    users = dict(session.execute(select(User.upn, User.id)).all())
    desk = users["desk@demo.example"]
    weak = session.execute(
        select(Sheet.unit_id, Answer.item_key, Answer.status)
        .join(Answer, Answer.sheet_id == Sheet.id)
        .where(Sheet.round_id == previous.id, Answer.status.in_(["△", "×"]))
        .order_by(Sheet.unit_id, Answer.item_key)
    ).all()
    by_unit: dict[int, list[tuple[str, str]]] = {}
    for unit_id, key, status in weak:
        by_unit.setdefault(unit_id, []).append((key, status))
    codes = {u.id: u.code for u in sections}
    chosen = sorted(by_unit)[::4]
    for n, unit_id in enumerate(chosen):
        leader = users.get(f"leader.{codes[unit_id]}@demo.example")
        items = rng.sample(by_unit[unit_id], min(2, len(by_unit[unit_id])))
        for key, status in items:
            session.add(Target(unit_id=unit_id, round_id=previous.id, item_key=key,
                               status="○" if status == "△" else "△", set_by_id=leader))
        state = (SupportState.DONE, SupportState.IN_PROGRESS, SupportState.RECEIVED)[n % 3]
        origin = "request" if state == SupportState.RECEIVED else "desk"
        consulted = previous.closes_on + timedelta(days=10 + n)
        record = SupportRecord(
            unit_id=unit_id, round_id=previous.id, origin=origin, state=state, consulted_on=consulted,
            desk_staff="" if origin == "request" else "窓口 担当",
            contact_person="DX推進リーダー",
            request_message="会議のペーパーレス化について相談したい" if origin == "request" else "",
            advice="" if origin == "request" else ADVICE[n % len(ADVICE)],
            follow_up_on=None if state == SupportState.DONE else today_jst() + timedelta(days=(n % 5) * 7 - 7),
            created_by_id=leader if origin == "request" else desk,
        )
        session.add(record)
        session.flush()
        for key, _ in items:
            session.add(SupportRecordItem(record_id=record.id, item_key=key))
    session.flush()


def refresh_statistics(engine) -> None:
    """After a bulk load: planner statistics (ANALYZE) and, on PostgreSQL, the visibility map
    (VACUUM) that index-only scans need. Autovacuum does this in production, later."""
    from sqlalchemy import text

    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        return
    raw = engine.raw_connection()  # SQLite: outside the app's explicit BEGIN (see app/db.py)
    try:
        raw.driver_connection.execute("ANALYZE")
    finally:
        raw.close()


def _improvement_scale(rounds: int) -> float:
    """Long histories improve as much in total as a five-round one (else every answer ends at ◎);
    up to five rounds, each round adds the same step as before."""
    return min(1.0, 4 / max(rounds - 1, 1))


def _organisation(session: Session, n: int, rng: random.Random, valid_from: date) -> list[Unit]:
    tree = BUREAUS if n <= sum(len(s) for _, _, s in BUREAUS) else _synthetic_tree(n, rng)
    units: list[Unit] = []
    remaining = n
    for position, (code, name, section_names) in enumerate(tree):
        if remaining <= 0:
            break
        bureau = Unit(code=code, name=name, kind=UnitKind.BUREAU, position=position, valid_from=valid_from)
        session.add(bureau)
        session.flush()
        units.append(bureau)
        rows = []
        for i, section_name in enumerate(section_names[:remaining], start=1):
            rows.append({"code": f"{code}{i:02d}" if len(tree) < 100 else f"{code}-{i:03d}", "name": section_name,
                         "kind": UnitKind.SECTION.value, "parent_id": bureau.id, "position": i,
                         "valid_from": valid_from})
        remaining -= len(rows)
        session.execute(insert(Unit), rows)
    session.flush()
    return list(session.execute(select(Unit).order_by(Unit.id)).scalars())


def _synthetic_tree(n: int, rng: random.Random) -> list[tuple[str, str, list[str]]]:
    """部局 of varying size (a few large, many small) for benchmark-size organisations."""
    tree, made, b = [], 0, 0
    while made < n:
        b += 1
        size = min(n - made, max(2, int(rng.lognormvariate(3.0, 0.7))))
        tree.append((f"B{b:03d}", f"第{b}部局", [f"第{b}部局 第{k}課" for k in range(1, size + 1)]))
        made += size
    return tree


def _person(rng: random.Random) -> str:
    return f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}"


def _users(session: Session, sections: list[Unit], rng: random.Random) -> None:
    session.add(User(upn="admin@demo.example", display_name="管理者（デモ）", is_admin=True))
    session.add(User(upn="desk@demo.example", display_name="業務DX相談窓口（デモ）", is_desk=True))
    session.flush()
    rows = []
    for unit in sections:
        for role in (SectionRole.LEADER, SectionRole.MEMBER):
            rows.append({"upn": f"{role.value}.{unit.code}@demo.example".lower(), "display_name": _person(rng),
                         "is_active": True, "is_admin": False, "is_desk": False, "entra_roles": "",
                         "created_at": datetime.now(UTC)})
    for chunk in _chunks(rows):
        session.execute(insert(User), chunk)
    ids = dict(session.execute(select(User.upn, User.id)).all())
    memberships = [
        {"user_id": ids[f"{role.value}.{unit.code}@demo.example".lower()], "unit_id": unit.id, "role": role.value}
        for unit in sections for role in (SectionRole.LEADER, SectionRole.MEMBER)
    ]
    for chunk in _chunks(memberships):
        session.execute(insert(Membership), chunk)


def _round_calendar(count: int) -> list[tuple[int, int, date, date, RoundState]]:
    """``count`` rounds, the newest opened last month and still open, the rest closed: one a year
    for a short history, two a year (April and October) for a long one."""
    today = today_jst()
    newest = _months_before(date(today.year, today.month, 1), 1)
    step = 12 if count <= 5 else 6
    result: list[tuple[int, int, date, date, RoundState]] = []
    for back in range(count - 1, -1, -1):
        opens = _months_before(newest, step * back)
        fy = fiscal_year_of(opens)
        number = sum(1 for r in result if r[0] == fy) + 1
        closes = opens + timedelta(days=75 if back == 0 else 45)
        result.append((fy, number, opens, closes, RoundState.OPEN if back == 0 else RoundState.CLOSED))
    return result


def _months_before(d: date, months: int) -> date:
    total = d.year * 12 + d.month - 1 - months
    return date(total // 12, total % 12 + 1, 1)


REOPEN_NOTE = "内容を修正するため提出を取り消し"
REOPENED_SHARE = 0.12  # of the submitted sheets: submitted, reopened, corrected (and, mostly, submitted again)


@dataclass
class _Story:
    """What happened to one sheet, in time order: each answer's saves, submissions and reopenings. The
    sheet, its answers (status, memo, version, last update) and its history are all read from it, so they
    cannot disagree: no answer after the submission, a reopening before every change of a submitted sheet,
    each answer's last history event at its last update."""

    events: list[dict]  # without sheet_id: kind, at, actor_id, item_key, old/new status and memo, note
    submitted_at: datetime | None = None


def _moment(rng: random.Random, first: date, last: date) -> datetime:
    """A moment of office hours (9:00–17:59 JST) on a day from ``first`` to ``last``."""
    day = first + timedelta(days=rng.randrange(0, max(1, (last - first).days + 1)))
    return datetime.combine(day, time(9, 0), tzinfo=JST).astimezone(UTC) + timedelta(minutes=rng.randrange(0, 540))


def _story(rng: random.Random, statuses: dict[str, str], memos: dict[str, str], window: tuple[date, date], *,
           submitted: bool, may_stay_reopened: bool, member: int | None, leader: int | None) -> _Story:
    """The saves, the submission and perhaps a reopening of a sheet whose final answers are ``statuses``,
    all within ``window`` (the round's days that have passed). A reopened sheet's corrected answers were
    saved once before, with a status one step worse."""
    start, end = window
    first = start + timedelta(days=rng.randrange(0, max(1, (end - start).days * 2 // 3)))
    finish = min(end, first + timedelta(days=rng.randrange(0, 8)))
    cap = datetime.combine(end, time(23, 59), tzinfo=JST).astimezone(UTC)  # the end of the window's last day
    saved = {key: _moment(rng, first, finish) for key in statuses}
    story = _Story(events=[])
    corrected: dict[str, str] = {}
    reopen_at = None
    if submitted and saved:
        story.submitted_at = max(saved.values()) + timedelta(minutes=rng.randrange(5, 300))
        improvable = sorted(key for key, status in statuses.items() if status in SYMBOLS[1:])
        if improvable and rng.random() < REOPENED_SHARE:
            room = cap - story.submitted_at
            first_submit = story.submitted_at
            reopen_at = first_submit + room * rng.uniform(0.02, 0.3)
            fix_at = reopen_at + room * rng.uniform(0.02, 0.3)
            for key in rng.sample(improvable, min(len(improvable), rng.choice((1, 1, 2)))):
                corrected[key] = SYMBOLS[SYMBOLS.index(statuses[key]) - 1]  # what was saved before
            story.events.append(_event(EventKind.SUBMIT, first_submit, leader))
            story.events.append(_event(EventKind.REOPEN, reopen_at, leader, note=REOPEN_NOTE))
            if may_stay_reopened and rng.random() < 0.3:
                story.submitted_at = None  # reopened, corrected, not yet submitted again
            else:
                story.submitted_at = fix_at + room * rng.uniform(0.02, 0.3)
            for n, key in enumerate(sorted(corrected)):
                at = fix_at + timedelta(minutes=n)
                story.events.append(_event(EventKind.ANSWER, at, member, key, corrected[key], statuses[key],
                                           memo=memos.get(key)))
    for key, at in saved.items():
        status = corrected.get(key, statuses[key])
        story.events.append(_event(EventKind.ANSWER, at, member, key, None, status,
                                   memo=None if key in corrected else memos.get(key)))
    if story.submitted_at is not None:
        story.events.append(_event(EventKind.SUBMIT, story.submitted_at, leader))
    story.events.sort(key=lambda e: e["at"])
    return story


def _event(kind: EventKind, at: datetime, actor: int | None, key: str | None = None, old: str | None = None,
           new: str | None = None, *, memo: str | None = None, note: str = "") -> dict:
    """A history row as the writer writes it (a memo only on the save that set it)."""
    return {"at": at, "actor_id": actor, "kind": kind.value, "source": EventSource.DEMO.value, "item_key": key,
            "old_status": old, "new_status": new, "old_memo": "" if memo else None, "new_memo": memo or None,
            "note": note}


def _fill_round(session, round_, definition: Definition, sections, bureau_of, propensity, not_applicable, index,
                rng, plan: DemoPlan, progress: Progress, *, memos: bool) -> None:
    """One round's sheets, written in bulk through the sheet writer (``writer.create``) with their history.
    Each sheet's answers, state, 記載日 and history come from one story (``_story``) within the round's
    days that have passed (an open round's up to yesterday)."""
    is_open = round_.state == RoundState.OPEN
    users = dict(session.execute(select(User.upn, User.id)).all())
    end = min(round_.closes_on, today_jst() - timedelta(days=1)) if is_open else round_.closes_on
    window = (round_.opens_on, max(round_.opens_on, end))
    plans: list[tuple[Unit, dict[str, str], bool]] = []
    for unit in sections:
        # In the open round some 所属 have not started, some are half-way, some have submitted.
        roll = rng.random()
        share = 1.0 if not is_open else (0.0 if roll < 0.25 else rng.uniform(0.3, 0.95) if roll < 0.6 else 1.0)
        submitted = share == 1.0 and (rng.random() < (0.6 if is_open else 0.93))
        if unit.position == 2:  # the second 所属 of each 部局 submitted every round and has not started the open one:
            share, submitted = (0.0, False) if is_open else (1.0, True)  # its sheet offers 「前回の回答」
        statuses: dict[str, str] = {}
        for item in definition.items:
            if rng.random() < share:
                if (unit.id, item.key) in not_applicable:
                    statuses[item.key] = "該当なし"
                else:
                    level = 1.6 + propensity[unit.id] + 0.45 * index - 0.55 * (item.difficulty - 1) + rng.gauss(0, 0.7)
                    statuses[item.key] = SYMBOLS[max(0, min(3, round(level)))]
        plans.append((unit, statuses, submitted and bool(statuses)))
    memo_of: dict[int, dict[str, str]] = {}
    if memos:  # a few answers of the last two rounds carry a memo
        answered = [(unit.id, key) for unit, statuses, _ in plans for key in statuses]
        for unit_id, key in rng.sample(answered, min(len(answered), 40)):
            memo_of.setdefault(unit_id, {})[key] = rng.choice(MEMOS)
    sheets: list[writer.NewSheet] = []
    stories: list[_Story] = []
    for unit, statuses, submitted in plans:
        leader = users.get(f"leader.{unit.code}@demo.example".lower())
        member = users.get(f"member.{unit.code}@demo.example".lower())
        story = _story(rng, statuses, memo_of.get(unit.id, {}), window, submitted=submitted,
                       may_stay_reopened=is_open, member=member, leader=leader)
        last_save: dict[str, datetime] = {}
        saves: dict[str, int] = {}
        for e in story.events:
            if e["kind"] == EventKind.ANSWER.value:
                last_save[e["item_key"]] = e["at"]
                saves[e["item_key"]] = saves.get(e["item_key"], 0) + 1
        opened = datetime.combine(round_.opens_on, time(9, 0), tzinfo=JST).astimezone(UTC)
        latest = max((e["at"] for e in story.events), default=opened)
        sheets.append(writer.NewSheet(
            unit_id=unit.id, bureau_id=bureau_of[unit.id], statuses=statuses, memos=memo_of.get(unit.id, {}),
            state="submitted" if story.submitted_at else "draft",
            entry_on=to_jst(max(last_save.values())).date() if last_save else None,
            submitted_at=story.submitted_at, submitted_by_id=leader if story.submitted_at else None,
            updated_at=latest, answered_at=last_save, answered_by_id=member, versions=saves))
        stories.append(story)
    per_chunk = max(1, CHUNK // max(len(definition.items), 1))
    for start in range(0, len(sheets), per_chunk):
        chunk = sheets[start:start + per_chunk]
        ids = writer.create(session, round_, definition, chunk, now=now_utc())
        progress(len(chunk) * len(definition.items))
        if plan.history:
            writer.add_history(session, _history(stories[start:start + per_chunk], ids))


def _history(stories: list[_Story], ids: list[int]) -> list[dict]:
    """Every save, submission and reopening of the sheets (source=demo), as their stories tell."""
    return [{"sheet_id": sheet_id, **event} for sheet_id, story in zip(ids, stories, strict=True)
            for event in story.events]


def _chunks(rows: list) -> Iterator[list]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


# --- a 40-item checklist for benchmark-size data ---------------------------------------------------
# The seed's six items, the thirty proposed in the product research (notes/product-research.md §7) and
# four more: (category, scene, text, difficulty, 該当なし allowed).
BENCH_ITEMS: tuple[tuple[str, str, str, int, bool], ...] = (
    ("所属内", "日常", "資料を電子でも保管している", 1, False),
    ("所属内", "日常", "個人用（メモ、資料の保管）に紙を印刷していない", 2, False),
    ("打合せ", "所属打合せ", "打合せをペーパーレスで行っている", 1, False),
    ("打合せ", "部局打合せ", "部局幹部との打合せをペーパーレスで行っている", 1, False),
    ("会議", "庁内の会議", "紙資料を配っていない", 1, True),
    ("会議", "外部の方との会議等", "資料の事前配布やタブレットを活用している", 3, True),
    ("所属内", "日常", "課内の連絡・回覧を紙で回さず、Teamsで行っている", 1, False),
    ("所属内", "日常", "印刷が必要な場合も、両面・集約印刷や印刷前の確認で枚数を最小限にしている", 1, False),
    ("所属内", "日常", "所属の印刷・コピー枚数を把握し、所属内で共有している", 1, False),
    ("所属内", "所属のルール", "所属内でペーパーレスのルールを決め、DX推進リーダー等が周知している", 1, False),
    ("所属内", "文書保管", "電子データを所属の共有場所（Teams・SharePoint等）で共有している", 2, False),
    ("所属内", "文書保管", "書棚・キャビネットの紙文書を計画的に減らしている", 2, False),
    ("所属内", "文書保管", "紙で受け取った文書はスキャン等で電子化して処理・保存している", 2, False),
    ("打合せ", "知事・副知事等への説明", "知事・副知事等への説明をタブレットや画面で行っている", 2, True),
    ("打合せ", "資料の修正・確認", "上司からの修正指示・確認を電子ファイル上で行っている", 2, False),
    ("打合せ", "出先機関・他所属との打合せ", "移動を伴う打合せをTeams会議で行っている", 1, True),
    ("会議", "庁内の会議", "会議資料を事前に電子で共有し、当日はモニターで投影している", 1, True),
    ("会議", "議事録・記録", "会議の議事録・記録を電子で作成・共有している", 1, True),
    ("会議", "議会対応", "議会の答弁資料・想定問答を電子で作成・共有している", 3, True),
    ("決裁・文書", "起案・決裁", "起案・決裁を電子決裁で行い、紙決裁は例外に限っている", 2, False),
    ("決裁・文書", "供覧", "供覧・回覧を文書管理システムやTeamsで行っている", 1, False),
    ("決裁・文書", "施行", "庁内・市町村あての通知は公印を省略し、電子メール等で施行している", 2, False),
    ("決裁・文書", "保存", "電子で作成・収受した公文書は電子のまま保存している", 2, False),
    ("庁内照会・内部事務", "照会・回答", "庁内照会・調査の回答をWebフォームや共有ファイルで回収している", 1, True),
    ("庁内照会・内部事務", "庶務手続", "休暇・出張・旅費等の庶務手続をシステムで行っている", 2, False),
    ("対外", "FAX", "FAXを使わず、メール・電子申請等でやり取りしている", 3, True),
    ("対外", "郵送", "関係機関・事業者への文書送付を、メール・電子申請等に切り替えている", 3, True),
    ("対外", "報道提供", "報道機関への資料提供を電子データで行っている", 2, True),
    ("対外", "市町村との連絡", "市町村との照会・通知・回答を電子で行っている", 2, True),
    ("申請・手続", "県民・事業者からの申請", "所管する申請・届出を電子申請で受け付けている", 3, True),
    ("申請・手続", "様式・押印", "所管する様式の押印や紙の添付を見直している", 2, True),
    ("申請・手続", "手数料等の納付", "手数料等をキャッシュレス・電子納付で受け付けている", 3, True),
    ("契約", "契約事務", "相手方が対応可能な契約は電子契約で締結している", 3, True),
    ("働き方", "テレワーク・出張先", "テレワークや出張先でも、資料の閲覧・決裁ができる", 2, False),
    ("働き方", "機器の活用", "会議用タブレット・大型モニター等を必要に応じて借用・活用している", 1, False),
    ("働き方", "相談・支援", "紙が残る業務について、業務DX相談窓口等に相談したことがある", 1, False),
    ("所属内", "日常", "付箋や紙のメモの代わりにTeamsのタスクや共有ノートを使っている", 1, False),
    ("会議", "審議会等", "審議会等の委員に資料を電子で事前送付している", 3, True),
    ("決裁・文書", "収受", "他機関からの文書を電子で収受している", 3, False),
    ("働き方", "研修", "研修資料を電子で配布・閲覧している", 1, True),
)


def bench_checklist(n: int) -> LoadedChecklist:
    """A checklist ``paperless-bench`` v1 of the first ``n`` (1–40) items above, built in code and
    validated like a file. Its id differs from the seed's, so it never collides with a real version."""
    if not 1 <= n <= len(BENCH_ITEMS):
        raise ValueError(f"items must be between 1 and {len(BENCH_ITEMS)}")
    categories: dict[str, list[dict]] = {}
    for number, (category, scene, text, difficulty, allow_na) in enumerate(BENCH_ITEMS[:n], start=1):
        categories.setdefault(category, []).append(
            {"key": f"bench.item-{number:02d}", "scene": scene, "text": text, "difficulty": difficulty,
             "allow_na": allow_na})
    data = {
        "id": "paperless-bench",
        "version": 1,
        "title": f"ペーパーレス化状況チェックシート（ベンチマーク用 {n}項目）",
        "legend": {"heading": "だいたいの目安", "difficulty": {3: "相手次第", 2: "ちょっと難しい", 1: "やりやすい"},
                   "status": {"◎": "60%以上", "○": "60～30%程度", "△": "30%以下", "×": "未対応"}},
        "categories": [{"name": name, "items": items} for name, items in categories.items()],
    }
    source = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    return parse_checklist(source.encode("utf-8"), display_path=f"(generated) paperless-bench {n} items")


# --- Measured figures (実績値, app/kpis) -----------------------------------------------------------------------

# Copies per person per month by calendar month: more before the assembly (6, 9, 12 月) and at the year end.
SEASON = {4: 1.0, 5: 0.9, 6: 1.15, 7: 0.95, 8: 0.8, 9: 1.1, 10: 0.95, 11: 1.0, 12: 1.1, 1: 0.85, 2: 1.0, 3: 1.25}


def load_figures(session: Session, catalogue, *, months: int = 24, seed: int = 1, today: date | None = None,
                 history: bool = True) -> int:
    """Plausible monthly figures for every 所属 in force, for the ``months`` months before this one, and the
    yearly figures of their fiscal years, written through the figures' writer (``kpis.service``): copies and
    paper falling a little each year, FAX falling, 電子決裁率 rising, each 所属 with its own habits. Returns
    the number of values. The caller commits."""
    from app.kpis import service as kpis

    rng = random.Random(seed)
    today = today or today_jst()
    this_month = date(today.year, today.month, 1)
    span = [_months_before(this_month, n) for n in range(months, 0, -1)]
    sections = session.execute(select(Unit).where(Unit.kind == UnitKind.SECTION, Unit.valid_to.is_(None))
                               .order_by(Unit.code)).scalars().all()
    wanted = set(catalogue.by_key)
    changes = []
    for unit in sections:
        habit = rng.lognormvariate(0, 0.35)  # heavy or light printers
        fax_habit = rng.lognormvariate(0, 0.6)
        e_rate = min(0.97, max(0.35, rng.gauss(0.75, 0.12)))
        staff = rng.randint(8, 45)
        procedures = rng.randint(4, 60)
        online = rng.uniform(0.2, 0.7)
        for fy in sorted({fiscal_year_of(m) for m in span}):
            april = date(fy, 4, 1)
            staff = max(3, staff + rng.randint(-2, 2))
            online = min(1.0, online + rng.uniform(0.03, 0.12))
            yearly = {"staff.count": staff, "procedures.total": procedures,
                      "procedures.online": round(procedures * online),
                      "procedures.seal-required": round((procedures - round(procedures * online)) * rng.uniform(0.2, 0.8))}
            changes += [kpis.Change(unit.id, april, k, kpis.NOTHING, v) for k, v in yearly.items() if k in wanted]
        for index, month in enumerate(span):
            years = index / 12
            trend = 0.92 ** years  # 8 % less paper a year
            copies = round(staff * 420 * habit * trend * SEASON[month.month] * rng.uniform(0.85, 1.15))
            boxes = max(0, round(copies * rng.uniform(0.5, 1.4) / 2500))
            total = max(1, round(staff * rng.uniform(4, 9)))
            rate = min(0.995, e_rate + 0.05 * years + rng.uniform(-0.03, 0.03))
            paper_required = round(total * rng.uniform(0.0, 0.06))
            monthly = {
                "print.copies": copies, "paper.purchased": boxes * 2500,
                "fax.sent": round(staff * 1.2 * fax_habit * 0.85 ** years * rng.uniform(0.6, 1.4)),
                "fax.received": round(staff * 1.8 * fax_habit * 0.9 ** years * rng.uniform(0.6, 1.4)),
                "approvals.total": total, "approvals.paper-required": paper_required,
                "approvals.electronic": min(total - paper_required, round(total * rate)),
            }
            changes += [kpis.Change(unit.id, month, k, kpis.NOTHING, v) for k, v in monthly.items() if k in wanted]
    for start in range(0, len(changes), CHUNK):
        kpis.write_values(session, catalogue, changes[start:start + CHUNK], actor_id=None, source="demo",
                          history=history)
    return len(changes)
