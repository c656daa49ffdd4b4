"""The flat table for Power BI (``/api/v1/analysis/answers`` and ``.csv``): one row per answer per round,
checked against the sheet API; paged by an opaque cursor over a stable key; ``since=`` for incremental
refresh; read with a read-only API token; streamed in batches."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from app.auth import tokens
from app.excel import flat
from app.jpdate import now_utc, to_jst
from tests import factories
from tests.conftest import sign_in

K = ["office.daily.keep-electronic", "office.daily.no-personal-printing", "briefing.section.paperless",
     "briefing.bureau.paperless", "meeting.internal.no-paper-handouts", "meeting.external.advance-or-tablet"]


def desk_token(session, world) -> dict[str, str]:
    _, clear = tokens.create(session, world.desk, name="Power BI", days=30)
    session.commit()
    return {"Authorization": f"Bearer {clear}"}


def read_all(client, headers, url="/api/v1/analysis/answers", **params) -> tuple[list[dict], int]:
    """Follow next_cursor to the end; returns the rows and the number of pages."""
    rows, pages, cursor = [], 0, None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(url, params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["columns"] == list(flat.COLUMN_NAMES)
        rows += body["rows"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return rows, pages


def test_the_flat_table_matches_the_sheet_api_read_with_a_token(client, session, world):
    factories.fill(session, world.round.id, world.a1, world.member_a, {
        K[0]: ("◎", "共有フォルダ"), K[1]: ("○", ""), K[4]: ("該当なし", "会議なし"), K[5]: ("×", "=1+2")})
    factories.fill(session, world.round.id, world.b1, world.member_b, {K[0]: ("△", "B1")})
    headers = desk_token(session, world)
    rows, _ = read_all(client, headers)
    assert len(rows) == 3 * 6  # every 所属 × item of the one round
    assert len({r["answer_id"] for r in rows}) == len(rows)
    assert [r["answer_id"] for r in rows] == sorted(r["answer_id"] for r in rows)  # the stable key, in order

    sign_in(client, "desk@test.example")
    for code in ("A1", "A2", "B1"):
        sheet = client.get(f"/api/v1/rounds/{world.round.id}/sections/{code}/sheet").json()
        mine = {r["item_key"]: r for r in rows if r["section_code"] == code}
        assert set(mine) == {i["item_key"] for i in sheet["items"]}
        for item in sheet["items"]:
            row, answer = mine[item["item_key"]], item["answer"]
            assert (row["round_id"], row["round_title"], row["fiscal_year"]) == (
                world.round.id, sheet["round"]["title"], world.round.fiscal_year)
            assert (row["section_code"], row["section_name"]) == (sheet["section"]["code"], sheet["section"]["name"])
            assert (row["bureau_code"], row["bureau_name"]) == (sheet["bureau"]["code"], sheet["bureau"]["name"])
            assert (row["item_text"], row["category"], row["difficulty"]) == (
                item["text"], item["category"], item["difficulty"])
            assert row["status"] == answer["status"]
            assert row["memo_length"] == len(answer["memo"])
            expected = {"◎": 3, "○": 2, "△": 1, "×": 0}.get(answer["status"])
            assert row["points"] == expected
            if answer["updated_at"] is None:
                assert row["updated_at"] is None
            else:
                stored = datetime.fromisoformat(answer["updated_at"].replace("Z", "+00:00"))
                assert row["updated_at"] == to_jst(stored).isoformat(timespec="seconds")
                assert row["updated_at"].endswith("+09:00")


def test_pages_by_cursor_join_up_exactly_and_csv_holds_the_same_rows(client, session, world):
    headers = desk_token(session, world)
    whole, _ = read_all(client, headers, limit=1000)
    paged, pages = read_all(client, headers, limit=4)
    assert pages == 5 and paged == whole  # 18 rows: 4+4+4+4+2, nothing lost or repeated

    response = client.get("/api/v1/analysis/answers.csv", params={"limit": 7}, headers=headers)
    assert response.status_code == 200 and response.headers["content-type"] == "text/csv; charset=utf-8"
    cursor = response.headers["x-next-cursor"]
    assert 'rel="next"' in response.headers["link"] and f"cursor={cursor}" in response.headers["link"]
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert table[0] == list(flat.COLUMN_NAMES) and len(table) == 1 + 7
    assert [int(r[0]) for r in table[1:]] == [r["answer_id"] for r in whole[:7]]
    rest = client.get("/api/v1/analysis/answers.csv", params={"limit": 100, "cursor": cursor}, headers=headers)
    assert "x-next-cursor" not in rest.headers
    table2 = list(csv.reader(io.StringIO(rest.content.decode("utf-8-sig"), newline="")))
    assert [int(r[0]) for r in table2[1:]] == [r["answer_id"] for r in whole[7:]]
    by_id = {r["answer_id"]: r for r in whole}
    for line in table[1:] + table2[1:]:
        row = by_id[int(line[0])]
        assert line[flat.COLUMN_NAMES.index("section_name")] == row["section_name"]
        assert line[flat.COLUMN_NAMES.index("status")] == (row["status"] or "")


def test_since_returns_only_answers_changed_from_then(client, session, world):
    headers = desk_token(session, world)
    before = now_utc() - timedelta(seconds=1)
    factories.fill(session, world.round.id, world.a2, world.member_a2, {K[2]: ("○", "新しい")})
    rows, _ = read_all(client, headers, since=before.isoformat())
    assert [(r["section_code"], r["item_key"], r["status"]) for r in rows] == [("A2", K[2], "○")]
    future = (now_utc() + timedelta(days=1)).isoformat()
    assert read_all(client, headers, since=future)[0] == []
    # only one round, and the round filter
    assert len(read_all(client, headers, round=world.round.id)[0]) == 18
    assert read_all(client, headers, round=world.round.id + 1000)[0] == []


def test_rows_stream_in_batches_across_the_page(client, session, world, monkeypatch):
    """A page larger than a batch is read batch by batch (keyset on the answer id, one short query per
    batch; nothing holds the whole page), and the result is the same as in one batch."""
    from sqlalchemy import event

    headers = desk_token(session, world)
    whole, _ = read_all(client, headers)
    statements = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if "length(answer.memo)" in statement:
            statements.append(statement)

    engine = client.app.state.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        monkeypatch.setattr(flat, "BATCH", 5)
        again, _ = read_all(client, headers)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert again == whole
    assert len(statements) == 4  # 18 rows in batches of 5: 5, 5, 5, 3
    assert all("LIMIT" in s and "answer.id >" in s for s in statements)


def test_bad_cursor_and_who_may_read(client, new_client, session, world):
    headers = desk_token(session, world)
    bad = client.get("/api/v1/analysis/answers", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=headers)
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]
    assert client.get("/api/v1/analysis/answers", params={"limit": 0}, headers=headers).status_code == 422
    leader = new_client()
    sign_in(leader, "leader.a1@test.example")
    refused = leader.get("/api/v1/analysis/answers.csv")
    assert refused.status_code == 403 and "業務DX相談窓口・管理者だけ" in refused.json()["detail"]
    assert new_client().get("/api/v1/analysis/answers").status_code == 401


def test_text_excel_would_take_for_a_formula_is_quoted_in_the_csv_only(client, session, world):
    round_ = factories.make_round(session, world.version_id, title="=1+1 回", fiscal_year=2027)
    session.commit()
    headers = desk_token(session, world)
    rows, _ = read_all(client, headers, round=round_.id)
    assert rows and {r["round_title"] for r in rows} == {"=1+1 回"}  # JSON: the value itself
    response = client.get("/api/v1/analysis/answers.csv", params={"round": round_.id}, headers=headers)
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert {line[flat.COLUMN_NAMES.index("round_title")] for line in table[1:]} == {"'=1+1 回"}
