"""The sheet's htmx fragments render on their own (a block rendered alone does not see the page's
top-level imports): a saved row, and a refused row."""

from __future__ import annotations

from tests.conftest import sign_in
from tests.factories import field

K1 = "office.daily.keep-electronic"
HTMX = {"HX-Request": "true"}


def test_saving_a_row_through_htmx_answers_with_the_saved_fragment(client, world):
    token = sign_in(client, "member.a1@test.example")
    response = client.post(f"/rounds/{world.round.id}/sections/A1/items/{K1}",
                           data={field("status", K1): "◎", field("memo", K1): "", field("version", K1): "0"},
                           headers={**HTMX, "X-CSRF-Token": token})
    assert response.status_code == 200, response.text[-500:]
    assert "保存しました" in response.text and 'id="score-panel"' in response.text
    assert 'hx-swap-oob="true"' in response.text and "<html" not in response.text


def test_a_refused_row_through_htmx_answers_with_the_row_and_its_message(client, world):
    token = sign_in(client, "member.a1@test.example")
    response = client.post(f"/rounds/{world.round.id}/sections/A1/items/{K1}",
                           data={field("status", K1): "◎", field("memo", K1): "字" * 2001, field("version", K1): "0"},
                           headers={**HTMX, "X-CSRF-Token": token})
    assert response.status_code == 422, response.text[-500:]
    assert response.headers["HX-Retarget"] == "#r1"
    assert "2,000文字以内" in response.text and response.text.lstrip().startswith("<tr")
