"""Admin pages: the user directory (list, search, add, change, disable), CSV import, audit log."""

from __future__ import annotations

import json
import re

from sqlmodel import select

from app.auth.models import AuditEvent, Membership, SectionRole, User
from tests.conftest import csrf_from, sign_in
from tests.factories import make_user


def admin(client) -> str:
    return sign_in(client, "admin@test.example")


# The test session writes (SQLite's write lock is taken at BEGIN): every read ends its transaction so
# that the app's requests are not kept waiting.
def events(session, kind: str) -> list[dict]:
    session.expire_all()
    rows = session.exec(select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id)).all()
    session.commit()
    return [json.loads(e.detail) for e in rows]


def user_by_upn(session, upn: str) -> User | None:
    session.expire_all()
    user = session.exec(select(User).where(User.upn == upn)).first()
    session.commit()
    return user


def sections_of(session, user: User) -> list[tuple[int, str]]:
    rows = [(m.unit_id, m.role) for m in session.exec(select(Membership).where(Membership.user_id == user.id))]
    session.commit()
    return rows


# --- index, list and search ------------------------------------------------------------------------
def test_admin_index_lists_the_admin_functions(client, world):
    admin(client)
    page = client.get("/admin")
    assert page.status_code == 200
    for href in ("/admin/users", "/admin/users-import", "/admin/audit"):
        assert f'href="{href}"' in page.text


def test_user_list_shows_section_role_state_and_last_sign_in_in_wareki(client, world):
    admin(client)
    page = client.get("/admin/users")
    assert page.status_code == 200
    assert "利用者 7人" in page.text
    row = re.search(r"リーダー A1</a></th>(.*?)</tr>", page.text, re.S).group(1)
    assert "leader.a1@test.example" in row and "A部 一課" in row and "A1 DX推進リーダー" in row
    assert "利用中" in row and "未サインイン" in row
    admin_row = re.search(r">管理者</a></th>(.*?)</tr>", page.text, re.S).group(1)
    assert re.search(r"令和\d+年\d+月\d+日 \d\d:\d\d", admin_row)  # signed in just now


def test_search_and_filters(client, session, world):
    admin(client)
    make_user(session, "gone@test.example", "退職者", section=world.b1, is_active=False)
    session.commit()

    def names(**params) -> list[str]:
        page = client.get("/admin/users", params=params)
        assert page.status_code == 200
        return re.findall(r'<th scope="row"><a href="/admin/users/\d+">([^<]+)</a>', page.text)

    assert names(q="LEADER") == ["リーダー A1", "リーダー B1"]
    assert set(names(unit="B1")) == {"退職者", "職員 B1", "リーダー B1"}
    assert set(names(role="leader")) == {"リーダー A1", "リーダー B1"}
    assert names(role="desk") == ["窓口"] and names(role="admin") == ["管理者"]
    assert names(active="0") == ["退職者"]
    assert names(q="nobody") == []
    fragment = client.get("/admin/users", params={"q": "desk"}, headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<section id="results"') and "<html" not in fragment.text


def test_the_list_is_paginated(client, session, world):
    admin(client)
    for n in range(55):
        make_user(session, f"bulk{n:02d}@test.example", f"一括 {n:02d}", section=world.a2)
    session.commit()
    first = client.get("/admin/users")
    assert "利用者 62人（1/2ページ）" in first.text and 'rel="next"' in first.text
    second = client.get("/admin/users", params={"page": 2})
    assert second.text.count('<th scope="row">') == 12 and 'rel="prev"' in second.text
    assert client.get("/admin/users", params={"page": 99}).status_code == 200


# --- add, change, disable --------------------------------------------------------------------------
def test_add_a_person_with_a_section_and_role(client, session, world):
    token = admin(client)
    response = client.post("/admin/users", data={"csrf_token": token, "upn": " New.Person@Test.Example ",
                                                  "display_name": "新人 太郎", "unit_code": "A2", "role": "leader"})
    assert response.status_code == 303
    user = user_by_upn(session, "new.person@test.example")
    assert user.display_name == "新人 太郎" and user.is_active and not user.is_admin
    assert sections_of(session, user) == [(world.a2.id, "leader")]
    assert response.headers["location"] == f"/admin/users/{user.id}?done=created"
    assert "利用者を追加しました" in client.get(response.headers["location"]).text
    assert events(session, "user_created")[-1]["user"] == "new.person@test.example"
    assert events(session, "role_change")[-1]["after"] == "A2 DX推進リーダー"


def test_bad_input_is_explained_next_to_each_field_and_nothing_is_written(client, session, world):
    token = admin(client)
    response = client.post("/admin/users", data={"csrf_token": token, "upn": "not-an-email", "display_name": "",
                                                  "unit_code": "ZZ9", "role": "boss"})
    assert response.status_code == 422
    for field, text in (("upn", "メールアドレスの形"), ("display_name", "表示名を入力"),
                        ("unit_code", "現在の組織にありません"), ("role", "職員")):
        assert f'id="{field}-error"' in response.text and text in response.text
    assert 'aria-describedby="upn-hint upn-error"' in response.text and 'aria-invalid="true"' in response.text
    assert 'value="not-an-email"' in response.text  # what was typed is kept
    duplicate = client.post("/admin/users", data={"csrf_token": token, "upn": "member.a1@test.example",
                                                   "display_name": "二重", "unit_code": "A1", "role": "member"})
    assert duplicate.status_code == 422 and "既に登録されています" in duplicate.text
    no_role = client.post("/admin/users", data={"csrf_token": token, "upn": "x@test.example", "display_name": "x"})
    assert no_role.status_code == 422 and "役割のない利用者はサインインできません" in no_role.text
    session.expire_all()
    assert len(session.exec(select(User)).all()) == 7
    assert events(session, "user_created") == []


def test_change_section_role_and_flags_is_audited_as_a_role_change(client, session, world):
    token = admin(client)
    url = f"/admin/users/{world.member_a.id}"
    page = client.get(url)
    assert 'value="member.a1@test.example"' in page.text and '<option value="A1" selected>' in page.text
    response = client.post(url, data={"csrf_token": token, "upn": "member.a1@test.example",
                                      "display_name": "職員 A1（異動）", "unit_code": "B1", "role": "leader",
                                      "is_desk": "1"})
    assert response.status_code == 303 and response.headers["location"] == f"{url}?done=saved"
    user = user_by_upn(session, "member.a1@test.example")
    assert user.display_name == "職員 A1（異動）" and user.is_desk
    assert sections_of(session, user) == [(world.b1.id, "leader")]
    change = events(session, "role_change")[-1]
    assert (change["before"], change["after"]) == ("A1 職員", "B1 DX推進リーダー、業務DX相談窓口")
    assert events(session, "user_updated")[-1]["display_name"] == ["職員 A1", "職員 A1（異動）"]
    # The change reaches the person at once.
    from tests.conftest import sign_in as dev_sign_in

    other = client.__class__(client.app, follow_redirects=False)
    dev_sign_in(other, "member.a1@test.example")
    assert other.get("/api/v1/me").json()["roles"] == ["desk", "leader"]
    other.close()


def test_admin_cannot_remove_their_own_admin_role_or_disable_themselves(client, session, world):
    token = admin(client)
    url = f"/admin/users/{world.admin.id}"
    response = client.post(url, data={"csrf_token": token, "upn": "admin@test.example", "display_name": "管理者",
                                      "is_desk": "1"})
    assert response.status_code == 422 and "自分自身の管理者の権限は外せません" in response.text
    assert client.post(f"{url}/disable", data={"csrf_token": token}).status_code == 403
    assert user_by_upn(session, "admin@test.example").is_admin


def test_disable_ends_access_at_once_and_enable_restores_it(client, new_client, session, world):
    token = admin(client)
    member = new_client()
    sign_in(member, "member.b1@test.example")
    assert member.get("/api/v1/me").status_code == 200
    response = client.post(f"/admin/users/{world.member_b.id}/disable", data={"csrf_token": token})
    assert response.status_code == 303
    assert "利用停止にしました" in client.get(response.headers["location"]).text
    assert member.get("/api/v1/me").status_code == 401
    again = new_client()
    page = again.get("/auth/login")
    assert again.post("/auth/dev-login", data={"upn": "member.b1@test.example",
                                               "csrf_token": csrf_from(page.text)}).status_code == 404
    assert client.post(f"/admin/users/{world.member_b.id}/enable", data={"csrf_token": token}).status_code == 303
    sign_in(again, "member.b1@test.example")
    assert [e["user"] for e in events(session, "user_disabled")] == ["member.b1@test.example"]
    assert [e["user"] for e in events(session, "user_enabled")] == ["member.b1@test.example"]


def test_unknown_user_is_404(client, world):
    token = admin(client)
    assert client.get("/admin/users/9999").status_code == 404
    assert client.post("/admin/users/9999/disable", data={"csrf_token": token}).status_code == 404


# --- CSV import ------------------------------------------------------------------------------------
GOOD_CSV = "UPN,表示名,所属コード,役割\nnew1@test.example,新人 一郎,A1,member\nnew2@test.example,新人 二郎,B1,leader\nmember.a2@test.example,職員 A2,A1,leader\n"


def upload(client, token, content: bytes, name="users.csv"):
    return client.post("/admin/users-import", data={"csrf_token": token},
                       files={"file": (name, content, "text/csv")})


def payload_of(html: str) -> str:
    return re.search(r'name="payload" value="([^"]+)"', html).group(1)


def test_import_preview_changes_nothing_then_apply_writes_every_row(client, session, world):
    token = admin(client)
    preview = upload(client, token, ("\ufeff" + GOOD_CSV).encode("utf-8"))
    assert preview.status_code == 200
    assert "まだ取り込んでいません" in preview.text and "UTF-8" in preview.text
    assert re.search(r"<dt>追加</dt><dd>2人", preview.text) and re.search(r"<dt>変更</dt><dd>1人", preview.text)
    assert "所属・役割 → A1 DX推進リーダー" in preview.text
    assert user_by_upn(session, "new1@test.example") is None  # a dry run
    applied = client.post("/admin/users-import/apply", data={"csrf_token": token, "payload": payload_of(preview.text)})
    assert applied.status_code == 303 and applied.headers["location"] == "/admin/users?done=imported"
    assert sections_of(session, user_by_upn(session, "new2@test.example")) == [(world.b1.id, "leader")]
    assert sections_of(session, user_by_upn(session, "member.a2@test.example")) == [(world.a1.id, "leader")]
    assert events(session, "users_imported")[-1] == {"source": "csv", "added": 2, "updated": 1, "unchanged": 0}
    assert {e["user"] for e in events(session, "role_change")} >= {"new1@test.example", "member.a2@test.example"}
    again = upload(client, token, GOOD_CSV.encode("utf-8"))
    assert re.search(r"<dt>変更なし</dt><dd>3人", again.text)


def test_import_reads_shift_jis_as_saved_by_japanese_excel(client, session, world):
    token = admin(client)
    content = "new3@test.example,経理 花子,A2,リーダー\r\n".encode("cp932")
    preview = upload(client, token, content)
    assert preview.status_code == 200 and "Shift_JIS" in preview.text and "経理 花子" in preview.text
    client.post("/admin/users-import/apply", data={"csrf_token": token, "payload": payload_of(preview.text)})
    user = user_by_upn(session, "new3@test.example")
    assert user.display_name == "経理 花子" and sections_of(session, user) == [(world.a2.id, SectionRole.LEADER)]


def test_import_shows_each_rows_errors_and_cannot_be_applied(client, session, world):
    token = admin(client)
    content = (
        "upn,display_name,section_code,role\n"
        "ok@test.example,正しい人,A1,member\n"
        "ok@test.example,重複,A1,member\n"
        "bad-email,名前,A1,member\n"
        "x@test.example,名前,NOPE,member\n"
        "y@test.example,名前,A1,boss\n"
        "z@test.example,,,\n"
    ).encode()
    preview = upload(client, token, content)
    assert preview.status_code == 422
    assert "1行でもエラーがあると、どの行も取り込みません" in preview.text and 'name="payload"' not in preview.text
    for text in ("2 行目と重複しています", "メールアドレスの形になっていません", "所属コード「NOPE」は現在の組織にありません",
                 "役割「boss」は使えません", "表示名が空です", "所属コードが空です"):
        assert text in preview.text, text
    assert re.search(r"<dt>エラー</dt><dd>5行", preview.text)
    # A crafted apply of the same content is refused whole.
    import base64

    forced = client.post("/admin/users-import/apply", data={
        "csrf_token": token, "payload": base64.b64encode(content).decode()})
    assert forced.status_code == 422 and "取り込みませんでした" in forced.text
    assert user_by_upn(session, "ok@test.example") is None
    assert events(session, "users_imported") == []


def test_import_refuses_unreadable_or_empty_files_with_a_message(client, world):
    token = admin(client)
    binary = upload(client, token, b"\x89PNG\r\n\x1a\n\xff\xfe\xfa")
    assert binary.status_code == 422 and "文字コードを判別できません" in binary.text
    empty = upload(client, token, b"")
    assert empty.status_code == 422 and "ファイルが空です" in empty.text
    header_only = upload(client, token, "UPN,表示名,所属コード,役割\n".encode())
    assert header_only.status_code == 422 and "取り込む行がありません" in header_only.text
    broken = client.post("/admin/users-import/apply", data={"csrf_token": token, "payload": "%%%"})
    assert broken.status_code == 422 and "壊れています" in broken.text


def test_import_apply_checks_again_and_writes_nothing_if_the_directory_changed(client, session, world):
    token = admin(client)
    preview = upload(client, token, "late@test.example,遅い人,A2,member\nnew9@test.example,九,A1,member\n".encode())
    assert preview.status_code == 200
    from datetime import date

    world.a2.valid_to = date(2021, 4, 1)  # 組織改正: A2 closed meanwhile
    session.add(world.a2)
    session.commit()
    applied = client.post("/admin/users-import/apply", data={"csrf_token": token, "payload": payload_of(preview.text)})
    assert applied.status_code == 422 and "所属コード「A2」は現在の組織にありません" in applied.text
    assert user_by_upn(session, "new9@test.example") is None


# --- audit log -------------------------------------------------------------------------------------
def test_audit_log_newest_first_filtered_by_kind_and_paginated(client, session, world):
    from app.auth import service

    for n in range(60):
        service.audit(session, "sign_in_failed", label=f"try{n}@test.example", detail={"reason": "not_registered"})
    session.commit()
    admin(client)
    page = client.get("/admin/audit")
    assert page.status_code == 200
    assert page.text.index("サインイン</td>") < page.text.index("try59@test.example")  # admin's sign-in is newest
    failed = client.get("/admin/audit", params={"kind": "sign_in_failed"})
    assert "サインイン失敗 60件（1/2ページ）" in failed.text and "未登録" in failed.text
    assert failed.text.index("try59@") < failed.text.index("try10@")
    second = client.get("/admin/audit", params={"kind": "sign_in_failed", "page": 2})
    assert "try0@test.example" in second.text and "try59@" not in second.text
    fragment = client.get("/admin/audit", params={"kind": "sign_in"}, headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="audit">')  # the filter (with its errors) and the results
