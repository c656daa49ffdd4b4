"""What one request of the sheet page and of the sheet JSON costs, in deterministic measures (issue 9's targets;
time is measured in bench/, never here): the SQL statements each sends — a fixed number, whatever the number
of items, answers, rounds or 所属 (a query per row would show here) — and the page's size before compression.

On the demo data of ``paperless demo`` (60 所属, two rounds, the newest on the current checklist: 36 items),
signed in as the DX推進リーダー of 所属 1001: the previous round's answers, the round switcher, the 取組事例
hints and the desk's review are all on the page.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlmodel import select

from app import demo
from app.checklists.loader import load_checklist
from app.rounds.models import Round
from tests.conftest import sign_in

CHECKLISTS = Path(__file__).resolve().parent.parent / "checklists" / "paperless"
CODE = "1001"
LEADER = "leader.1001@demo.example"

# The statements of one request (BEGIN not counted: SQLite's is ours, PostgreSQL's is implicit):
# the person (1); the round, sheet, 所属 and 部局 (1); the answers (1); the per-category counts (1);
# the lineage, read once (1); the previous round's sheet (1) and its answers offered (1); then on the page
# the desk's review (1), the 取組事例 hints (1, when some item is at △ or ×), the 根拠資料 (1), the successors (1) and
# rounds of the round switcher (1) and the leaders (1) — and which hints offer 「この所属に聞いてみる」 (1, only when
# some item has hints: not on the demo's page); in the JSON the 根拠資料 (1, for those who may read it) and the names of
# who saved the answers and added the evidence (1).
PAGE_STATEMENTS = 13
JSON_STATEMENTS = 9


@pytest.fixture
def demo_sheet(session, client) -> tuple[str, str]:
    files = demo.version_files(CHECKLISTS)
    demo.load(session, load_checklist(files[0]), demo.DemoPlan(), newest=load_checklist(files[-1]),
              between=[load_checklist(f) for f in files[1:-1]])
    session.commit()
    newest = session.exec(select(Round).order_by(Round.opens_on.desc())).first()
    session.commit()  # the test's session lets go of SQLite's write lock before the app reads
    sign_in(client, LEADER)
    return f"/rounds/{newest.id}/sections/{CODE}", f"/api/v1/rounds/{newest.id}/sections/{CODE}/sheet"


@contextmanager
def statements(engine):
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_):
        if not statement.lstrip().upper().startswith("BEGIN"):
            seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_the_sheet_page_sends_a_fixed_number_of_statements(client, engine, demo_sheet):
    page, _ = demo_sheet
    client.get(page)  # the published checklist version is read once per process
    with statements(engine) as seen:
        response = client.get(page)
    assert response.status_code == 200
    assert "前回の回答" in response.text and "調査回の切り替え" in response.text  # the parts that read more
    assert len(seen) == PAGE_STATEMENTS, "\n".join(seen)
    # the lineage (unit_link) is walked once per request, whoever needs it
    assert sum("FROM unit_link WHERE unit_link.successor_id" in s for s in seen) == 1, "\n".join(seen)


def test_the_sheet_json_sends_a_fixed_number_of_statements(client, engine, demo_sheet):
    _, api = demo_sheet
    client.get(api)
    with statements(engine) as seen:
        response = client.get(api)
    assert response.status_code == 200 and response.json()["previous_round"] is not None
    assert len(seen) == JSON_STATEMENTS, "\n".join(seen)


def test_statements_do_not_grow_with_the_answers(client, engine, demo_sheet):
    """An unanswered sheet and a sheet with every item answered × (36 rows' hints) cost the same, but for the hints'
    statement, not sent when no item asks for hints (the one of which hints offer 「この所属に聞いてみる」 is sent
    only when some row has another 所属's 取組事例: none in the demo)."""
    page, api = demo_sheet
    sheet = client.get(api).json()
    counts = []
    for status in (None, "×"):  # × shows the hints with other 所属's shared practices
        for item in client.get(api).json()["items"]:
            response = client.put(f"{api.removesuffix('/sheet')}/answers/{item['item_key']}",
                                  json={"status": status, "version": item["answer"]["version"]},
                                  headers={"X-CSRF-Token": client.get("/api/v1/me").json()["csrf_token"]})
            assert response.status_code == 200, response.text
        with statements(engine) as seen:
            assert client.get(page).status_code == 200
        counts.append(len(seen))
    assert len(sheet["items"]) == 36
    assert counts == [PAGE_STATEMENTS - 1, PAGE_STATEMENTS]



# Issue 9's target is 60 KB; the demo sheet page is 80.2 KiB (82,095 bytes; 82,714 before the previous round's offers
# in the rows were shortened and the 前回どおりで確認 step's list came to load when opened; 89,613 before the share
# tick went to the rows at ◎ only): the rest is what a row must say (branch sheetpage's report: at prefecture scale the sheet has no
# 参考リンク and its 40 rows' status radios alone are 21 KB). This ceiling keeps what was won: a page that grows back
# by a share tick in every row (about 6 KB) or a few hundred bytes of markup fails here.
PAGE_MAX_BYTES = 82_432  # 80.5 KiB


def test_the_sheet_page_stays_under_its_size_before_compression(client, demo_sheet):
    page, _ = demo_sheet
    response = client.get(page, headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200 and "content-encoding" not in response.headers
    assert len(re.findall(r"<tr id=r\d+", response.text)) == 36
    assert len(response.content) <= PAGE_MAX_BYTES, len(response.content)


def test_the_share_tick_is_sent_with_the_rows_at_excellent_only(client, demo_sheet):
    """「取組事例として共有する」 matters at ◎ (CSS hides it elsewhere): the page sends it with the rows at ◎ and the rows
    already shared, and once as a <template> that static/js/app.js copies into a row whose status becomes ◎."""
    page, api = demo_sheet
    html = client.get(page).text
    items = client.get(api).json()["items"]
    rows = dict(re.findall(r"<tr id=r(\d+)(.*?)(?=<tr id=r|</tbody>)", html, re.S))
    assert len(rows) == len(items) == 36
    for item in items:
        row = rows[str(item["position"])]
        ticked = re.search(r"name=x\d+ value=1 [^>]*checked", row) is not None  # shared: test_practice.py
        wanted = item["answer"]["status"] == "◎" or ticked
        assert (f'aria-labelledby="xs t{item["position"]}">取組事例として共有する</label>' in row) == wanted, item
    assert any(i["answer"]["status"] == "◎" for i in items) and any(i["answer"]["status"] != "◎" for i in items)
    assert html.count("<template id=share-tick>") == 1 and html.count("<span id=xs hidden>取組事例として共有する</span>") == 1


def test_the_sheet_json_is_serialised_by_its_model(client, demo_sheet):
    """The route sends SheetOut.model_dump_json() itself (FastAPI would validate the model again and encode it in
    Python): what it sends is what the OpenAPI schema says, with the same header as before."""
    from app.sheets.api import SheetOut

    _, api = demo_sheet
    response = client.get(api)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    sheet = SheetOut.model_validate_json(response.content)
    assert response.content == sheet.model_dump_json().encode()
    assert response.json() == sheet.model_dump(mode="json") and len(sheet.items) == 36

