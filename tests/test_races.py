"""Races through real concurrent HTTP clients against a live server (uvicorn on a real socket), on SQLite
and on PostgreSQL: what the one writer's lock (``app.sheets.writer.lock``) and the checks made under it
promise, tried a few hundred times.

1. save vs submit (200 pairs): a member clears an answer of a fully answered draft while the leader
   submits it. Exactly one of the two succeeds; no submitted sheet has an unanswered item.
2. save vs close (200 closes): members save answers of an open round while the admin closes it. Every
   acknowledged save is stored and every refused one is not, and the history rows of the round after
   the race are exactly those the close itself saw once it held the round (read in the close's own
   transaction, just after its UPDATE of the round): no answer was written after the close in commit
   order.
3. import vs save (100 pairs): the admin applies a previewed Excel import while a member saves an
   answer the import changes. Exactly one of the two succeeds, and what is stored is the winner's
   (the import never overwrites a save it did not preview).
4. two admins (or a double click) opening, closing or reopening one round at once: one changes it, the
   other gets 409; never a 500, never a second set of sheets or a second close event.

After each family the stored tallies are compared with a recount from the raw answers.

Many sheets (or rounds) are prepared once, in bulk; the races then run in batches, every pair (or
group) released by its own barrier. Every client thread has its own HTTP connection, and the server
handles each request in its own worker thread, so the database sees the requests of a pair at once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from app.auth.models import Membership, SectionRole
from app.checklists import service as checklists
from app.db import session_for
from app.jpdate import now_utc
from app.orgs.models import Unit, UnitKind
from app.rounds import service as rounds_service
from app.rounds.models import Round, RoundEvent, RoundEventKind, RoundState
from app.sheets import writer
from app.sheets.models import Answer, EventKind, Sheet, SheetEvent
from tests import factories as f
from tests.conftest import csrf_from
from tests.servers import client_for
from tests.test_import import PLAN, TEXTS, XLSX, paper_sheet
from tests.test_stored_tallies import recounted, stored

KEYS = list(f.V1_KEYS)  # checklist v1: six items, in sheet order
ADMIN = "admin@test.example"
OK_SAVE = {200, 403, 409, 422}  # what a save may answer in a race (never 5xx)


# --- set-up: many sheets at once -------------------------------------------------------------------------


GROUP = 20  # 所属 per member (and per leader): a person's memberships are loaded on every request


def member_of(code: str) -> str:
    return f"member.{(int(code[1:]) - 1) // GROUP}@test.example"


def leader_of(code: str) -> str:
    return f"leader.{(int(code[1:]) - 1) // GROUP}@test.example"


def prepare(engine, *, sections: int, rounds: int, statuses: dict[str, str]) -> tuple[list[int], list[str]]:
    """One 部局 with ``sections`` 所属 (S001, S002, …; a member and a leader for every ``GROUP`` of
    them), an admin, and ``rounds`` open rounds of checklist v1 whose sheets are all answered with
    ``statuses`` (in bulk, through the writer). Returns (round ids, 所属 codes)."""
    with session_for(engine, write=True) as s:
        bureau = f.make_unit(s, "A", "A部", kind=UnitKind.BUREAU, position=1)
        units = [f.make_unit(s, f"S{i:03d}", f"A部 {i}課", parent=bureau, position=i) for i in range(1, sections + 1)]
        people = {}
        for unit in units:
            for upn, role in ((member_of(unit.code), SectionRole.MEMBER), (leader_of(unit.code), SectionRole.LEADER)):
                if upn not in people:
                    people[upn] = f.make_user(s, upn, upn.split("@")[0])
                s.add(Membership(user_id=people[upn].id, unit_id=unit.id, role=role))
        f.make_user(s, ADMIN, "管理者", is_admin=True)
        version_id = f.publish(s)
        definition = checklists.get_definition(s, version_id)
        round_ids = []
        for n in range(rounds):
            round_ = f.make_round(s, version_id, title=f"令和8年度 第{n + 1}回", open_it=False)
            rounds_service.open_round(s, round_, sheets=len(units))
            writer.create(s, round_, definition, [writer.NewSheet(u.id, bureau.id, statuses=statuses) for u in units],
                          now=now_utc())
            round_ids.append(round_.id)
        s.commit()
        return round_ids, [u.code for u in units]


class People:
    """Signed-in people; every thread gets its own HTTP client (its own connection) with their cookie."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.tokens: dict[str, str] = {}
        self._cookies: dict[str, httpx.Cookies] = {}
        self._local = threading.local()
        self._all: list[httpx.Client] = []
        self._lock = threading.Lock()

    def sign_in(self, *upns: str) -> People:
        """Development sign-in, as ``conftest.sign_in`` does, from one visit of the sign-in page (its
        anonymous session cookie and CSRF token serve every sign-in: each starts a session of its own)."""
        visit = self._new()
        form = csrf_from(visit.get("/auth/login").text)
        for upn in upns:
            c = self._new()
            c.cookies = httpx.Cookies(visit.cookies)
            assert c.post("/auth/dev-login", data={"upn": upn, "csrf_token": form}).status_code == 303
            self.tokens[upn] = c.get("/api/v1/me").json()["csrf_token"]
            self._cookies[upn] = c.cookies
        return self

    def client(self, upn: str) -> httpx.Client:
        mine = self._local.__dict__.setdefault("clients", {})
        if upn not in mine:
            mine[upn] = self._new()
            mine[upn].cookies = httpx.Cookies(self._cookies[upn])
        return mine[upn]

    def put(self, upn: str, path: str, **kwargs) -> httpx.Response:
        return self.client(upn).put(path, headers={"X-CSRF-Token": self.tokens[upn]}, **kwargs)

    def post(self, upn: str, path: str, **kwargs) -> httpx.Response:
        return self.client(upn).post(path, headers={"X-CSRF-Token": self.tokens[upn]}, **kwargs)

    def _new(self) -> httpx.Client:
        c = client_for(self.base)
        with self._lock:
            self._all.append(c)
        return c

    def close(self) -> None:
        for c in self._all:
            c.close()


@pytest.fixture
def served(app, live_server):
    """(base URL, People) for the app served on a real socket."""
    people = People(live_server(app))
    yield people.base, people
    people.close()


def race(pool: ThreadPoolExecutor, *tasks: Callable[[], httpx.Response]) -> list[Future]:
    """Start ``tasks`` in the pool, released together by a barrier of their own."""
    barrier = threading.Barrier(len(tasks))

    def run(task):
        barrier.wait(timeout=60)
        return task()

    return [pool.submit(run, task) for task in tasks]


def assert_tallies_in_step(engine) -> None:
    with session_for(engine) as s:
        assert stored(s) == recounted(s)
        s.commit()


def answers_by_sheet(engine, round_id: int) -> dict[str, dict[str, tuple[str | None, int]]]:
    """所属 code → item key → (status, version), as stored."""
    with session_for(engine) as s:
        rows = s.execute(select(Unit.code, Answer.item_key, Answer.status, Answer.version)
                         .join(Sheet, Sheet.id == Answer.sheet_id).join(Unit, Unit.id == Sheet.unit_id)
                         .where(Sheet.round_id == round_id)).all()
        s.commit()
    out: dict[str, dict[str, tuple[str | None, int]]] = defaultdict(dict)
    for code, key, status, version in rows:
        out[code][key] = (status, version)
    return out


def sheet_rows(engine, round_id: int) -> dict[str, tuple[int, str]]:
    """所属 code → (sheet id, state)."""
    with session_for(engine) as s:
        rows = s.execute(select(Unit.code, Sheet.id, Sheet.state).join(Unit, Unit.id == Sheet.unit_id)
                         .where(Sheet.round_id == round_id)).all()
        s.commit()
    return {code: (sheet_id, state) for code, sheet_id, state in rows}


def events_by_sheet(engine, round_id: int) -> dict[int, list[tuple[int, str, str | None, str | None, str]]]:
    """sheet id → its history rows (id, kind, item key, new status, source), oldest first."""
    with session_for(engine) as s:
        rows = s.execute(select(SheetEvent.sheet_id, SheetEvent.id, SheetEvent.kind, SheetEvent.item_key,
                                SheetEvent.new_status, SheetEvent.source)
                         .join(Sheet, Sheet.id == SheetEvent.sheet_id).where(Sheet.round_id == round_id)
                         .order_by(SheetEvent.id)).all()
        s.commit()
    out: dict[int, list] = defaultdict(list)
    for sheet_id, *rest in rows:
        out[sheet_id].append(tuple(rest))
    return out


# --- 1. a save that clears an answer vs the submission of the same sheet -------------------------------------

PAIRS_SUBMIT = 200
BATCH_SUBMIT = 2  # pairs in flight at once (more only queue up: the server is one process)


def test_a_clear_racing_a_submission_never_leaves_a_submitted_sheet_with_an_unanswered_item(
        app, engine, served, backend):
    [round_id], codes = prepare(engine, sections=PAIRS_SUBMIT, rounds=1, statuses=dict.fromkeys(KEYS, "○"))
    base, people = served
    people.sign_in(*{member_of(code) for code in codes}, *{leader_of(code) for code in codes})
    cleared = {code: KEYS[i % len(KEYS)] for i, code in enumerate(codes)}  # the item each member clears

    def clear(code):
        return lambda: people.put(member_of(code), f"/api/v1/rounds/{round_id}/sections/{code}/answers/{cleared[code]}",
                                  json={"status": None, "version": 1})

    def submit(code):
        return lambda: people.post(leader_of(code), f"/api/v1/rounds/{round_id}/sections/{code}/submit")

    outcome: dict[str, tuple[int, int]] = {}
    with ThreadPoolExecutor(2 * BATCH_SUBMIT) as pool:
        for start in range(0, len(codes), BATCH_SUBMIT):
            batch = codes[start:start + BATCH_SUBMIT]
            pending = {code: race(pool, clear(code), submit(code)) for code in batch}
            for code, (saving, submitting) in pending.items():
                outcome[code] = (saving.result().status_code, submitting.result().status_code)

    codes_seen = Counter(outcome.values())
    assert all(s in OK_SAVE and t in {200, 403, 409, 422} for s, t in outcome.values()), codes_seen
    answers, sheets = answers_by_sheet(engine, round_id), sheet_rows(engine, round_id)
    events = events_by_sheet(engine, round_id)
    unanswered_but_submitted = [code for code, (_, state) in sheets.items()
                                if state == "submitted" and any(s is None for s, _ in answers[code].values())]
    assert unanswered_but_submitted == [], (unanswered_but_submitted, codes_seen)
    for code, (saved, submitted) in outcome.items():
        # One of the two went first: a clear first makes the submission 422 (an item unanswered); a
        # submission first makes the clear 403 (submitted sheets cannot be changed).
        assert (saved, submitted) in {(200, 422), (403, 200)}, (code, saved, submitted, codes_seen)
        sheet_id, state = sheets[code]
        assert state == ("submitted" if submitted == 200 else "draft"), code
        assert answers[code][cleared[code]] == ((None, 2) if saved == 200 else ("○", 1)), code
        kinds = [kind for _, kind, *_ in events[sheet_id]]
        assert sorted(kinds) == sorted(([EventKind.ANSWER.value] if saved == 200 else [])
                                       + ([EventKind.SUBMIT.value] if submitted == 200 else [])), code
    print(f"\n[{backend}] save vs submit: {dict(codes_seen)}")
    assert_tallies_in_step(engine)


# --- 2. saves vs closing the round --------------------------------------------------------------------------

ROUNDS_CLOSE = 2  # rounds raced at once
CLOSES_PER_ROUND = 200 // ROUNDS_CLOSE  # 200 closes
SAVES_PER_CLOSE = 4  # one per sheet of the round, released with the close
CYCLE = ["◎", "○", "△", "×"]


def test_no_answer_is_written_to_a_round_after_its_close(app, engine, served, backend, monkeypatch):
    round_ids, codes = prepare(engine, sections=SAVES_PER_CLOSE, rounds=ROUNDS_CLOSE,
                               statuses=dict.fromkeys(KEYS, "△"))
    base, people = served
    people.sign_in(*{member_of(code) for code in codes}, ADMIN)

    # The witness: inside the close's own transaction, once its UPDATE of the round has returned (the
    # round is locked: on PostgreSQL it waited for the saves holding FOR SHARE of it), read the history
    # rows of the round. Whatever is committed then is in; a save committed later is not.
    seen_by_close: dict[int, list[set[int]]] = defaultdict(list)
    close_round = rounds_service.close_round

    def close_and_witness(session, round_, *, actor=None):
        close_round(session, round_, actor=actor)
        ids = session.execute(select(SheetEvent.id).join(Sheet, Sheet.id == SheetEvent.sheet_id)
                              .where(Sheet.round_id == round_.id)).scalars().all()
        seen_by_close[round_.id].append(set(ids))

    monkeypatch.setattr(rounds_service, "close_round", close_and_witness)

    # What the test knows is stored: (round, code, item) → (status, version), and the acknowledged
    # saves in order.
    model = {(r, code, key): ("△", 1) for r in round_ids for code in codes for key in KEYS}
    acknowledged: dict[tuple[int, str, str], list[str]] = defaultdict(list)
    unexpected: list = []
    refused = 0

    def save(r, code, key, status, version):
        return lambda: people.put(member_of(code), f"/api/v1/rounds/{r}/sections/{code}/answers/{key}",
                                  json={"status": status, "version": version})

    def close(r):
        return lambda: people.post(ADMIN, f"/admin/rounds/{r}/close")

    def reopen(r):
        return people.post(ADMIN, f"/admin/rounds/{r}/reopen", data={"reason": "競合テストの再開"})

    with ThreadPoolExecutor(ROUNDS_CLOSE * (SAVES_PER_CLOSE + 1)) as pool:
        for batch in range(CLOSES_PER_ROUND):
            pending = {}
            for r in round_ids:
                tasks, wanted = [], []
                for i, code in enumerate(codes):
                    key = KEYS[(batch + i) % len(KEYS)]
                    status, version = model[(r, code, key)]
                    new = CYCLE[(CYCLE.index(status) + 1) % len(CYCLE)]
                    tasks.append(save(r, code, key, new, version))
                    wanted.append((code, key, new, version))
                pending[r] = (race(pool, *tasks, close(r)), wanted)
            for r, (futures, wanted) in pending.items():
                *saves, closed = [fut.result() for fut in futures]
                assert closed.status_code == 303, (r, closed.status_code, closed.text[:500])
                for (code, key, new, version), response in zip(wanted, saves, strict=True):
                    if response.status_code == 200:
                        assert response.json()["version"] == version + 1
                        model[(r, code, key)] = (new, version + 1)
                        acknowledged[(r, code, key)].append(new)
                    elif response.status_code == 403:
                        refused += 1
                    else:
                        unexpected.append((r, code, key, response.status_code, response.text[:300]))
            assert unexpected == []
            # No write after the close: the round's history now is exactly what the close saw.
            for r in round_ids:
                now = {event_id for rows in events_by_sheet(engine, r).values() for event_id, *_ in rows}
                assert len(seen_by_close[r]) == batch + 1
                assert now == seen_by_close[r][batch], (r, batch, sorted(now - seen_by_close[r][batch]))
            if batch < CLOSES_PER_ROUND - 1:
                for r in round_ids:
                    assert reopen(r).status_code == 303

    # Every acknowledged save is stored (in order, one history row each); every refused one is not.
    sheets = {r: sheet_rows(engine, r) for r in round_ids}
    for r in round_ids:
        answers, events = answers_by_sheet(engine, r), events_by_sheet(engine, r)
        for code in codes:
            sheet_id, _ = sheets[r][code]
            for key in KEYS:
                assert answers[code][key] == model[(r, code, key)], (r, code, key)
                written = [new for _, kind, item, new, _ in events[sheet_id] if kind == "answer" and item == key]
                assert written == acknowledged[(r, code, key)], (r, code, key)
    with session_for(engine) as s:
        closes = s.execute(select(RoundEvent.round_id, func.count()).where(RoundEvent.kind == RoundEventKind.CLOSE)
                           .group_by(RoundEvent.round_id)).all()
        states = set(s.execute(select(Round.state).where(Round.id.in_(round_ids))).scalars())
        s.commit()
    assert dict(closes) == dict.fromkeys(round_ids, CLOSES_PER_ROUND)
    assert states == {RoundState.CLOSED}
    saved = sum(len(v) for v in acknowledged.values())
    print(f"\n[{backend}] save vs close: {saved} saves stored, {refused} refused, "
          f"{ROUNDS_CLOSE * CLOSES_PER_ROUND} closes")
    assert_tallies_in_step(engine)


# --- 3. an Excel import vs a save of an answer it changes ----------------------------------------------------

IMPORT_ROUNDS, IMPORT_SECTIONS = 10, 10  # 100 pairs, one per sheet; small rounds, as an import plans a whole round
BATCH_IMPORT = 1  # a process runs one import at a time (a second one is refused, 503): one pair at a time
# The save is released at the barrier or a little after it, so that some saves land before the apply
# reads the sheet (its check against the preview refuses), some while it plans (only the version check
# under the sheet's lock can refuse), and some after it has locked the sheet (the save waits, then 409).
SAVE_DELAYS = [0.0, 0.002, 0.004, 0.006, 0.008, 0.010, 0.012, 0.015, 0.020, 0.030]


def test_an_import_never_overwrites_a_save_it_did_not_preview(app, engine, served, backend):
    round_ids, codes = prepare(engine, sections=IMPORT_SECTIONS, rounds=IMPORT_ROUNDS,
                               statuses=dict.fromkeys(KEYS, "△"))
    base, people = served
    people.sign_in(*{member_of(code) for code in codes}, ADMIN)
    pairs = [(r, code) for r in round_ids for code in codes]

    # The previews first, through the admin's HTTP import, one file per sheet: the import sets the first
    # two items to ◎; they were △ at version 1 when previewed.
    plans = {}
    for r, code in pairs:
        content = paper_sheet([(TEXTS[0], "◎", None), (TEXTS[1], "◎", None)], code=code)
        page = people.post(ADMIN, "/admin/import/preview", data={"round_id": str(r)},
                           files=[("files", (f"{code}.xlsx", content, XLSX))])
        assert page.status_code == 200, page.text[:500]
        plans[(r, code)] = PLAN.search(page.text).group(1)

    def apply(r, code):
        return lambda: people.post(ADMIN, "/admin/import/apply", data={"plan": plans[(r, code)]})

    def save(r, code, delay):
        def run():
            time.sleep(delay)
            return people.put(member_of(code), f"/api/v1/rounds/{r}/sections/{code}/answers/{KEYS[0]}",
                              json={"status": "×", "version": 1})
        return run

    outcome: dict[tuple[int, str], tuple[httpx.Response, httpx.Response]] = {}
    with ThreadPoolExecutor(2 * BATCH_IMPORT) as pool:
        for start in range(0, len(pairs), BATCH_IMPORT):
            pending = {pair: race(pool, apply(*pair), save(*pair, SAVE_DELAYS[(start + i) % len(SAVE_DELAYS)]))
                       for i, pair in enumerate(pairs[start:start + BATCH_IMPORT])}
            for pair, (applying, saving) in pending.items():
                outcome[pair] = (applying.result(), saving.result())

    codes_seen = Counter((a.status_code, s.status_code) for a, s in outcome.values())
    for r in round_ids:
        answers, sheets, events = answers_by_sheet(engine, r), sheet_rows(engine, r), events_by_sheet(engine, r)
        for code in codes:
            applied, saved = outcome[(r, code)]
            # Exactly one wins: the import's apply (303), and the save, at the version the preview saw, is a
            # 409; or the save (200), and the apply is a 409 that changed nothing.
            assert (applied.status_code, saved.status_code) in {(303, 409), (409, 200)}, (
                r, code, applied.status_code, saved.status_code, codes_seen)
            sheet_id, _ = sheets[code]
            written = sorted((item, new, source) for _, kind, item, new, source in events[sheet_id])
            if applied.status_code == 303:
                assert applied.headers["location"].endswith("sections=1&answers=2")
                assert saved.json()["current"]["status"] == "◎"
                assert (answers[code][KEYS[0]], answers[code][KEYS[1]]) == (("◎", 2), ("◎", 2)), (r, code)
                assert written == [(KEYS[0], "◎", "import"), (KEYS[1], "◎", "import")], (r, code)
            else:
                assert (answers[code][KEYS[0]], answers[code][KEYS[1]]) == (("×", 2), ("△", 1)), (r, code)
                assert written == [(KEYS[0], "×", "api")], (r, code)
    print(f"\n[{backend}] import vs save: {dict(codes_seen)}")
    assert_tallies_in_step(engine)


# --- 4. two admins changing the state of one round at once ---------------------------------------------------

ROUND_PAIRS = 20


def test_two_admins_opening_closing_or_reopening_a_round_at_once_change_it_once(app, engine, served, backend):
    """A double click on 開始／締切／再開 (or two admins): one request changes the round, the other is a
    409 (the state is checked under the round's row lock); never a 500, never two sets of sheets or two
    close events."""
    round_ids, codes = prepare(engine, sections=3, rounds=1, statuses=dict.fromkeys(KEYS, "△"))
    with session_for(engine, write=True) as s:
        version_id = s.execute(select(Round.checklist_version_id)).scalar_one()
        drafts = [f.make_round(s, version_id, title=f"令和9年度 第{n + 1}回", fiscal_year=2027, open_it=False).id
                  for n in range(ROUND_PAIRS)]
        s.commit()
    base, people = served
    people.sign_in(ADMIN)

    def change(r, action):
        data = {"reason": "競合テストの再開"} if action == "reopen" else {}
        return lambda: people.post(ADMIN, f"/admin/rounds/{r}/{action}", data=data)

    outcome = Counter()
    with ThreadPoolExecutor(2) as pool:
        for r in drafts:
            for action in ("open", "close", "reopen"):
                first, second = (fut.result().status_code for fut in race(pool, change(r, action), change(r, action)))
                outcome[(action, first, second)] += 1
                assert sorted((first, second)) == [303, 409], (r, action, first, second)
    with session_for(engine) as s:
        kinds = defaultdict(list)
        for round_id, kind in s.execute(select(RoundEvent.round_id, RoundEvent.kind).order_by(RoundEvent.id)):
            kinds[round_id].append(kind)
        sheets = dict(s.execute(select(Sheet.round_id, func.count()).group_by(Sheet.round_id)).all())
        s.commit()
    for r in drafts:
        assert kinds[r] == ["create", "open", "close", "reopen"], (r, kinds[r])
        assert sheets[r] == len(codes), r
    print(f"\n[{backend}] round state races: {dict(outcome)}")
    assert_tallies_in_step(engine)
