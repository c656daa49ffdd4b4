"""``kpi_tally`` (per 所属, fiscal year and figure: the sum and the count of stored values) always equals a
recount of ``kpi_value``: after a bulk import, an entry, a correction, a cleared value, the demo generator, and
the migration that fills it from values stored before it existed."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text
from sqlmodel import select

from app import migrate
from app.config import PROJECT_ROOT
from app.db import make_engine
from app.demo import load_figures
from app.jpdate import fiscal_year_of
from app.kpis.catalogue import Catalogue
from app.kpis.loader import load_directory
from app.kpis.models import KpiTally, KpiValue
from tests.conftest import csrf_from, sign_in
from tests.test_kpi_import import COPIER, COPIER_MAP, upload

ENTRY = "/sections/A1/figures/entry"


def recount(session) -> dict[tuple[int, int, str], tuple[int, int]]:
    found: dict[tuple[int, int, str], tuple[int, int]] = {}
    for v in session.exec(select(KpiValue)):
        if v.value is not None:
            total, months = found.get((v.unit_id, fiscal_year_of(v.month), v.figure_key), (0, 0))
            found[(v.unit_id, fiscal_year_of(v.month), v.figure_key)] = (total + v.value, months + 1)
    return found


def tally(session) -> dict[tuple[int, int, str], tuple[int, int]]:
    return {(t.unit_id, t.fiscal_year, t.figure_key): (t.total, t.months) for t in session.exec(select(KpiTally))
            if t.total or t.months}  # a row whose values were all cleared counts as none


def entry(client, token: str, month: str, **values: tuple[str, int]) -> None:
    body = {"csrf_token": token, "month": month}
    for key, (value, version) in values.items():
        name = key.replace("__", "-").replace("_", ".")
        body[f"value:{name}"] = value
        body[f"version:{name}"] = str(version)
    sent = client.post(ENTRY, data=body)
    assert sent.status_code == 303, sent.text


def test_the_tally_follows_import_entry_correction_and_clearing(client, new_client, session, world):
    desk = sign_in(client, "desk@test.example")
    url = upload(client, desk, COPIER)
    preview = client.get(url, params=COPIER_MAP)
    sha = preview.text.split('name="sha256" value="')[1].split('"')[0]
    body = {k: v for k, v in COPIER_MAP.items() if k != "preview"}
    assert client.post(f"{url}/apply", data={**body, "sha256": sha, "csrf_token": csrf_from(preview.text)}
                       ).status_code == 303
    assert tally(session) == recount(session)
    assert tally(session)[(world.a1.id, 2026, "print.copies")] == (7940, 1)
    session.rollback()

    leader = new_client()
    token = sign_in(leader, "leader.a1@test.example")
    entry(leader, token, "2026-10", print_copies=("8,000", 1), fax_sent=("3", 0))  # corrects the import
    entry(leader, token, "2026-09", print_copies=("1000", 0))
    entry(leader, token, "2026-03", print_copies=("500", 0))  # 令和7年度 (FY2025)
    assert tally(session) == recount(session)
    assert tally(session)[(world.a1.id, 2026, "print.copies")] == (9000, 2)
    assert tally(session)[(world.a1.id, 2025, "print.copies")] == (500, 1)
    session.rollback()

    entry(leader, token, "2026-10", print_copies=("", 2), fax_sent=("0", 1))  # cleared; a zero is a value
    assert tally(session) == recount(session)
    assert tally(session)[(world.a1.id, 2026, "print.copies")] == (1000, 1)
    assert tally(session)[(world.a1.id, 2026, "fax.sent")] == (0, 1)


def test_the_demo_generator_fills_the_tally(session, world):
    catalogue = Catalogue.of(load_directory(PROJECT_ROOT / "kpis"))
    written = load_figures(session, catalogue, months=14, today=date(2026, 12, 6), history=False)
    assert written > 0
    assert tally(session) == recount(session)
    assert {fy for _, fy, _ in tally(session)} == {2025, 2026}


def test_the_migration_fills_the_tally_from_stored_values(scratch_database_url):
    url = scratch_database_url
    migrate.upgrade(url, "0014")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO unit (id, code, name, kind, position, valid_from) VALUES "
                              "(1, 'A1', 'A1課', 'section', 0, '2020-04-01'), (2, 'A2', 'A2課', 'section', 0, "
                              "'2020-04-01')"))
            conn.execute(text("INSERT INTO kpi_version (id, set_id, version, title, sha256, source, published_at) "
                              "VALUES (1, 'paper', 1, 't', 'x', '', CURRENT_TIMESTAMP)"))
            for unit_id, month, key, value in ((1, "2026-03-01", "print.copies", 5), (1, "2026-04-01", "print.copies", 7),
                                               (1, "2027-03-01", "print.copies", 11), (1, "2026-05-01", "fax.sent", None),
                                               (2, "2026-04-01", "print.copies", 13)):
                conn.execute(text("INSERT INTO kpi_value (unit_id, month, figure_key, value, version, kpi_version_id, "
                                  "updated_at) VALUES (:u, :m, :k, :v, 1, 1, CURRENT_TIMESTAMP)"),
                             {"u": unit_id, "m": date.fromisoformat(month), "k": key, "v": value})
        migrate.upgrade(url, "0015")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT unit_id, fiscal_year, figure_key, total, months FROM kpi_tally")).all()
        assert {tuple(r) for r in rows} == {(1, 2025, "print.copies", 5, 1), (1, 2026, "print.copies", 18, 2),
                                            (1, 2026, "fax.sent", 0, 0), (2, 2026, "print.copies", 13, 1)}
    finally:
        engine.dispose()
