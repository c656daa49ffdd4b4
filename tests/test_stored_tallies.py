"""The stored tallies (a sheet's counts, and its groups') stay equal to what the answers say, whatever
wrote them: a randomized sequence of every kind of write — saves through the API, the htmx row and the
whole form (answers, clears, 該当なし, memos), Excel imports, submissions, reopenings, sheets created and
handed on by a reorganisation, a round opened — is followed by a recount from the raw answers, on
SQLite and PostgreSQL. The recount here is written from the rules alone (``scoring.rules``), not
from the writer's arithmetic."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app import migrate
from app.checklists import service as checklists
from app.errors import Conflict
from app.orgs.models import UnitKind
from app.rounds.models import Round
from app.scoring import rules
from app.sheets import figures, service
from app.sheets.models import PREFECTURE, Answer, ItemTally, MaturityTally, Sheet, SheetTally
from app.statuses import Status
from tests import factories as f
from tests.conftest import csrf_from, sign_in
from tests.factories import field

K1 = "office.daily.keep-electronic"
K_NA = "meeting.internal.no-paper-handouts"
CHOICES = ["◎", "○", "△", "×", None]


def stored(session) -> dict:
    """Everything the writer keeps: per sheet (overall and per category) and per group."""
    sheets = {s.id: (s.tally_total, s.tally_answered, s.tally_not_applicable, s.tally_points, s.tally_quick_fair,
                     s.tally_quick_not_done) for s in session.execute(select(Sheet)).scalars()}
    categories = {(t.sheet_id, t.category): (t.total, t.answered, t.not_applicable, t.points)
                  for t in session.execute(select(SheetTally)).scalars()}
    maturity = {(m.round_id, m.bureau_id, m.state, m.category, m.maturity_x10): m.sections
                for m in session.execute(select(MaturityTally)).scalars() if m.sections}
    items = {(i.round_id, i.bureau_id, i.state, i.item_key, i.status): i.sections
             for i in session.execute(select(ItemTally)).scalars() if i.sections}
    return {"sheets": sheets, "categories": categories, "maturity": maturity, "items": items}


def recounted(session) -> dict:
    """The same, from the answers and the checklist definitions only."""
    answers: dict[int, dict[str, str | None]] = {}
    for sheet_id, key, status in session.execute(select(Answer.sheet_id, Answer.item_key, Answer.status)):
        answers.setdefault(sheet_id, {})[key] = status
    sheets, categories, maturity, items = {}, {}, Counter(), Counter()
    for s, version_id in session.execute(select(Sheet, Round.checklist_version_id).join(Round)):
        definition = checklists.get_definition(session, version_id)
        mine = answers.get(s.id, {})

        def count(item_list, mine=mine, definition=definition):
            return rules.tally([Status(mine[i.key]) if mine.get(i.key) else None for i in item_list],
                               definition.points)

        overall = count(definition.items)
        quick = Counter(mine.get(i.key) for i in definition.items if i.difficulty == rules.QUICK_WIN_DIFFICULTY)
        sheets[s.id] = (overall.total, overall.answered, overall.not_applicable, overall.points,
                        quick[Status.FAIR.value], quick[Status.NOT_DONE.value])
        for scope in (PREFECTURE, s.bureau_id):
            maturity[(s.round_id, scope, s.state, "", _tenths(overall))] += 1
            for item in definition.items:
                items[(s.round_id, scope, s.state, item.key, mine.get(item.key) or "")] += 1
        for name, category_items in definition.grouped:
            t = count(category_items)
            categories[(s.id, name)] = (t.total, t.answered, t.not_applicable, t.points)
            for scope in (PREFECTURE, s.bureau_id):
                maturity[(s.round_id, scope, s.state, name, _tenths(t))] += 1
    return {"sheets": sheets, "categories": categories, "maturity": dict(maturity), "items": dict(items)}


def _tenths(t: rules.Tally) -> int:
    return -1 if t.maturity is None else round(t.maturity * 10)


def assert_in_step(session):
    session.expire_all()
    try:
        assert stored(session) == recounted(session)
        conn = session.connection()
        for (round_id,) in session.execute(select(Round.id).where(Round.state == "closed")):
            # the figures stored for a closed round are what the histograms say
            every_group = figures._Scope(None, True, True, None)
            assert figures._stored(conn, [round_id], every_group) == figures._live(conn, [round_id], every_group)
    finally:
        session.commit()  # end the read (SQLite's write lock)


@pytest.mark.parametrize("seed", [1, 2])
def test_every_kind_of_write_keeps_every_stored_tally_in_step(client, new_client, session, world, seed):
    rng = random.Random(seed)
    assert_in_step(session)  # opening the round counted every sheet (all unanswered)
    round_id = world.round.id
    definition = checklists.get_definition(session, world.version_id)
    keys = [item.key for item in definition.items]
    session.commit()  # end the read: the test's session holds SQLite's write lock while it is open
    people = {}
    for code, upn in (("A1", "leader.a1@test.example"), ("B1", "leader.b1@test.example")):
        c = new_client()
        people[code] = (c, sign_in(c, upn))

    def client_sheet(code):
        c, _ = people[code]
        return c.get(f"/api/v1/rounds/{round_id}/sections/{code}/sheet").json()

    def status_for(key):
        allowed = CHOICES + (["該当なし"] if definition.by_key[key].allows_na else [])
        return rng.choice(allowed)

    outcomes = Counter()
    for _step in range(40):
        code = rng.choice(["A1", "B1"])
        c, token = people[code]
        base = f"/rounds/{round_id}/sections/{code}"
        kind = rng.choice(["api", "api", "row", "form", "import", "submit", "reopen"])
        before = client_sheet(code)
        seen = {i["item_key"]: i["answer"]["version"] for i in before["items"]}
        submitted = before["state"] == "submitted"
        complete = all(i["answer"]["status"] is not None for i in before["items"])
        key = rng.choice(keys)
        changed: set[str] = set()  # the items this step must have written
        if kind == "api":
            new = status_for(key)
            response = c.put(f"/api/v1{base}/answers/{key}", json={"status": new, "memo": f"m{_step}",
                                                                    "version": seen[key]}, headers={"X-CSRF-Token": token})
            expected = 403 if submitted else 200
            changed = {key}
        elif kind == "row":
            response = c.post(f"{base}/items/{key}", data={field("status", key): status_for(key) or "",
                                                            field("version", key): seen[key]},
                              headers={"HX-Request": "true", "X-CSRF-Token": token})
            expected = 403 if submitted else 200
        elif kind == "form":
            page = c.get(base).text
            data = {"csrf_token": csrf_from(page)}
            for k in rng.sample(keys, 3):
                data |= {field("status", k): status_for(k) or "", field("version", k): seen[k], field("memo", k): ""}
            response = c.post(base, data=data)
            expected = 403 if submitted else 303
        elif kind == "import":
            sheet = f.sheet_of(session, round_id, world.a1 if code == "A1" else world.b1)
            picked = rng.sample(keys, 2)
            try:
                service.import_answers(session, [service.ImportedSheet(sheet.id, [
                    service.ImportedAnswer(k, status_for(k), "取り込み", seen[k]) for k in picked],
                    None, "取り込み: test")], actor_id=world.admin.id)
                session.commit()
                response_code = 200
            except Conflict:
                session.rollback()  # a submitted sheet refuses imports; nothing written
                response_code = 409
            assert response_code == (409 if submitted else 200), (kind, code, submitted)
            outcomes[kind, response_code] += 1
            continue
        elif kind == "submit":
            response = c.post(f"/api/v1{base}/submit", headers={"X-CSRF-Token": token})
            expected = 409 if submitted else 200 if complete else 422
        else:
            response = c.post(f"/api/v1{base}/reopen", json={"reason": "test"}, headers={"X-CSRF-Token": token})
            expected = 200 if submitted else 409
        assert response.status_code == expected, (_step, kind, code, submitted, response.text[:300])
        outcomes[kind, response.status_code] += 1
        after = client_sheet(code)
        if response.status_code >= 400:  # refused: nothing changed
            assert after == before, (_step, kind)
            continue
        for k in changed:
            assert next(i for i in after["items"] if i["item_key"] == k)["answer"]["version"] == seen[k] + 1, _step
    assert outcomes[("api", 200)] > 0 and sum(n for (_, code), n in outcomes.items() if code >= 400) > 0, outcomes
    assert_in_step(session)

    # A reorganisation in April: B1 is renamed (its sheet in the open round is handed on, to a new 部局),
    # and a new 所属 gets an empty sheet.
    session.expire_all()
    bureau_c = f.make_unit(session, "C", "C部", kind=UnitKind.BUREAU, position=3)
    b1_new = f.make_unit(session, "B1N", "B部 一課（新）", parent=bureau_c, position=1)
    c1 = f.make_unit(session, "C1", "C部 一課", parent=bureau_c, position=2)
    [round_] = session.execute(select(Round).where(Round.id == round_id)).scalars()
    b1_sheet = f.sheet_of(session, round_id, world.b1).id
    service.hand_on(session, round_id, world.b1.id, b1_new)
    service.create_sheets(session, round_, [(c1.id, bureau_c.id)])
    session.commit()
    assert session.execute(select(Sheet.unit_id, Sheet.bureau_id).where(Sheet.id == b1_sheet)).one() == (
        b1_new.id, bureau_c.id)  # the same sheet, now the new 所属's under its 部局
    assert_in_step(session)

    # The round closes (its group figures are stored), an import changes it, it reopens and closes again.
    [round_] = session.execute(select(Round).where(Round.id == round_id)).scalars()
    service.close_round(session, round_)
    session.commit()
    assert_in_step(session)
    a2 = f.sheet_of(session, round_id, world.a2)
    stored_a2 = {a.item_key: a.version for a in session.execute(
        select(Answer).where(Answer.sheet_id == a2.id)).scalars()}
    service.import_answers(session, [service.ImportedSheet(a2.id, [
        service.ImportedAnswer(K1, "◎", "", stored_a2[K1]), service.ImportedAnswer(K_NA, "該当なし", "", stored_a2[K_NA])],
        None, "取り込み: test")], actor_id=world.admin.id)
    session.commit()
    assert_in_step(session)

    # A second round opens: every 所属 in force gets its sheet.
    opens = date.today() - timedelta(days=1)
    second = f.make_round(session, world.version_id, title="令和8年度 第2回", opens_on=opens)
    f.set_answers(session, second.id, world.a1, {K1: "◎", K_NA: "該当なし"})
    session.commit()
    assert_in_step(session)

    # A merge while it is open: A1 and A2 become one 所属; A1's sheet (as many answers, listed first) is handed on, A2's folded
    # into it (its answer fills an item A1 left open) and gone from the round and its counts.
    f.set_answers(session, second.id, world.a2, {K1: "×", f.V1_KEYS[1]: "△"})
    merged = f.make_unit(session, "A12", "A部 統合課", parent=world.bureau_a, position=9)
    assert service.merge_sheets(session, second.id, [world.a1, world.a2], merged)
    session.commit()
    assert session.execute(select(func.count()).select_from(Sheet).where(Sheet.round_id == second.id,
                                                                         Sheet.unit_id == world.a2.id)).one()[0] == 0
    assert_in_step(session)


def test_the_migration_counts_the_sheets_that_already_exist(client, session, world, database_url):
    token = sign_in(client, "member.a1@test.example")
    round_id = world.round.id
    for key, status in ((K1, "○"), (K_NA, "該当なし")):
        saved = client.put(f"/api/v1/rounds/{round_id}/sections/A1/answers/{key}",
                           json={"status": status, "version": 0}, headers={"X-CSRF-Token": token})
        assert saved.status_code == 200, saved.text
    expected = stored(session)
    assert expected == recounted(session)
    session.close()
    client.app.state.engine.dispose()
    migrate.downgrade(database_url, "0004")
    migrate.upgrade(database_url)
    assert stored(session) == expected
