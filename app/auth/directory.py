"""The user directory as admins manage it: list and search, add, change, disable / enable, CSV import,
and reading the audit log. Services take a session and plain values and never commit."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import exists, func, or_
from sqlmodel import Session, select

from app.auth.models import AuditEvent, Membership, SectionRole, User
from app.auth.permissions import Principal
from app.auth.service import audit, end_sessions
from app.errors import Forbidden, InvalidInput, NotFound
from app.jpdate import JST, today_jst
from app.orgs import service as orgs
from app.orgs.models import Unit, UnitKind
from app.paging import Pager
from app.text import check_text

PER_PAGE = 50
MAX_IMPORT_ROWS = 20_000
UPN_RE = re.compile(r"^[A-Za-z0-9._%+'\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+$")
ROLE_LABELS = {SectionRole.MEMBER: "職員", SectionRole.LEADER: "DX推進リーダー"}
# What the CSV "role" column may say (English as documented, and the Japanese an admin may type).
ROLE_WORDS = {
    "member": SectionRole.MEMBER, "職員": SectionRole.MEMBER, "所属ユーザー": SectionRole.MEMBER,
    "leader": SectionRole.LEADER, "dx推進リーダー": SectionRole.LEADER, "リーダー": SectionRole.LEADER,
}
ROLE_FILTERS = {"member": "職員", "leader": "DX推進リーダー", "desk": "業務DX相談窓口", "admin": "管理者",
                "none": "役割なし"}
HEADER_WORDS = {"upn", "ユーザー名", "ユーザープリンシパル名", "メールアドレス", "メール"}

AUDIT_KINDS = {
    "sign_in": "サインイン",
    "sign_in_failed": "サインイン失敗",
    "sign_out": "サインアウト",
    "role_change": "役割の変更",
    "user_created": "利用者の追加",
    "user_updated": "利用者の変更",
    "user_disabled": "利用停止",
    "user_enabled": "利用再開",
    "users_imported": "利用者CSVの取り込み",
    "token_created": "APIトークンの発行",
    "sessions_ended": "セッションの終了",
    "reorg_apply": "組織改正の適用",
    "reorg_schedule": "組織改正の予定登録",
    "reorg_cancel": "組織改正の予定の取り消し",
    "reorg_failed": "組織改正の予定を適用できず",
    "kpi_cap": "実績値の上限の変更",
}
DETAIL_LABELS = {
    "method": "方法", "ip": "IPアドレス", "how": "照合", "roles": "Entraのアプリロール", "reason": "理由",
    "user": "対象", "source": "変更元", "before": "変更前", "after": "変更後", "upn": "UPN",
    "display_name": "表示名", "added": "追加", "updated": "変更", "unchanged": "変更なし", "tid": "テナント",
    "token_id": "トークン", "days": "日数", "figure": "実績値", "fy": "年度", "bureau": "部局", "cap": "上限",
}
DETAIL_VALUES = {
    "msal": "Microsoft 365", "dev": "開発用", "known": "登録済み", "linked": "UPNで初回照合",
    "created": "アプリロールで新規", "entra": "Entra ID", "admin": "管理画面", "csv": "CSV取り込み",
    "state": "確認情報(state)の不一致・期限切れ", "nonce": "nonceの不一致", "signature": "IDトークンの署名不正",
    "wrong_tenant": "他の組織（テナント）", "not_registered": "未登録", "disabled": "利用停止中",
    "no_role": "所属・役割なし", "expired": "IDトークンの期限切れ", "audience": "IDトークンの宛先不正",
    "issuer": "IDトークンの発行元不正", "unknown_key": "署名鍵が不明", "id_token": "IDトークン不正",
    "sign_out": "サインアウト", "user_disabled": "利用停止", "role_change": "役割の変更",
    "admin_ended": "管理者による終了",
}


# --- reading ---------------------------------------------------------------------------------------
@dataclass
class UserRow:
    user: User
    memberships: list[tuple[Unit, SectionRole]]

    @property
    def roles_label(self) -> str:
        return describe_roles(self.user, [(u.code, r) for u, r in self.memberships])


@dataclass
class Page:
    rows: list
    pager: Pager


def describe_roles(user: User, memberships: list[tuple[str, SectionRole]]) -> str:
    parts = [f"{code} {ROLE_LABELS[SectionRole(role)]}" for code, role in memberships]
    entra = set(filter(None, user.entra_roles.split(",")))
    if user.is_desk:
        parts.append("業務DX相談窓口")
    if user.is_admin:
        parts.append("管理者")
    if "desk" in entra and not user.is_desk:
        parts.append("業務DX相談窓口（Entra）")
    if "admin" in entra and not user.is_admin:
        parts.append("管理者（Entra）")
    return "、".join(parts) or "なし"


def sections(session: Session) -> list[tuple[Unit, list[Unit]]]:
    """所属 in force today grouped by 部局, for the 所属 choice."""
    units = orgs.units_in_force(session, today_jst())
    bureaus = orgs.bureau_map(units)
    groups: dict[int, tuple[Unit, list[Unit]]] = {}
    for unit in units:
        if unit.kind == UnitKind.SECTION:
            bureau = bureaus.get(unit.id, unit)
            groups.setdefault(bureau.id, (bureau, []))[1].append(unit)
    return list(groups.values())


def list_users(session: Session, *, q: str = "", unit_code: str = "", role: str = "", active: str = "",
               page: int = 1) -> Page:
    query = select(User)
    if q.strip():
        like = f"%{q.strip().lower()}%"
        query = query.where(or_(func.lower(User.upn).like(like), func.lower(User.display_name).like(like)))
    member = exists().where(Membership.user_id == User.id)
    if unit_code:
        unit_ids = select(Unit.id).where(Unit.code == unit_code)
        query = query.where(exists().where(Membership.user_id == User.id, Membership.unit_id.in_(unit_ids)))
    if role in (SectionRole.MEMBER, SectionRole.LEADER):
        query = query.where(exists().where(Membership.user_id == User.id, Membership.role == role))
    elif role == "desk":
        query = query.where(or_(User.is_desk, User.entra_roles.like("%desk%")))
    elif role == "admin":
        query = query.where(or_(User.is_admin, User.entra_roles.like("%admin%")))
    elif role == "none":
        query = query.where(~member, ~User.is_desk, ~User.is_admin, User.entra_roles == "")
    if active in ("1", "0"):
        query = query.where(User.is_active == (active == "1"))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    pager = Pager.of(page, PER_PAGE, total)
    users = session.exec(query.order_by(User.upn).offset(pager.offset).limit(PER_PAGE)).all()
    by_user: dict[int, list[tuple[Unit, SectionRole]]] = {u.id: [] for u in users}
    if users:
        for membership, unit in session.exec(
            select(Membership, Unit).join(Unit, Unit.id == Membership.unit_id)
            .where(Membership.user_id.in_(list(by_user))).order_by(Unit.code)
        ).all():
            by_user[membership.user_id].append((unit, SectionRole(membership.role)))
    return Page([UserRow(u, by_user[u.id]) for u in users], pager)


def get_user(session: Session, user_id: int) -> UserRow:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("その利用者は登録されていません。")
    rows = session.exec(
        select(Membership, Unit).join(Unit, Unit.id == Membership.unit_id)
        .where(Membership.user_id == user_id).order_by(Unit.code)
    ).all()
    return UserRow(user, [(unit, SectionRole(m.role)) for m, unit in rows])


# --- one person ------------------------------------------------------------------------------------
@dataclass
class UserInput:
    """The admin form (every field as typed)."""

    upn: str = ""
    display_name: str = ""
    unit_code: str = ""
    role: str = SectionRole.MEMBER.value
    is_desk: bool = False
    is_admin: bool = False


def _section_by_code(session: Session, code: str) -> Unit | None:
    return session.exec(
        select(Unit).where(Unit.code == code, Unit.kind == UnitKind.SECTION, orgs.in_force(today_jst()))
    ).first()


def _validate(session: Session, data: UserInput, *, user_id: int | None) -> tuple[str, str, Unit | None, SectionRole]:
    errors: dict[str, str] = {}
    upn = data.upn.strip().lower()
    name, name_problem = check_text(data.display_name.strip(), "表示名", multiline=False)
    if not UPN_RE.match(upn) or len(upn) > 254:
        errors["upn"] = "UPN はメールアドレスの形で入力してください（例: toyama-taro@pref.toyama.lg.jp）。"
    else:
        other = session.exec(select(User).where(User.upn == upn)).first()
        if other is not None and other.id != user_id:
            errors["upn"] = f"UPN「{upn}」は既に登録されています（{other.display_name}）。"
    if name_problem:
        errors["display_name"] = name_problem
    elif not name:
        errors["display_name"] = "表示名を入力してください。"
    elif len(name) > 100:
        errors["display_name"] = "表示名は100文字以内にしてください。"
    unit = None
    if data.unit_code.strip():
        unit = _section_by_code(session, data.unit_code.strip())
        if unit is None:
            errors["unit_code"] = f"所属コード「{data.unit_code.strip()}」は現在の組織にありません。"
    role = ROLE_WORDS.get(data.role.strip().lower())
    if role is None:
        errors["role"] = "役割は「職員」か「DX推進リーダー」を選んでください。"
    if not errors and unit is None and not (data.is_desk or data.is_admin):
        errors["unit_code"] = "所属を選ぶか、業務DX相談窓口・管理者のどちらかにしてください（役割のない利用者はサインインできません）。"
    if errors:
        raise InvalidInput("入力内容を確認してください: " + " ".join(errors.values()), fields=errors)
    return upn, name, unit, role  # type: ignore[return-value]


def _roles_snapshot(session: Session, user: User) -> str:
    rows = session.exec(
        select(Unit.code, Membership.role).join(Unit, Unit.id == Membership.unit_id)
        .where(Membership.user_id == user.id).order_by(Unit.code)
    ).all()
    return describe_roles(user, [(code, SectionRole(role)) for code, role in rows])


def _set_section(session: Session, user: User, unit: Unit | None, role: SectionRole) -> None:
    """Make ``unit`` (with ``role``) the person's only 所属, or none."""
    current = session.exec(select(Membership).where(Membership.user_id == user.id)).all()
    keep = None
    for membership in current:
        if unit is not None and membership.unit_id == unit.id and keep is None:
            keep = membership
        else:
            session.delete(membership)
    session.flush()
    if unit is None:
        return
    if keep is None:
        session.add(Membership(user_id=user.id, unit_id=unit.id, role=role))
    elif keep.role != role:
        keep.role = role
        session.add(keep)
    session.flush()


def add_user(session: Session, actor: Principal, data: UserInput) -> User:
    upn, name, unit, role = _validate(session, data, user_id=None)
    user = User(upn=upn, display_name=name, is_desk=data.is_desk, is_admin=data.is_admin)
    session.add(user)
    session.flush()
    _set_section(session, user, unit, role)
    audit(session, "user_created", actor=actor, detail={"user": upn, "source": "admin", "display_name": name})
    audit(session, "role_change", actor=actor, detail={
        "user": upn, "source": "admin", "before": "なし", "after": _roles_snapshot(session, user)})
    return user


def update_user(session: Session, actor: Principal, user_id: int, data: UserInput) -> User:
    user = get_user(session, user_id).user
    upn, name, unit, role = _validate(session, data, user_id=user_id)
    if user.id == actor.user_id and user.is_admin and not data.is_admin:
        raise InvalidInput("自分自身の管理者の権限は外せません（他の管理者に依頼してください）。",
                           fields={"is_admin": "自分自身の管理者の権限は外せません。"})
    before_roles = _roles_snapshot(session, user)
    changes = {}
    if user.upn != upn:
        changes["upn"] = [user.upn, upn]
    if user.display_name != name:
        changes["display_name"] = [user.display_name, name]
    user.upn, user.display_name = upn, name
    user.is_desk, user.is_admin = data.is_desk, data.is_admin
    session.add(user)
    session.flush()
    _set_section(session, user, unit, role)
    after_roles = _roles_snapshot(session, user)
    if changes:
        audit(session, "user_updated", actor=actor, detail={"user": upn, "source": "admin", **changes})
    if before_roles != after_roles:
        audit(session, "role_change", actor=actor, detail={
            "user": upn, "source": "admin", "before": before_roles, "after": after_roles})
        end_sessions(session, user, actor=actor, reason="role_change")
    return user


def set_active(session: Session, actor: Principal, user_id: int, active: bool) -> User:
    user = get_user(session, user_id).user
    if user.id == actor.user_id and not active:
        raise Forbidden("自分自身を利用停止にはできません。")
    if user.is_active != active:
        user.is_active = active
        session.add(user)
        audit(session, "user_enabled" if active else "user_disabled", actor=actor,
              detail={"user": user.upn, "source": "admin"})
        if not active:  # so that enabling again does not bring old sessions back
            end_sessions(session, user, actor=actor, reason="user_disabled")
    return user


def end_user_sessions(session: Session, actor: Principal, user_id: int) -> User:
    """The admin's 「この利用者のセッションをすべて終了」: every browser of theirs must sign in again."""
    user = get_user(session, user_id).user
    end_sessions(session, user, actor=actor, reason="admin_ended")
    return user


# --- CSV import ------------------------------------------------------------------------------------
@dataclass
class ImportRow:
    line: int
    upn: str
    display_name: str
    unit_code: str
    role_text: str
    unit: Unit | None = None
    role: SectionRole | None = None
    action: str = ""  # add | update | same | error
    changes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class ImportPreview:
    text: str  # the decoded file, carried to the apply step
    rows: list[ImportRow]
    encoding: str

    def count(self, action: str) -> int:
        return sum(1 for r in self.rows if r.action == action)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and self.count("error") == 0

    @property
    def payload(self) -> str:
        """The checked text, carried from the preview page to the apply step (base64, so that line
        breaks survive the form)."""
        return base64.b64encode(self.text.encode("utf-8")).decode("ascii")


def text_of_payload(payload: str) -> str:
    try:
        return base64.b64decode(payload.encode("ascii"), validate=True).decode("utf-8")
    except (ValueError, UnicodeError) as exc:
        raise InvalidInput("取り込む内容が壊れています。もう一度ファイルを選んでください。") from exc


def decode_csv(raw: bytes) -> tuple[str, str]:
    """The text of an uploaded CSV and the encoding found: UTF-8 (with or without BOM) or Shift_JIS (CP932)."""
    if not raw.strip():
        raise InvalidInput("ファイルが空です。", fields={"file": "ファイルが空です。"})
    for encoding, label in (("utf-8-sig", "UTF-8"), ("cp932", "Shift_JIS")):
        try:
            return raw.decode(encoding), label
        except UnicodeDecodeError:
            continue
    message = "文字コードを判別できません。Excel で「CSV UTF-8（コンマ区切り）」または「CSV（コンマ区切り）」で保存し直してください。"
    raise InvalidInput(message, fields={"file": message})


def preview_import(session: Session, text: str, encoding: str = "UTF-8") -> ImportPreview:
    """Check every row (nothing is written): what would be added or changed, and each row's errors."""
    rows = _parse(text)
    sections_by_code = {u.code: u for u in orgs.units_in_force(session, today_jst(), UnitKind.SECTION)}
    first_line: dict[str, int] = {}
    upns = [r.upn for r in rows if r.upn]
    existing = {u.upn: u for u in session.exec(select(User).where(User.upn.in_(upns))).all()} if upns else {}
    memberships: dict[int, list[tuple[int, str]]] = {}
    if existing:
        for m in session.exec(select(Membership).where(Membership.user_id.in_([u.id for u in existing.values()]))):
            memberships.setdefault(m.user_id, []).append((m.unit_id, m.role))
    for row in rows:
        if not row.upn:
            row.errors.append("UPN が空です。")
        elif not UPN_RE.match(row.upn) or len(row.upn) > 254:
            row.errors.append(f"UPN「{row.upn}」はメールアドレスの形になっていません。")
        elif row.upn in first_line:
            row.errors.append(f"UPN「{row.upn}」が {first_line[row.upn]} 行目と重複しています。")
        else:
            first_line[row.upn] = row.line
        row.display_name, problem = check_text(row.display_name, "表示名", multiline=False)
        if problem:
            row.errors.append(problem)
        elif not row.display_name:
            row.errors.append("表示名が空です。")
        elif len(row.display_name) > 100:
            row.errors.append("表示名が100文字を超えています。")
        row.unit = sections_by_code.get(row.unit_code)
        if not row.unit_code:
            row.errors.append("所属コードが空です。")
        elif row.unit is None:
            row.errors.append(f"所属コード「{row.unit_code}」は現在の組織にありません。")
        row.role = ROLE_WORDS.get(row.role_text.lower())
        if row.role is None:
            row.errors.append(f"役割「{row.role_text}」は使えません。member（職員）か leader（DX推進リーダー）にしてください。")
        if row.errors:
            row.action = "error"
            continue
        user = existing.get(row.upn)
        if user is None:
            row.action = "add"
            continue
        if user.display_name != row.display_name:
            row.changes.append(f"表示名 {user.display_name} → {row.display_name}")
        if memberships.get(user.id, []) != [(row.unit.id, row.role.value)]:
            row.changes.append("所属・役割 → " + f"{row.unit.code} {ROLE_LABELS[row.role]}")
        row.action = "update" if row.changes else "same"
    return ImportPreview(text, rows, encoding)


def _parse(text: str) -> list[ImportRow]:
    reader = csv.reader(io.StringIO(text))
    rows: list[ImportRow] = []
    first = True
    try:
        for cells in reader:
            cells = [c.strip() for c in cells]
            if not any(cells):
                continue
            if first:
                first = False
                if cells[0].lower() in HEADER_WORDS:
                    continue  # the header row
            if len(rows) >= MAX_IMPORT_ROWS:
                raise InvalidInput(f"一度に取り込めるのは {MAX_IMPORT_ROWS:,} 行までです。ファイルを分けてください。")
            cells += [""] * (4 - len(cells))
            row = ImportRow(reader.line_num, cells[0].lower(), cells[1], cells[2], cells[3])
            if any(cells[4:]):
                row.errors.append("列が多すぎます（UPN、表示名、所属コード、役割の4列にしてください）。")
            rows.append(row)
    except csv.Error as exc:
        raise InvalidInput(f"CSVとして読めません（{reader.line_num} 行目: {exc}）。") from exc
    if not rows:
        raise InvalidInput("取り込む行がありません（UPN、表示名、所属コード、役割の4列）。")
    return rows


def apply_import(session: Session, actor: Principal, text: str) -> ImportPreview:
    """Check again, then add and change every row at once; any error and nothing is written."""
    preview = preview_import(session, text)
    if not preview.ok:
        raise InvalidInput(f"エラーのある行が {preview.count('error')} 行あるため、取り込みませんでした。")
    existing = {u.upn: u for u in session.exec(select(User).where(User.upn.in_([r.upn for r in preview.rows])))}
    for row in preview.rows:
        if row.action == "same":
            continue
        user = existing.get(row.upn)
        if user is None:
            user = User(upn=row.upn, display_name=row.display_name)
            session.add(user)
            session.flush()
            before = "なし"
        else:
            before = _roles_snapshot(session, user)
            user.display_name = row.display_name
            session.add(user)
        _set_section(session, user, row.unit, row.role)  # type: ignore[arg-type]
        after = _roles_snapshot(session, user)
        if before != after:
            audit(session, "role_change", actor=actor, detail={
                "user": row.upn, "source": "csv", "before": before, "after": after})
            if row.upn in existing:  # a person just added has no sessions to end
                end_sessions(session, user, actor=actor, reason="role_change")
    audit(session, "users_imported", actor=actor, detail={
        "source": "csv", "added": preview.count("add"), "updated": preview.count("update"),
        "unchanged": preview.count("same")})
    return preview


# --- audit log -------------------------------------------------------------------------------------
@dataclass
class AuditRow:
    event: AuditEvent

    @property
    def kind_label(self) -> str:
        return AUDIT_KINDS.get(self.event.kind, self.event.kind)

    @property
    def details(self) -> list[tuple[str, str]]:
        try:
            data = json.loads(self.event.detail or "{}")
        except ValueError:
            return [("内容", self.event.detail)]
        out = []
        for key, value in data.items() if isinstance(data, dict) else []:
            if value in ("", None):
                continue
            if isinstance(value, list):
                text = " → ".join(str(v) for v in value)
            else:
                text = DETAIL_VALUES.get(str(value), str(value))
            out.append((DETAIL_LABELS.get(key, key), text))
        return out


def audit_kinds(session: Session) -> dict[str, str]:
    """Kinds to filter by: the known ones, and any other kind found in the log."""
    found = session.exec(select(AuditEvent.kind).distinct()).all()
    return {**AUDIT_KINDS, **{k: k for k in found if k not in AUDIT_KINDS}}


AUDIT_PERSON_MAX = 100
AUDIT_EARLIEST = date(2000, 1, 1)  # a 「から」 before this is a typo, not a search


@dataclass(frozen=True)
class AuditFilter:
    """What the audit log is narrowed to: a kind, a person (part of the name or UPN of who acted, or of the
    label recorded when nobody was signed in), and days in Japan time, both ends included."""

    kind: str = ""
    person: str = ""
    date_from: date | None = None
    date_to: date | None = None

    @property
    def params(self) -> dict[str, str]:
        """The filter as the page's query string (the pager's links, the CSV link)."""
        values = {"kind": self.kind, "person": self.person,
                  "from": self.date_from.isoformat() if self.date_from else "",
                  "to": self.date_to.isoformat() if self.date_to else ""}
        return {k: v for k, v in values.items() if v}

    @property
    def active(self) -> bool:
        return bool(self.params)


def _day(value: str, label: str) -> date | str:
    """A date from the form (YYYY-MM-DD, as ``<input type=date>`` sends it), or the message why not."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return f"{label}は「2026-04-01」の形（年-月-日）で入力してください。"
    if day < AUDIT_EARLIEST or day > date(9998, 12, 31):
        return f"{label}は2000年以降の日付にしてください。"
    return day


def audit_filter(session: Session, *, kind: str = "", person: str = "", date_from: str = "",
                 date_to: str = "") -> AuditFilter:
    """The filter from the page's GET parameters; InvalidInput with a message per field when one is wrong."""
    errors: dict[str, str] = {}
    kind = kind.strip()
    if kind and kind not in audit_kinds(session):
        errors["kind"] = "種類は一覧から選んでください。"
    person, problem = check_text(person.strip(), "操作した人", multiline=False)
    if problem:
        errors["person"] = problem
    elif len(person) > AUDIT_PERSON_MAX:
        errors["person"] = f"操作した人は{AUDIT_PERSON_MAX}文字以内で入力してください。"
    days: dict[str, date | None] = {}
    for name, value, label in (("from", date_from, "期間の始まり"), ("to", date_to, "期間の終わり")):
        day = _day(value, label) if value.strip() else None
        if isinstance(day, str):
            errors[name] = day
        else:
            days[name] = day
    if days.get("from") and days.get("to") and days["from"] > days["to"]:
        errors["to"] = "期間の終わりは、始まりと同じ日か後の日にしてください。"
    if errors:
        raise InvalidInput("絞り込みの条件を確認してください。", fields=errors)
    return AuditFilter(kind, person, days.get("from"), days.get("to"))


def _audit_query(flt: AuditFilter):
    """The filtered events, in SQL: the kind, who acted (their name or UPN now, or the label recorded),
    and the days, from 00:00 JST of the first to 00:00 JST after the last."""
    query = select(AuditEvent)
    if flt.kind:
        query = query.where(AuditEvent.kind == flt.kind)
    if flt.person:
        acted = select(User.id).where(or_(User.display_name.contains(flt.person, autoescape=True),
                                          User.upn.contains(flt.person, autoescape=True)))
        query = query.where(or_(AuditEvent.actor_label.contains(flt.person, autoescape=True),
                                AuditEvent.actor_id.in_(acted)))
    if flt.date_from:
        query = query.where(AuditEvent.at >= datetime.combine(flt.date_from, time(0), JST))
    if flt.date_to:
        query = query.where(AuditEvent.at < datetime.combine(flt.date_to + timedelta(days=1), time(0), JST))
    return query


def list_audit(session: Session, flt: AuditFilter | None = None, *, page: int = 1) -> Page:
    query = _audit_query(flt or AuditFilter())
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    pager = Pager.of(page, PER_PAGE, total)
    events = session.exec(
        query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).offset(pager.offset).limit(PER_PAGE)
    ).all()
    return Page([AuditRow(e) for e in events], pager)


def audit_rows(session: Session, flt: AuditFilter) -> Iterator[AuditRow]:
    """Every event the filter selects, newest first, read in batches (the CSV export)."""
    query = _audit_query(flt).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    for event in session.exec(query.execution_options(yield_per=500)):
        yield AuditRow(event)
