"""The desk's 「ダウンロード」 tab: every round with sheets (newest first) with its round-wide files, and the
chosen round's 部局 and searchable 所属, each as CSV and XLSX; only for people who may export everything."""

from __future__ import annotations

import re
from datetime import date

from tests import factories as f
from tests.conftest import sign_in


def _links(html: str) -> list[str]:
    return [link.replace("&amp;", "&") for link in re.findall(r'href="(/api/v1/rounds/[^"]+)" download', html)]


def test_the_desk_tab_bar_leads_to_the_downloads(client, world):
    sign_in(client, "desk@test.example")
    board = client.get(f"/desk/board?round={world.round.id}").text
    assert f'<a href="/desk/downloads?round={world.round.id}">ダウンロード</a>' in board


def test_rounds_newest_first_then_the_chosen_rounds_bureaus_and_sections(client, session, world):
    past = f.make_round(session, world.version_id, title="令和7年度 第1回", fiscal_year=2025, opens_on=date(2025, 10, 1))
    f.make_round(session, world.version_id, title="令和9年度 準備", fiscal_year=2027, opens_on=date(2027, 10, 1),
                 open_it=False)  # no sheets yet: nothing to download
    session.commit()
    sign_in(client, "desk@test.example")
    html = client.get(f"/desk/downloads?round={world.round.id}").text
    rounds_part, rest = html.split('id="dl-rounds-title"')[1].split('id="dl-bureaus-title"')
    assert "令和9年度 準備" not in rounds_part
    assert rounds_part.index(world.round.title) < rounds_part.index("令和7年度 第1回")
    sjis = "encoding=shift_jis"
    assert _links(rounds_part) == [f"/api/v1/rounds/{world.round.id}/export.xlsx",
                                   f"/api/v1/rounds/{world.round.id}/export.csv",
                                   f"/api/v1/rounds/{world.round.id}/export.csv?{sjis}",
                                   f"/api/v1/rounds/{past.id}/export.xlsx", f"/api/v1/rounds/{past.id}/export.csv",
                                   f"/api/v1/rounds/{past.id}/export.csv?{sjis}"]
    bureaus_part, sections_part = rest.split('id="dl-sections-title"')
    r = world.round.id
    assert _links(bureaus_part) == [
        f"/api/v1/rounds/{r}/export.xlsx?bureau=A", f"/api/v1/rounds/{r}/export.csv?bureau=A",
        f"/api/v1/rounds/{r}/export.csv?bureau=A&{sjis}",
        f"/api/v1/rounds/{r}/export.xlsx?bureau=B", f"/api/v1/rounds/{r}/export.csv?bureau=B",
        f"/api/v1/rounds/{r}/export.csv?bureau=B&{sjis}"]
    assert [link.split("section=", 1)[1].split("&")[0] for link in _links(sections_part)] == [
        "A1", "A1", "A1", "A2", "A2", "A2", "B1", "B1", "B1"]
    assert "CSV はどちらを選ぶか" in html and "X-Replaced-Characters" in html and "〓" in html
    # every link is a real download for the desk
    for link in _links(rounds_part + rest):
        response = client.get(link)
        assert response.status_code == 200, link
    # choosing the other round lists its 部局 and 所属
    other = client.get(f"/desk/downloads?round={past.id}").text
    assert f"/api/v1/rounds/{past.id}/export.csv?section=B1" in other


def test_the_sections_are_searched_by_name_or_code_and_narrowed_by_bureau(client, world):
    sign_in(client, "desk@test.example")
    base = f"/desk/downloads?round={world.round.id}"

    def sections(query):
        html = client.get(f"{base}&{query}", headers={"HX-Request": "true"}).text
        assert html.lstrip().startswith('<div id="results"')  # htmx: the list alone
        return [link.rsplit("=", 1)[1] for link in _links(html) if "export.csv" in link and "encoding" not in link]

    assert sections("q=二課") == ["A2"]
    assert sections("q=B") == ["B1"]
    assert sections("bureau=A") == ["A1", "A2"]
    assert sections("q=%25") == []  # a LIKE wildcard is a character like any other
    assert client.get(f"{base}&q={'x' * 51}").status_code == 422


def test_only_people_who_may_export_everything_open_the_page(client, new_client, world):
    for upn in ("member.a1@test.example", "leader.a1@test.example"):
        c = new_client()
        sign_in(c, upn)
        assert c.get("/desk/downloads").status_code == 403, upn
    sign_in(client, "admin@test.example")
    assert client.get("/desk/downloads").status_code == 200
