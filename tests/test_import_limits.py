"""Limits of one Excel import upload (every file of one preview or one CLI run together): expanded size,
shared strings, a time budget, and one import at a time per process. A refusal names the limit and the
file, is shown on the import page, and stores nothing.

The hostile files are built with zipfile from a good workbook; the limits are small, set through settings."""

from __future__ import annotations

import io
import itertools
import threading
import time
import zipfile
from contextlib import contextmanager
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook

from app.errors import InvalidInput, TooLarge
from app.excel import importer, reader
from app.main import create_app
from tests.conftest import make_settings, sign_in
from tests.servers import client_for, thread_server
from tests.test_import import LIMITS, PLAN, apply, full_rows, paper_sheet, preview, state

BUSY = "ほかの取込みを処理中です。しばらくしてからもう一度お試しください。"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def rebuilt(content: bytes, parts: dict[str, bytes]) -> bytes:
    """``content`` (an .xlsx) with ``parts`` replaced or added."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for entry in source.infolist():
            if entry.filename not in parts:
                out.writestr(entry, source.read(entry))
        for name, data in parts.items():
            out.writestr(name, data)
    return buffer.getvalue()


def with_strings(code: str, count: int) -> bytes:
    """A good sheet (its cells hold inline strings) with a shared-string table of ``count`` entries, declared
    as Excel does; openpyxl reads the whole table when it opens the book. The entries are written both ways
    a workbook may (default namespace and a prefix), and tags are split between chunks of the inflated part."""
    content = paper_sheet(full_rows(), code=code)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        types, rels = archive.read("[Content_Types].xml"), archive.read("xl/_rels/workbook.xml.rels")
    items = (b"<si><t>a</t></si>", b'<x:si><x:t xml:space="preserve">b</x:t></x:si>', b"<si/>")
    table = (f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN_NS}" xmlns:x="{MAIN_NS}">'.encode()
             + b"".join(items[i % 3] for i in range(count)) + b"</sst>")
    types = types.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                          b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
    rels = rels.replace(b"</Relationships>", b'<Relationship Id="rIdStrings" Target="sharedStrings.xml" Type="http://'
                        b'schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"/></Relationships>')
    return rebuilt(content, {"xl/sharedStrings.xml": table, "[Content_Types].xml": types,
                             "xl/_rels/workbook.xml.rels": rels})


def padded(code: str, size: int) -> bytes:
    """A good sheet with a part that inflates to ``size`` bytes (like a large picture)."""
    return rebuilt(paper_sheet(full_rows(), code=code), {"xl/media/image1.png": b"\0" * size})


def expanded(content: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return sum(e.file_size for e in archive.infolist())


@contextmanager
def admin_client(database_url: str, **settings):
    """A client of an app with these settings, signed in as the admin; yields (client, CSRF token)."""
    app = create_app(make_settings(database_url, **settings))
    try:
        with TestClient(app, follow_redirects=False) as client:
            yield client, sign_in(client, "admin@test.example")
    finally:
        app.state.engine.dispose()


@pytest.fixture
def limited(database_url, world):
    with admin_client(database_url, import_max_expanded_bytes=1_000_000, import_max_shared_strings=1_000) as admin:
        yield admin


def refused(page, status: int, message: str) -> None:
    assert page.status_code == status, page.text[:2000]
    assert message in page.text, page.text[page.text.find("<main"):][:3000]
    assert 'id="import-error"' in page.text and 'action="/admin/import/preview"' in page.text  # on the upload form
    assert "確認結果：" not in page.text and 'name="plan"' not in page.text


def is_busy(page) -> None:
    assert (page.status_code, page.headers.get("Retry-After")) == (503, "5"), page.text[:2000]
    assert BUSY in page.text and "確認結果：" not in page.text and 'name="plan"' not in page.text


def test_the_import_page_states_the_limits_of_one_upload(limited):
    client, _ = limited
    page = client.get("/admin/import").text
    assert "展開後のサイズ 1 MB、文字列（共有文字列）1,000個、読み取り時間 30 秒まで" in page


# --- shared strings ------------------------------------------------------------------------------------------


def test_a_small_file_with_a_huge_shared_string_table_is_refused_before_openpyxl_reads_it(
        database_url, session, world, monkeypatch):
    hostile = with_strings("A1", 2_000_000)
    assert len(hostile) < 200_000 and 40_000_000 < expanded(hostile) < 50_000_000  # under the size limits

    def never(*args, **kwargs):
        raise AssertionError("openpyxl was asked to parse the file")

    monkeypatch.setattr(reader, "load_workbook", never)
    before = state(session)
    with admin_client(database_url, import_max_shared_strings=1_000) as (client, token):
        page = preview(client, token, world.round.id, ("strings.xlsx", hostile))
    refused(page, 413, "ファイル「strings.xlsx」: 文字列（共有文字列）の数が上限（1回の取り込みで 1,000個）を超えています")
    assert state(session) == before


def test_many_tiny_strings_are_counted_over_the_whole_upload_and_the_file_that_passes_is_named(
        limited, session, world):
    client, token = limited
    files = [("a.xlsx", with_strings("A1", 400)), ("b.xlsx", with_strings("A2", 400)),
             ("c.xlsx", with_strings("B1", 400))]
    before = state(session)
    refused(preview(client, token, world.round.id, *files), 413,
            "ファイル「c.xlsx」: 文字列（共有文字列）の数が上限（1回の取り込みで 1,000個）を超えています")
    assert state(session) == before
    # Any two of them are under the limit: the count is per upload, not per file.
    page = preview(client, token, world.round.id, *files[:2])
    assert page.status_code == 200 and PLAN.search(page.text)


def test_the_shared_string_count_is_exact_at_the_limit_across_chunk_boundaries():
    count = 30_000
    content = with_strings("A1", count)  # ~1 MB inflated: many 64 KB chunks, tags cut between them
    (parsed,) = reader.read_upload([("a.xlsx", content)], replace(LIMITS, max_shared_strings=count))
    assert parsed.error is None and len(parsed.sheets[0].rows) == 6  # openpyxl reads the same table
    with pytest.raises(TooLarge, match=f"「a.xlsx」: 文字列（共有文字列）の数が上限（1回の取り込みで {count - 1:,}個）"):
        reader.read_upload([("a.xlsx", content)], replace(LIMITS, max_shared_strings=count - 1))


# --- expanded size -------------------------------------------------------------------------------------------


def test_three_files_whose_expanded_sizes_add_up_past_the_total_are_refused(limited, session, world):
    client, token = limited
    files = [(f"{code}.xlsx", padded(code, 400_000)) for code in ("A1", "A2", "B1")]
    assert all(expanded(content) < 500_000 for _, content in files)  # each alone is well under 1 MB
    before = state(session)
    refused(preview(client, token, world.round.id, *files), 413,
            "ファイル「B1.xlsx」: 展開後の合計サイズが上限（1回の取り込みで 1 MB）を超えています")
    assert state(session) == before
    page = preview(client, token, world.round.id, *files[:2])
    assert page.status_code == 200 and PLAN.search(page.text)


def test_one_file_over_the_total_is_refused_by_the_same_limit(limited, session, world):
    client, token = limited
    refused(preview(client, token, world.round.id, ("bomb.xlsx", padded("A1", 60_000_000))), 413,
            "ファイル「bomb.xlsx」: 展開後の合計サイズが上限（1回の取り込みで 1 MB）を超えています")


# --- time budget ---------------------------------------------------------------------------------------------


def long_sheet(rows: int) -> bytes:
    wb = Workbook()
    for i in range(rows):
        wb.active.append([i, "行", "◎"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def test_the_time_budget_is_checked_while_rows_are_read():
    ticks = itertools.count()

    def clock() -> float:  # every look at the clock takes 10 ms
        return next(ticks) * 0.01

    # ~15 looks before the rows (archive chunks, before and after openpyxl opens the book), one per row.
    content = long_sheet(1_500)
    with pytest.raises(InvalidInput, match=r"ファイル「rows.xlsx」: 読み取りに時間がかかりすぎたため中止しました"
                                           r"（1回の取り込みの上限 5 秒）"):
        reader.read_upload([("rows.xlsx", content)], replace(LIMITS, time_budget_seconds=5), clock=clock)
    (parsed,) = reader.read_upload([("rows.xlsx", content)], replace(LIMITS, time_budget_seconds=60), clock=clock)
    assert parsed.error and "チェックシートの表が見つかりません" in parsed.error  # read to the end within 60 "s"


def test_an_upload_past_the_time_budget_is_refused_on_the_page(database_url, session, world):
    before = state(session)
    with admin_client(database_url, import_time_budget_seconds=0.001) as (client, token):  # opening a book takes longer
        refused(preview(client, token, world.round.id, ("A1.xlsx", paper_sheet(full_rows(), code="A1"))), 422,
                "ファイル「A1.xlsx」: 読み取りに時間がかかりすぎたため中止しました（1回の取り込みの上限 0.001 秒）")
    assert state(session) == before


# --- one import at a time ------------------------------------------------------------------------------------


def test_an_import_while_another_runs_is_refused_at_once(client, session, world):
    token = sign_in(client, "admin@test.example")
    good = ("A1.xlsx", paper_sheet(full_rows(), code="A1"))
    page = preview(client, token, world.round.id, good)
    assert page.status_code == 200
    before = state(session)
    with importer.import_slot():  # another import holds the gate
        for busy in (preview(client, token, world.round.id, good), apply(client, token, page)):
            is_busy(busy)
    assert state(session) == before
    assert apply(client, token, page).status_code == 303  # the gate is free again


def test_two_concurrent_uploads_to_a_live_server_one_is_refused_and_never_waits(app, session, world, monkeypatch):
    started, release = threading.Event(), threading.Event()
    read_upload = reader.read_upload

    def slow_read(*args, **kwargs):
        started.set()
        assert release.wait(timeout=60), "the test never released the first import"
        return read_upload(*args, **kwargs)

    monkeypatch.setattr(reader, "read_upload", slow_read)
    good = ("A1.xlsx", paper_sheet(full_rows(), code="A1"))
    with thread_server(app) as base, client_for(base) as first, client_for(base) as second:
        tokens = [sign_in(c, "admin@test.example") for c in (first, second)]
        answers = {}
        thread = threading.Thread(target=lambda: answers.setdefault(
            "first", preview(first, tokens[0], world.round.id, good)))
        thread.start()
        try:
            assert started.wait(timeout=60), "the first import never started"
            begun = time.monotonic()
            busy = preview(second, tokens[1], world.round.id, good)
            waited = time.monotonic() - begun
        finally:
            release.set()
            thread.join(timeout=60)
        is_busy(busy)
        assert waited < 10  # refused at once, not queued behind the first
        assert answers["first"].status_code == 200 and PLAN.search(answers["first"].text)
        assert preview(second, tokens[1], world.round.id, good).status_code == 200  # free again


# --- the command line ----------------------------------------------------------------------------------------


def test_the_command_line_import_keeps_the_same_limits(monkeypatch, database_url, session, world, tmp_path):
    from click.testing import CliRunner

    from app import cli
    from app.config import get_settings

    for name, value in (("DATABASE_URL", database_url), ("ENV", "test"), ("AUTH", "dev"),
                        ("IMPORT_MAX_SHARED_STRINGS", "1000")):
        monkeypatch.setenv(f"PAPERLESS_{name}", value)
    get_settings.cache_clear()
    try:
        paths = []
        for code in ("A1", "A2", "B1"):
            paths.append(tmp_path / f"{code}.xlsx")
            paths[-1].write_bytes(with_strings(code, 400))
        before = state(session)
        result = CliRunner().invoke(cli.main, ["import", "xlsx", *map(str, paths), "--round", str(world.round.id),
                                               "--apply"], catch_exceptions=False)
        assert result.exit_code == 1
        assert "ファイル「B1.xlsx」: 文字列（共有文字列）の数が上限（1回の取り込みで 1,000個）" in result.output
        assert state(session) == before
    finally:
        get_settings.cache_clear()
