"""The desk's JSON and pages: shapes, access rules (same as the pages), htmx fragments."""

from __future__ import annotations

import re

import pytest

from tests import factories
from tests.conftest import sign_in
from tests.factories import V1_KEYS, field

K1, K2, K3, K4, K5, K6 = V1_KEYS
FIGURES = ("submissions", "submissions/mail-list", "heatmap", "weak-items", "quick-wins", "distribution")


@pytest.fixture
def dw(session):
    return factories.build_desk_world(session)


def api(dw, name, query=""):
    """The JSON of a figure over every sheet (``scope=all``: the default while a round is open is submitted only)."""
    return f"/api/v1/rounds/{dw.round.id}/{name}{query}{'&' if query else '?'}scope=all"


@pytest.mark.parametrize("upn", ["desk@test.example", "admin@test.example"])
def test_desk_and_admin_fetch_every_figure(client, dw, upn):
    sign_in(client, upn)
    for name in FIGURES:
        response = client.get(api(dw, name))
        assert response.status_code == 200, (name, response.text)


def test_submissions_json(client, dw):
    sign_in(client, "desk@test.example")
    body = client.get(api(dw, "submissions")).json()
    assert body["round"] == {"id": dw.round.id, "title": "令和8年度 第1回"}
    assert body["page"] == {"page": 1, "per_page": 100, "pages": 1, "total": 5} and "mail_list" not in body
    assert body["overall"] == {"sections": 7, "not_started": 2, "in_progress": 3, "submitted": 2,
                               "submitted_share": 28.6}
    assert [(b["bureau"]["code"], b["sections"]) for b in body["bureaus"]] == [("P", 5), ("Q", 2), ("E", 0)]
    assert [p["section"]["code"] for p in body["pending"]] == ["P2", "P3", "P4", "Q1", "Q2"]
    assert body["pending"][0]["leaders"] == [{"name": "リーダー P2", "upn": "leader.p2@test.example"}]
    # Each row has its own 所属's active leaders (not P4's retired one; Q2 has none), on every page.
    assert [[x["upn"] for x in p["leaders"]] for p in body["pending"]] == [
        ["leader.p2@test.example"], ["leader.p3@test.example", "leader2.p3@test.example"],
        ["leader.p4@test.example"], ["leader.q1@test.example"], []]
    second = client.get(api(dw, "submissions", "?per_page=2&page=2")).json()
    assert [(p["section"]["code"], [x["upn"] for x in p["leaders"]]) for p in second["pending"]] == [
        ("P4", ["leader.p4@test.example"]), ("Q1", ["leader.q1@test.example"])]
    assert body["pending"][0]["progress"] == "in_progress" and body["pending"][0]["completion"] == 100.0
    only = client.get(api(dw, "submissions", "?bureau=Q&progress=not_started")).json()
    assert [p["section"]["code"] for p in only["pending"]] == ["Q2"]
    paged = client.get(api(dw, "submissions", "?per_page=2&page=3")).json()
    assert [p["section"]["code"] for p in paged["pending"]] == ["Q2"]
    assert paged["page"] == {"page": 3, "per_page": 2, "pages": 3, "total": 5}
    assert client.get(api(dw, "submissions", "?per_page=1001")).status_code == 422


def test_submissions_mail_list_has_every_pending_leader_with_the_boards_filters(client, dw):
    """The leaders of every 所属 not yet submitted, over all pages: P2, P3 (two leaders), P4 (not its retired
    leader), Q1; Q2 has none."""
    sign_in(client, "desk@test.example")
    body = client.get(api(dw, "submissions/mail-list")).json()
    assert body["round"] == {"id": dw.round.id, "title": "令和8年度 第1回"}
    assert body["mail_list"].split("; ") == ["leader.p2@test.example", "leader.p3@test.example",
                                             "leader2.p3@test.example", "leader.p4@test.example",
                                             "leader.q1@test.example"]
    assert (body["recipients"], body["without_leader"]) == (5, 1)
    assert client.get(api(dw, "submissions/mail-list", "?bureau=Q&progress=not_started")).json() == {
        "round": body["round"], "recipients": 0, "without_leader": 1, "mail_list": ""}
    started = client.get(api(dw, "submissions/mail-list", "?progress=in_progress")).json()  # P2, P3, Q1
    assert (started["recipients"], started["without_leader"]) == (4, 0)
    assert client.get(api(dw, "submissions/mail-list", "?progress=submitted")).status_code == 422
    assert client.get(api(dw, "submissions/mail-list", "?bureau=ZZ")).status_code == 404


def test_heatmap_json(client, dw):
    sign_in(client, "desk@test.example")
    body = client.get(api(dw, "heatmap", "?sort=all_asc&per_page=2&page=1")).json()
    assert [i["item_key"] for i in body["items"]] == list(V1_KEYS)
    assert body["round"]["id"] == dw.round.id
    assert [(r["section"]["code"], r["maturity"]) for r in body["rows"]] == [("Q1", 0.0), ("P3", 33.3)]
    assert body["page"] == {"page": 1, "per_page": 2, "pages": 4, "total": 7}
    p = client.get(api(dw, "heatmap", "?bureau=P&per_page=2&page=1")).json()["rows"]
    assert p[1]["statuses"] == ["×", "△", "○", "◎", "該当なし", "×"] and p[1]["progress"] == "in_progress"
    assert client.get(api(dw, "heatmap", "?sort=nonsense")).status_code == 422
    assert client.get(api(dw, "heatmap", "?bureau=ZZ")).status_code == 404
    assert client.get("/api/v1/rounds/999/heatmap").status_code == 404


def test_weak_items_json(client, dw):
    sign_in(client, "desk@test.example")
    body = client.get(api(dw, "weak-items")).json()
    assert body["bureau"] is None and body["sections"] == 7
    first = body["items"][0]
    assert (first["rank"], first["item"]["item_key"], first["maturity"]) == (1, K6, 33.3)
    assert first["counts"] == {"excellent": 1, "good": 0, "fair": 0, "not_done": 2, "not_applicable": 1,
                               "unanswered": 3}
    assert first["shares"]["not_done"] == 28.6 and first["shares"]["unanswered"] == 42.9
    p = client.get(api(dw, "weak-items", "?bureau=P")).json()
    assert p["bureau"] == {"code": "P", "name": "P部"} and p["sections"] == 5
    k1 = next(i for i in p["items"] if i["item"]["item_key"] == K1)
    assert (k1["maturity"], k1["prefecture_maturity"]) == (50.0, 40.0)


def test_quick_wins_json(client, dw):
    sign_in(client, "desk@test.example")
    body = client.get(api(dw, "quick-wins", "?per_page=5")).json()
    assert body["own_sections_only"] is False and body["page"]["total"] == 8
    assert [(q["rank"], q["section"]["code"], q["item"]["item_key"], q["priority"]) for q in body["quick_wins"]][:2] == [
        (1, "Q1", K1, 9), (2, "Q1", K3, 9)]
    [k6] = body["counterpart_items"]
    assert (k6["not_done"], k6["scored"], k6["share"]) == (2, 3, 66.7)
    assert k6["bureaus"][0] == {"bureau": {"code": "P", "name": "P部"}, "count": 1,
                                "names": [{"code": "P2", "name": "P部 2課"}]}
    assert (k6["bureaus_not_listed"], k6["sections_not_listed"]) == (0, 0)
    assert client.get(api(dw, "quick-wins")).json()["page"]["per_page"] == 50


def test_distribution_json(client, dw):
    sign_in(client, "desk@test.example")
    body = client.get(api(dw, "distribution")).json()
    assert [b["sections"] for b in body["bins"]] == [1, 0, 0, 1, 2, 0, 0, 0, 0, 1]
    assert body["bins"][-1] == {"lower": 90, "upper": 100, "sections": 1}
    assert body["prefecture"]["mean"] == 44.0 and body["prefecture"]["median"] == 40.0
    e = body["bureaus"][2]
    assert e["bureau"]["code"] == "E" and (e["sections"], e["mean"], e["minimum"]) == (0, None, None)


def test_a_member_cannot_fetch_the_heatmap_or_other_sections_figures(client, dw):
    sign_in(client, "member.p2@test.example")
    for name in ("submissions", "submissions/mail-list", "heatmap", "distribution"):
        response = client.get(api(dw, name))
        assert response.status_code == 403, name
        assert "業務DX相談窓口" in response.json()["detail"]
    # The prefecture: five 所属 answered K1 (shown), four K2 (withheld); 部局 P (four of five answered
    # any item) and Q (two 所属): refused.
    items = {i["item"]["item_key"]: i for i in client.get(api(dw, "weak-items")).json()["items"]}
    assert items[K1]["suppressed"] is False and items[K1]["counts"]["unanswered"] == 2
    assert items[K2]["suppressed"] is True and items[K2]["counts"] is None
    for bureau in ("P", "Q"):
        small = client.get(api(dw, "weak-items", f"?bureau={bureau}"))
        assert small.status_code == 403 and "回答した所属が5未満" in small.json()["detail"]
    mine = client.get(api(dw, "quick-wins")).json()
    assert mine["own_sections_only"] is True
    assert {q["section"]["code"] for q in mine["quick_wins"]} == {"P2"}
    assert {s["code"] for c in mine["counterpart_items"] for b in c["bureaus"] for s in b["names"]} == {"P2"}
    assert client.get(api(dw, "quick-wins", "?bureau=P")).status_code == 403


def test_a_member_cannot_open_the_desk_pages(client, dw):
    sign_in(client, "member.p2@test.example")
    for path in ("/desk", "/desk/board", "/desk/heatmap", "/desk/weak-items", "/desk/quick-wins",
                 "/desk/distribution"):
        response = client.get(f"{path}?round={dw.round.id}")
        assert response.status_code == 403, path
        assert "業務DX相談窓口" in response.text


def test_anonymous_gets_401_from_the_api_and_the_sign_in_page_for_pages(client, dw):
    for name in FIGURES:
        assert client.get(api(dw, name)).status_code == 401
    page = client.get("/desk/heatmap")
    assert page.status_code == 303 and page.headers["location"].startswith("/auth/login?next=/desk/heatmap")


def test_the_desk_lands_on_the_board_of_the_current_round(client, dw):
    sign_in(client, "desk@test.example")
    home = client.get("/")
    assert home.status_code == 303 and home.headers["location"] == f"/desk/board?round={dw.empty_round.id}"
    assert client.get("/desk").headers["location"] == "/desk/board"
    board = client.get(f"/desk/board?round={dw.round.id}")
    assert board.status_code == 200
    # the mail list is loaded when its section is opened (htmx), or followed as a link without JavaScript
    mail_url = f"/desk/board/mail-list?round={dw.round.id}&amp;bureau=&amp;progress="
    assert f'hx-get="{mail_url}"' in board.text and f'href="{mail_url}"' in board.text
    assert "leader.p2@test.example; " not in board.text  # the page shows each row's leader, not the list
    mail = client.get(f"/desk/board/mail-list?round={dw.round.id}")
    assert mail.status_code == 200 and 'id="mail-list"' in mail.text and "<h1>" in mail.text
    assert "leader.p2@test.example; leader.p3@test.example" in mail.text
    fragment = client.get(f"/desk/board/mail-list?round={dw.round.id}&progress=not_started",
                          headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<h1>" not in fragment.text
    assert ">leader.p4@test.example</textarea>" in fragment.text
    assert "窓口の集計" in board.text  # the menu entry


def test_desk_pages_render_and_answer_htmx_with_the_results_block(client, dw):
    sign_in(client, "desk@test.example")
    for path in ("/desk/board", "/desk/heatmap", "/desk/weak-items", "/desk/quick-wins", "/desk/distribution"):
        for round_id in (dw.round.id, dw.empty_round.id):
            page = client.get(f"{path}?round={round_id}")
            assert page.status_code == 200, (path, page.text[:500])
            assert page.text.startswith("<!doctype html>")
    fragment = client.get(f"/desk/heatmap?round={dw.round.id}&bureau=Q&sort=asc&scope=all", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and fragment.text.lstrip().startswith('<div id="results"')
    assert "Q部 1課" in fragment.text and "P部 1課" not in fragment.text
    assert "HX-Request" in fragment.headers["Vary"]


def test_heatmap_rows_link_to_the_read_only_sheet(client, dw):
    sign_in(client, "desk@test.example")
    page = client.get(f"/desk/heatmap?round={dw.round.id}&bureau=P&scope=all").text
    assert f'href="/rounds/{dw.round.id}/sections/P2"' in page
    assert '<td class=n>×</td>' in page and '<td class=a>該</td>' in page and '<td class=u>未</td>' in page
    sheet = client.get(f"/rounds/{dw.round.id}/sections/P2")
    assert sheet.status_code == 200 and "変更はできません" in sheet.text


def test_heatmap_rows_sorted_across_the_prefecture_name_their_bureau(client, dw):
    sign_in(client, "desk@test.example")
    rows = client.get(f"/desk/heatmap?round={dw.round.id}&sort=all_asc&scope=all").text
    assert (f'<th scope="row" class="hm-name"><a href="/rounds/{dw.round.id}/sections/Q1">Q部 1課</a>'
            '<span class="hm-bureau">Q部</span></th>\n        <td class="hm-score">0.0</td>\n'
            '        ' + '<td class=n>×</td>' * 6 + '\n      </tr>') in rows
    grouped = client.get(f"/desk/heatmap?round={dw.round.id}&scope=all").text
    assert "hm-bureau" not in grouped and '<td class="hm-score">—</td>' in grouped  # P4: no maturity


def test_the_desk_cannot_change_a_sheet(client, dw):
    token = sign_in(client, "desk@test.example")
    url = f"/rounds/{dw.round.id}/sections/P3"
    row = client.post(f"{url}/items/{K2}", data={field("status", K2): "◎", field("version", K2): "0", "csrf_token": token})
    assert row.status_code == 403
    form = client.post(url, data={field("status", K2): "◎", field("version", K2): "0", "csrf_token": token})
    assert form.status_code == 403
    put = client.put(f"/api/v1/rounds/{dw.round.id}/sections/P3/answers/{K2}", json={"status": "◎", "version": 0},
                     headers={"X-CSRF-Token": token})
    assert put.status_code == 403 and "変更はできません" in put.json()["detail"]
    assert client.post(f"{url}/submit", data={"csrf_token": token}).status_code == 403
    sheet = client.get(f"/api/v1/rounds/{dw.round.id}/sections/P3/sheet").json()
    assert sheet["items"][1]["answer"]["status"] is None


def test_openapi_documents_the_response_shapes(client):
    schema = client.get("/api/v1/openapi.json").json()
    for name in FIGURES:
        path = schema["paths"][f"/api/v1/rounds/{{round_id}}/{name}"]["get"]
        assert path["responses"]["200"]["description"]
        ref = path["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.startswith("#/components/schemas/")
    assert "StatusCountsOut" in schema["components"]["schemas"]


def _rows(page: str, table_class: str) -> list[list[str]]:
    """The cells' texts of each body and foot row of the table with ``table_class`` (tags stripped)."""
    table = page[page.index(table_class):]
    table = table[:table.index("</table>")]
    body = table[table.index("<tbody>"):]
    return [[re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def test_the_distribution_pages_table_shows_the_jsons_figures(client, dw):
    sign_in(client, "desk@test.example")
    body = client.get(api(dw, "distribution")).json()
    rows = _rows(client.get(f"/desk/distribution?round={dw.round.id}&scope=all").text, "rollup-table")

    def shown(v):
        return "—" if v is None else f"{v:.1f}"

    expected = []
    for r in (*body["bureaus"], body["prefecture"]):
        name = r["bureau"]["name"] + " 回答5所属未満" if r["bureau"] and r["scored"] < 5 else "全庁"
        expected.append([name, str(r["sections"]), str(r["scored"]),
                         *(shown(r[k]) for k in ("mean", "median", "minimum", "q1", "q3", "maximum")),
                         f"{r['completion']:.1f}%" if r["sections"] else "—",
                         *(str(r[k]) for k in ("not_started", "in_progress", "submitted"))])
    assert rows == expected
    assert expected[0][:5] == ["P部 回答5所属未満", "5", "4", "55.0", "43.4"]  # worked by hand
    assert expected[2][3:] == ["—"] * 7 + ["0"] * 3  # 部局 E: no 所属
    assert expected[3][:3] == ["全庁", "7", "5"]


def test_the_weak_items_pages_table_shows_the_jsons_counts_and_shares(client, dw):
    sign_in(client, "desk@test.example")
    body = client.get(api(dw, "weak-items")).json()
    rows = _rows(client.get(f"/desk/weak-items?round={dw.round.id}&scope=all").text, "weak-table")
    columns = ("excellent", "good", "fair", "not_done", "not_applicable", "unanswered")
    assert [row[4:10] for row in rows] == [[f"{w['counts'][c]}{w['shares'][c]:.1f}%" for c in columns]
                                           for w in body["items"]]
    assert rows[0][4:10] == ["114.3%", "00.0%", "00.0%", "228.6%", "114.3%", "342.9%"]  # K6, by hand
