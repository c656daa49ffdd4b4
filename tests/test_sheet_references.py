"""The sheet's 参考リンク (issue 11, point 6): real links, each in its item's row; a row without any shows an
empty cell (never a column of 「—」); the progress line states the answers and the maturity."""

from __future__ import annotations

import html as htmllib
import re

from sqlmodel import select

from app import demo
from app.checklists import service as checklists
from app.checklists.loader import load_checklist
from app.config import PROJECT_ROOT
from app.rounds.models import Round
from app.web.templating import iri
from tests.conftest import sign_in

CHECKLISTS = PROJECT_ROOT / "checklists" / "paperless"


def rows_of(page: str) -> dict[int, str]:
    """Each row's cells (a row's end tag is left out: it ends where the next row or the table body does)."""
    return {int(n): body for n, body in re.findall(r"<tr id=r(\d+) class=\"?item-row[^>]*>(.*?)(?=<tr |</tbody>)",
                                                   page, re.S)}


def test_every_item_of_the_current_checklist_shows_its_reference_links_in_its_row(client, session):
    demo.load(session, load_checklist(CHECKLISTS / "v1.yaml"), demo.DemoPlan(sections=2, rounds=2, seed=3),
              newest=load_checklist(CHECKLISTS / "v3.yaml"))
    session.commit()
    newest = session.exec(select(Round).order_by(Round.opens_on.desc())).first()
    definition = checklists.get_definition(session, newest.checklist_version_id)
    session.commit()  # the test's session lets go of SQLite's write lock before the app reads
    sign_in(client, "member.1001@demo.example")
    page = client.get(f"/rounds/{newest.id}/sections/1001").text
    rows = rows_of(page)
    assert len(rows) == len(definition.items) == 36
    for item in definition.items:
        row = rows[item.position]
        assert item.links, item.key  # the current checklist has references for every item
        assert f"リンク<span class=item-refs__n>（{len(item.links)}）</span>" in row, item.key
        for link in item.links:
            if link.get("url"):
                assert f'<a href="{htmllib.escape(iri(link["url"]))}" target=_blank>' in row, (item.key,
                                                                                                  link["url"])
            assert htmllib.escape(link["label"], quote=False) in row, (item.key, link["label"])
    assert "—" not in "".join(rows.values())


def test_a_row_without_references_shows_nothing_in_that_column(client, world):
    sign_in(client, "desk@test.example")  # a reader: no 根拠資料 box where there is no evidence (its staff get one)
    page = client.get(f"/rounds/{world.round.id}/sections/A1").text
    rows = rows_of(page)
    without = [n for n, row in rows.items() if "item-refs" not in row]
    assert without  # version 1 has items without links
    for n in without:
        assert rows[n].rstrip().endswith("<td>"), rows[n][-200:]
        assert "—" not in rows[n]


def test_the_progress_line_counts_answers_and_states_the_maturity(client, world):
    token = sign_in(client, "member.a1@test.example")
    url = f"/rounds/{world.round.id}/sections/A1"
    line = re.search(r'<p id="progress-line"[^>]*>(.*?)</p>', client.get(url).text, re.S)
    assert line and 'aria-live="polite"' in line.group(0)
    assert re.sub(r"<[^>]+>|\s", "", line.group(1)) == "回答0/6・成熟度—（未回答6）"
    saved = client.post(f"{url}/items/office.daily.keep-electronic", data={"s1": "◎", "m1": "", "v1": "0"},
                        headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert saved.status_code == 200
    oob = re.search(r'<p id="progress-line"[^>]*hx-swap-oob="innerHTML"[^>]*>(.*?)</p>', saved.text, re.S)
    assert oob, saved.text
    assert re.sub(r"<[^>]+>|\s", "", oob.group(1)) == "回答1/6・成熟度100.0点（未回答5）"


def test_links_keep_their_non_ascii_characters_as_they_are_for_the_same_address():
    """The page writes 「会議」 rather than %E4%BC%9A%E8%AD%B0 (a third of the bytes); a browser encodes it again as
    UTF-8 when it follows the link, so every reference of every checklist version leads where it did."""
    from urllib.parse import quote

    import yaml

    def urls_in(node) -> set[str]:
        if isinstance(node, dict):
            return {node["url"]} if isinstance(node.get("url"), str) else set().union(*map(urls_in, node.values()))
        return set().union(*map(urls_in, node)) if isinstance(node, list) else set()

    urls = set().union(*(urls_in(yaml.safe_load(path.read_text(encoding="utf-8"))) for path in CHECKLISTS.glob("v*.yaml")))
    shortened = [url for url in urls if iri(url) != url]
    assert shortened  # the Microsoft support pages have Japanese in their paths
    for url in urls:
        written = iri(url)
        assert written.isascii() == (url == written)
        # what a browser sends: non-ASCII characters percent-encoded as UTF-8, everything else as written
        assert quote(written, safe="".join(chr(c) for c in range(33, 127))) == url, url
    # escaped ASCII, spaces, hosts and broken UTF-8 stay as they were written
    for kept in ("https://example.jp/a%2Fb%20c", "https://example.jp/%E3%80%80", "https://example.jp/%E4%BC",
                 "https://%E4%BC%9A.example/x", "/relative/%E4%BC%9A"):
        assert iri(kept) == kept
    assert iri("https://example.jp/%E4%BC%9A%E8%AD%B0?q=%E4%BC%9A#%E8%AD%B0") == "https://example.jp/会議?q=会#議"
