"""The month's entry form of a 所属's figures: no-JavaScript post-redirect-get, htmx fragment, messages at the
fields, 409 on a stale form, refusals for other people, months read as written."""

from __future__ import annotations

import threading

from sqlmodel import select

from app.kpis.models import KpiEvent, KpiValue
from tests.conftest import sign_in

URL = "/sections/A1/figures/entry"
LEADER = "leader.a1@test.example"


def form(token: str, month: str = "2026-05", **values: str) -> dict:
    body = {"csrf_token": token, "month": month}
    for key, value in values.items():
        name = key.replace("__", "-").replace("_", ".")  # approvals_paper__required: approvals.paper-required
        body[f"value:{name}"] = value
        body[f"version:{name}"] = "0"
    return body


def test_the_leader_enters_a_month_without_javascript(client, session, world):
    token = sign_in(client, LEADER)
    page = client.get(URL, params={"month": "令和8年5月"})
    assert page.status_code == 200
    assert "令和8年5月の実績値" in page.text and "複合機の印刷・コピー枚数（枚）" in page.text
    assert 'name="month" value="2026-05"' in page.text
    sent = client.post(URL, data=form(token, print_copies="１２，３４５", fax_sent="3"))
    assert sent.status_code == 303 and sent.headers["location"] == f"{URL}?month=2026-05&saved=2#entry-saved"
    again = client.get(sent.headers["location"])
    assert "2件の実績値を保存しました" in again.text and 'value="12,345"' in again.text
    values = {v.figure_key: (v.value, v.version) for v in session.exec(select(KpiValue))}
    assert values == {"print.copies": (12345, 1), "fax.sent": (3, 1)}


def test_htmx_swaps_the_form_and_errors_are_shown_at_the_field(client, session, world):
    token = sign_in(client, LEADER)
    headers = {"HX-Request": "true", "X-CSRF-Token": token}
    bad = client.post(URL, data=form(token, print_copies="-5", fax_sent="たくさん"), headers=headers)
    assert bad.status_code == 422
    assert "<html" not in bad.text and 'id="entry"' in bad.text
    assert 'aria-invalid="true"' in bad.text and "マイナスの値は入力できません" in bad.text
    assert "数字で入力してください" in bad.text and 'value="たくさん"' in bad.text  # what was typed stays
    assert session.exec(select(KpiValue)).first() is None
    session.rollback()  # the test's session holds SQLite's write lock until its transaction ends
    good = client.post(URL, data=form(token, fax_sent="4"), headers=headers)
    assert good.status_code == 200 and "1件の実績値を保存しました" in good.text


def test_a_stale_form_gets_409_with_what_is_stored_now(client, new_client, session, world):
    token = sign_in(client, LEADER)
    other = new_client()
    other_token = sign_in(other, "member.a1@test.example")
    assert client.post(URL, data=form(token, fax_received="5")).status_code == 303
    stale = other.post(URL, data=form(other_token, fax_received="9"))  # read at version 0
    assert stale.status_code == 409
    assert "現在: 5件" in stale.text
    assert session.exec(select(KpiValue.value).where(KpiValue.figure_key == "fax.received")).one() == 5


def test_two_people_saving_the_same_figure_at_once_end_in_one_winner_and_one_409(new_client, session, world):
    people = []
    for upn, value in ((LEADER, "10"), ("member.a1@test.example", "20")):
        c = new_client()
        people.append((c, sign_in(c, upn), value))
    barrier = threading.Barrier(len(people))
    results: list[tuple[str, int]] = []

    def save(c, token, value):
        barrier.wait()
        results.append((value, c.post(URL, data=form(token, fax_sent=value)).status_code))

    threads = [threading.Thread(target=save, args=p) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(code for _, code in results) == [303, 409], results
    winner = next(value for value, code in results if code == 303)
    session.expire_all()
    assert session.exec(select(KpiValue.value, KpiValue.version)).one() == (int(winner), 1)
    assert [e.new_value for e in session.exec(select(KpiEvent))] == [int(winner)]


def test_months_are_read_as_written_and_future_months_refused(client, world):
    sign_in(client, LEADER)
    assert "令和8年4月の実績値" in client.get(URL, params={"month": "R8.4"}).text
    future = client.get(URL, params={"month": "令和20年1月"})
    assert future.status_code == 422 and "まだ来ていない月" in future.text
    assert client.get(URL, params={"month": "そのうち"}).status_code == 422


def test_a_future_month_posted_is_refused_and_nothing_saved(client, session, world):
    token = sign_in(client, LEADER)
    refused = client.post(URL, data=form(token, month="2099-01", fax_sent="3"))
    assert refused.status_code == 422 and "まだ来ていない月" in refused.text
    assert session.exec(select(KpiValue)).first() is None


def test_the_desk_reads_the_form_but_may_not_save_and_others_are_refused(client, new_client, world):
    token = sign_in(client, "desk@test.example")
    page = client.get(URL)
    assert page.status_code == 200 and "readonly" in page.text and "保存する</button>" not in page.text
    assert client.post(URL, data=form(token, fax_sent="3")).status_code == 403
    other = new_client()
    other_token = sign_in(other, "member.b1@test.example")
    assert other.get(URL).status_code == 403
    assert other.post(URL, data=form(other_token, fax_sent="3")).status_code == 403


def test_saving_without_the_csrf_token_is_refused(client, session, world):
    token = sign_in(client, LEADER)
    body = form(token, fax_sent="3")
    del body["csrf_token"]
    assert client.post(URL, data=body).status_code == 403
    assert session.exec(select(KpiValue)).first() is None


def test_the_sections_figures_page_shows_the_year_last_year_per_employee_and_its_ratings(client, session, world):
    token = sign_in(client, LEADER)
    for month, copies in (("2025-05", "3000"), ("2026-05", "2000")):
        body = form(token, month=month, print_copies=copies, staff_count="20", approvals_total="100",
                    approvals_electronic="90", approvals_paper__required="10")
        assert client.post(URL, data=body).status_code == 303
    page = client.get("/sections/A1/figures", params={"fy": 2026})
    assert page.status_code == 200
    text = page.text
    assert "令和8年度" in text and "前年度同期" in text
    assert "2,000枚" in text and "3,000枚" in text  # this year and last year's May
    assert "100枚" in text  # per employee: 2,000 / 20
    assert "90.0%" in text and "100.0%" in text  # 電子決裁率 raw 90/100 and excluding 10 paper-only: 90/90
    assert '<svg class="chart chart--line"' in text and 'role="img"' in text
    assert "他の所属の数字や順位は表示しません" in text
    # 部局 A and the prefecture: one 所属 reported, fewer than five: withheld from the 所属's staff
    assert "A部: <span class=\"suppressed\">非表示" in text and "全庁: <span class=\"suppressed\">非表示" in text
    # the 所属's own rating of a linked item of v1's sheet is not in v1: nothing to show, no error
    assert client.get("/sections/A1/figures", params={"fy": 2099}).status_code == 404  # a year yet to come


def test_the_desk_sees_the_groups_a_sections_staff_may_not(client, new_client, world):
    token = sign_in(client, LEADER)
    body = form(token, month="2026-05", print_copies="2000", staff_count="20")
    assert client.post(URL, data=body).status_code == 303
    desk = new_client()
    sign_in(desk, "desk@test.example")
    text = desk.get("/sections/A1/figures", params={"fy": 2026}).text
    assert "A部: 100枚" in text and "全庁: 100枚" in text  # 2,000 / 20 per person, 1 所属


def test_another_sections_figures_are_refused(client, world):
    sign_in(client, "member.b1@test.example")
    assert client.get("/sections/A1/figures").status_code == 403


def test_the_sections_page_links_its_csv_download(client, world):
    sign_in(client, LEADER)
    text = client.get("/sections/A1/figures", params={"fy": 2025}).text
    link = text.split('href="/api/v1/sections/A1/figures.csv?')[1].split('"')[0].replace("&amp;", "&")
    assert link == "from=2025-04&to=2026-03"
    assert client.get("/api/v1/sections/A1/figures.csv?" + link).status_code == 200


def test_the_trend_page_loads_the_figures_summary_beside_the_maturity_line(client, world):
    sign_in(client, LEADER)
    trend = client.get("/sections/A1/trend").text
    assert 'hx-get="/sections/A1/figures"' in trend and 'href="/sections/A1/figures"' in trend  # htmx, and a link
    fragment = client.get("/sections/A1/figures", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and 'id="summary"' in fragment.text
    assert "複合機の印刷・コピー枚数" in fragment.text


def test_more_electronic_approvals_than_approvals_are_refused_on_the_page_at_the_field(client, session, world):
    """The same check as the import's: 電子決裁件数 above 決裁件数 of the month, the message at the numerator."""
    token = sign_in(client, LEADER)
    refused = client.post(URL, data=form(token, approvals_total="80", approvals_electronic="81"))
    assert refused.status_code == 422
    field = refused.text.split('id="f-approvals_electronic"')[1].split("</div>")[0]
    assert "電子決裁件数（81）が、決裁件数（80）を超えています" in field
    assert session.exec(select(KpiValue)).first() is None  # neither value saved
