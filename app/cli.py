"""``paperless``: the one entry point the Makefile and the Dockerfile call.

    paperless migrate                 apply database migrations (alembic upgrade head)
    paperless demo [--if-empty] …     load demo data (only into an empty database)
    paperless serve [--host --port]   run the web server
    paperless check                   validate settings, every checklist and figure definition file
    paperless checklist diff PATH     what a checklist file changes compared with the published versions
    paperless checklist publish PATH  publish a checklist file as a new version (after showing the diff)
    paperless round list|create|open|close|reopen   rounds (調査回), as on /admin/rounds
    paperless reorg CSV [--apply]     April reorganisation (組織改正) from a CSV: preview, then apply
    paperless reorg-apply-due         apply the reorganisations scheduled for today or earlier (daily timer)
    paperless export csv|xlsx …       export a round (all, --bureau CODE or --section CODE) to a file
    paperless import xlsx FILES …     import filled-in Excel sheets into a round (dry run unless --apply)
    paperless token create|list|revoke  personal read-only API tokens
    paperless backup PATH [--force]   write a consistent copy of the database (safe while serving)
    paperless restore PATH [--force]  bring a backup back (refuses to replace data without --force)
    paperless notify run --once       send the due notices (mail, Teams) and today's automatic reminders
"""

from __future__ import annotations

import signal
import sys
from contextlib import contextmanager
from pathlib import Path

import click

from app.checklists.loader import ChecklistDefinitionError, load_checklist, load_directory
from app.config import ConfigError, Settings, get_settings


def _settings(*, web: bool = False) -> Settings:
    """The settings; ``web=True`` also runs the start-up checks of the web server (sign-in, secrets).

    Maintenance commands (migrate, demo, publish, import…) need only the database, so a one-off
    migration job does not need the Entra secrets.
    """
    try:
        settings = get_settings()
        if web:
            settings.check()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    return settings


@click.group()
def main() -> None:
    """ペーパーレス化状況チェック (Paperless Check)."""


@main.command()
def migrate() -> None:
    """Apply database migrations (alembic upgrade head)."""
    from app import migrate as migrations

    settings = _settings()
    migrations.upgrade(settings.database_url)
    click.echo("database is up to date")


@main.command()
def check() -> None:
    """Validate the settings, every checklist file and every figure definition file (exit 1 with a message on the first error)."""
    settings = _settings(web=True)
    try:
        loaded = load_directory(settings.checklists_dir)
    except ChecklistDefinitionError as exc:
        raise click.ClickException(str(exc)) from exc
    for entry in loaded:
        click.echo(f"ok  {entry.path}  {entry.checklist.id} v{entry.checklist.version}  "
                   f"{len(entry.checklist.items)} items")
    from app.kpis import loader as kpi_loader
    try:
        kpi_files = kpi_loader.load_directory(settings.kpis_dir, checklist_keys=kpi_loader.keys_of(loaded))
    except kpi_loader.KpiDefinitionError as exc:
        raise click.ClickException(str(exc)) from exc
    for kpi_entry in kpi_files:
        click.echo(f"ok  {kpi_entry.path}  {kpi_entry.kpis.id} v{kpi_entry.kpis.version}  "
                   f"{len(kpi_entry.kpis.figures)} figures")


@main.command()
@click.option("--sections", default=60, show_default=True, help="number of 所属")
@click.option("--rounds", default=2, show_default=True, help="number of rounds (the newest stays open)")
@click.option("--seed", default=1, show_default=True, help="random seed (same seed, same data)")
@click.option("--checklist", "checklist_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="checklist file for every round (default: v1.yaml, and v2.yaml for the newest round)")
@click.option("--items", type=click.IntRange(1, 40), default=None,
              help="use a checklist of this many items (up to 40) built in code, for benchmark-size data")
@click.option("--if-empty", is_flag=True, help="do nothing when the database already has data")
@click.option("--no-history", is_flag=True, help="skip history events (faster for benchmark-size data)")
@click.option("--figure-months", type=click.IntRange(0, 120), default=24, show_default=True,
              help="months of measured figures (実績値) per 所属 before this month (0: none)")
def demo(sections: int, rounds: int, seed: int, checklist_path: Path | None, items: int | None, if_empty: bool,
         no_history: bool, figure_months: int) -> None:
    """Fill an empty database with demo data (organisation, users, rounds with answers).

    Benchmark size: ``paperless demo --sections 3000 --rounds 20 --items 40 --no-history``.
    """
    import time

    from app import demo as demo_data
    from app.db import make_engine, session_for

    settings = _settings()
    if sections < 1 or rounds < 1:
        raise click.ClickException("--sections and --rounds must be at least 1")
    if items is not None and checklist_path is not None:
        raise click.ClickException("use either --items or --checklist, not both")
    try:
        newest = None
        between: list = []
        if items is not None:
            checklist = demo_data.bench_checklist(items)
        elif checklist_path is not None:
            checklist = load_checklist(checklist_path)
        else:
            # By default the older rounds are on version 1 and the newest round on the newest version file
            # (a real version change); the versions in between are published too, unused by any round.
            files = demo_data.version_files(settings.checklists_dir / "paperless")
            checklist = load_checklist(files[0])
            if len(files) > 1:
                newest = load_checklist(files[-1])
                between = [load_checklist(f) for f in files[1:-1]]
    except ChecklistDefinitionError as exc:
        raise click.ClickException(str(exc)) from exc
    started = time.perf_counter()
    engine = make_engine(settings.database_url)
    try:
        with session_for(engine, write=True) as session:
            if not demo_data.is_empty(session):
                if if_empty:
                    click.echo("database already has data: demo data not loaded")
                    return
                raise click.ClickException("the database already has data; demo data goes only into an empty one")
            per_round = [len(checklist.checklist.items)] * rounds
            if newest is not None:
                per_round[-1] = len(newest.checklist.items)
            total = sections * sum(per_round)
            plan = demo_data.DemoPlan(sections=sections, rounds=rounds, seed=seed, history=not no_history)
            with click.progressbar(length=total, label="answers", file=sys.stderr) as bar:
                demo_data.load(session, checklist, plan, progress=bar.update, newest=newest, between=between)
            figure_values = demo_data.load_figures(session, _kpi_catalogue(settings), months=figure_months,
                                                   seed=seed, history=not no_history) if figure_months else 0
            session.commit()
        demo_data.refresh_statistics(engine)
    finally:
        engine.dispose()
    click.echo(f"demo data loaded: {sections} 所属, {rounds} rounds, {total:,} answers, {figure_values:,} figures "
               f"in {time.perf_counter() - started:.0f} s")


def _kpi_catalogue(settings):
    """The figure definitions in force (``kpis/``), for the demo's figures."""
    from app.kpis import loader as kpi_loader
    from app.kpis.catalogue import Catalogue

    try:
        return Catalogue.of(kpi_loader.load_directory(settings.kpis_dir))
    except kpi_loader.KpiDefinitionError as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def checklist() -> None:
    """Checklist versions: compare a file with the published versions, publish it."""


def _checklist_preview(session, path: Path):
    from app.checklists import publishing

    try:
        loaded = load_checklist(path)
    except ChecklistDefinitionError as exc:
        raise click.ClickException(str(exc)) from exc
    return loaded, publishing.preview(session, loaded)


@checklist.command("diff")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def checklist_diff(path: Path) -> None:
    """Show what PATH adds, removes, rewords and moves compared with the previous published version."""
    from app.checklists import publishing

    with _session() as session:
        _, preview = _checklist_preview(session, path)
        for line in publishing.report_lines(preview):
            click.echo(line)


@checklist.command("publish")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="publish without asking")
def checklist_publish(path: Path, yes: bool) -> None:
    """Publish PATH as a new checklist version (a published version never changes)."""
    from app.auth import service as auth_service
    from app.checklists import publishing
    from app.errors import AppError

    with _session(write=True) as session:
        loaded, preview = _checklist_preview(session, path)
        for line in publishing.report_lines(preview):
            click.echo(line)
        if preview.published is not None and preview.refusal is None:
            return
        if preview.refusal:
            raise click.ClickException(preview.refusal)
        if not yes and not click.confirm("この内容で公開しますか？（公開した版は変更できません）"):
            raise click.ClickException("公開を取りやめました。")
        try:
            version = publishing.publish_file(session, loaded, expected_sha256=preview.loaded.sha256)
        except AppError as exc:
            raise click.ClickException(exc.message) from exc
        auth_service.audit(session, "checklist_publish", label="cli",
                           detail={"checklist": version.checklist_id, "version": version.version, "path": loaded.path})
        session.commit()
        click.echo(f"公開しました: {version.checklist_id} 第{version.version}版")


@main.group("round")
def round_() -> None:
    """Rounds (調査回): list, create, open, close, reopen — the same as /admin/rounds."""


@round_.command("list")
def round_list() -> None:
    """Every round, newest first: id, state, fiscal year, title, checklist version, sheets."""
    from app.checklists import service as checklists
    from app.rounds import service as rounds
    from app.sheets import service as sheets

    with _session() as session:
        counts = sheets.sheet_counts(session)
        for r in rounds.list_rounds(session):
            version = checklists.get_definition(session, r.checklist_version_id).version
            click.echo(f"{r.id}\t{r.state_label}\t{r.fiscal_year}\t{r.title}\t"
                       f"{r.opens_on}〜{r.closes_on}\t第{version}版\t{counts.get(r.id, 0)}所属")


@round_.command("create")
@click.option("--fiscal-year", type=int, required=True, help="fiscal year (年度), e.g. 2026")
@click.option("--title", default="", help="default: 「令和8年度 第N回」 from the fiscal year")
@click.option("--opens", "opens_on", type=click.DateTime(formats=["%Y-%m-%d"]), required=True)
@click.option("--closes", "closes_on", type=click.DateTime(formats=["%Y-%m-%d"]), required=True)
@click.option("--checklist-version", "version", type=int, default=None,
              help="version of the paperless checklist (default: the newest published)")
def round_create(fiscal_year: int, title: str, opens_on, closes_on, version: int | None) -> None:
    """Create a round (準備中). Open it with `paperless round open ID`."""
    from app.checklists import service as checklists
    from app.errors import AppError
    from app.rounds import service as rounds

    with _session(write=True) as session:
        versions = [v for v in checklists.list_versions(session) if v.checklist_id == "paperless"]
        chosen = next((v for v in versions if version is None or v.version == version), None)
        if chosen is None:
            raise click.ClickException("その版のチェックシートは公開されていません"
                                       "（paperless checklist publish で公開してください）。")
        try:
            title = rounds.validate_new_round(session, fiscal_year=fiscal_year, title=title,
                                              checklist_version_id=chosen.id, opens_on=opens_on.date(),
                                              closes_on=closes_on.date())
            new = rounds.create_round(session, fiscal_year=fiscal_year, title=title, checklist_version_id=chosen.id,
                                      opens_on=opens_on.date(), closes_on=closes_on.date())
        except AppError as exc:
            raise click.ClickException(" ".join([exc.message, *exc.fields.values()])) from exc
        _audit_cli(session, "round_create", new)
        session.commit()
        click.echo(f"作成しました: {new.id} {new.title}（準備中）")


def _round_action(round_id: int, action: str, reason: str = "") -> None:
    from app.errors import AppError
    from app.jpdate import today_jst
    from app.rounds import service as rounds
    from app.sheets import service as sheets

    with _session(write=True) as session:
        try:
            target = rounds.get_round(session, round_id)
            if action == "open":
                count = sheets.open_round(session, target, on=max(target.opens_on, today_jst()))
                message = f"開始しました: {target.title}（{count}所属のチェックシートを作成）"
            elif action == "close":
                sheets.close_round(session, target)
                message = f"締め切りました: {target.title}"
            else:
                rounds.reopen_round(session, target, reason=reason, actor=None)
                message = f"再開しました: {target.title}"
        except AppError as exc:
            raise click.ClickException(exc.message) from exc
        _audit_cli(session, f"round_{action}", target, reason)
        session.commit()
        click.echo(message)


def _audit_cli(session, kind: str, target, reason: str = "") -> None:
    from app.auth import service as auth_service

    detail = {"round_id": target.id, "title": target.title, **({"reason": reason} if reason else {})}
    auth_service.audit(session, kind, label="cli", detail=detail)


@round_.command("open")
@click.argument("round_id", type=int)
def round_open(round_id: int) -> None:
    """Open a round: every 所属 in force gets its sheet."""
    _round_action(round_id, "open")


@round_.command("close")
@click.argument("round_id", type=int)
def round_close(round_id: int) -> None:
    """Close a round: read-only for everyone."""
    _round_action(round_id, "close")


@round_.command("reopen")
@click.argument("round_id", type=int)
@click.option("--reason", required=True, help="why (kept with the round and in the audit log)")
def round_reopen(round_id: int, reason: str) -> None:
    """Reopen a closed round, with the reason."""
    _round_action(round_id, "reopen", reason)


@main.command()
@click.argument("csv_path", metavar="CSV", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--on", "effective_on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="effective date, YYYY-MM-DD (default: 1 April of the fiscal year in progress)")
@click.option("--apply", "do_apply", is_flag=True, help="apply the changes (without it: preview only)")
def reorg(csv_path: Path, effective_on, do_apply: bool) -> None:
    """April reorganisation (組織改正) from CSV: show what changes; with --apply, apply it all or nothing."""
    from app.db import one_at_a_time
    from app.errors import AppError
    from app.jpdate import today_jst, wareki
    from app.reorg import csvfile
    from app.reorg import service as reorg_service
    from app.reorg.routes import default_effective_on

    on = effective_on.date() if effective_on else default_effective_on(today_jst())
    with _session(write=do_apply) as session:
        try:
            rows, row_errors = csvfile.parse(csv_path.read_bytes())
        except AppError as exc:
            raise click.ClickException(f"{csv_path}: {exc.message}") from exc
        if do_apply:
            one_at_a_time(session, "reorg")
        plan = reorg_service.plan(session, rows, on, row_errors)
        click.echo(f"{csv_path}: 効力発生日 {wareki(on)}（{on.isoformat()}）")
        for line in reorg_service.summary_lines(plan):
            click.echo(f"  {line}")
        for person in plan.to_reassign:
            click.echo(f"  所属の再設定が必要: {person.name} <{person.upn}>（{person.unit.name}）")
        for effect in plan.rounds:
            click.echo(f"  受付中の「{effect.round.title}」: 引き継ぐシート {len(effect.follow)}、"
                       f"新しく作るシート {len(effect.create)}")
        if plan.errors:
            for error in plan.errors:
                click.echo(f"  {error.line}行目: {error.message}", err=True)
            raise click.ClickException(f"誤りが{len(plan.errors)}件あります。何も変更していません。")
        if not do_apply:
            click.echo("確認のみ（変更していません）。適用するには --apply を付けてください。")
            return
        try:
            applied = reorg_service.apply(session, plan, today=today_jst(), label="cli", source=str(csv_path))
        except AppError as exc:
            raise click.ClickException(exc.message) from exc
        session.commit()
        click.echo(f"適用しました: {applied.changes}件の変更、所属の職員 {applied.memberships_moved}人を移動、"
                   f"チェックシート {applied.sheets_created}件を作成")


@main.command("reorg-apply-due")
def reorg_apply_due() -> None:
    """Apply the reorganisations scheduled for today or earlier (run daily, e.g. at 0:05 from a timer)."""
    from app.db import make_engine, session_for
    from app.jpdate import today_jst, wareki
    from app.reorg import service as reorg_service

    engine = make_engine(_settings().database_url)
    try:
        done = reorg_service.apply_due(lambda: session_for(engine, write=True), today_jst(),
                                       label="自動適用（paperless reorg-apply-due）")
    finally:
        engine.dispose()
    if not done:
        click.echo("適用する組織改正の予定はありません。")
    for row, result in done:
        if result:
            click.echo(f"適用しました: 効力発生日 {wareki(row.effective_on)}（{row.filename}）、{result.changes}件の変更")
        else:
            click.echo(f"適用できませんでした: 効力発生日 {wareki(row.effective_on)}（{row.filename}）\n{row.message}",
                       err=True)
    if any(result is None for _, result in done):
        raise SystemExit(1)


@contextmanager
def _session(write: bool = False):
    from app.db import make_engine, session_for

    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        with session_for(engine, write=write) as session:
            yield session
    finally:
        engine.dispose()


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="overwrite PATH if it exists")
def backup(path: Path, force: bool) -> None:
    """Write a consistent copy of the database to PATH (SQLite: online backup API; PostgreSQL: pg_dump)."""
    from app import backup as backups

    settings = _settings()
    try:
        summary = backups.backup(settings.database_url, path, force=force)
    except backups.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"backup written: {summary.path} ({summary.size_bytes:,} bytes, {summary.answers:,} answers)")


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="replace the data the database holds now")
def restore(path: Path, force: bool) -> None:
    """Bring the backup at PATH back into the configured database. Stop the app processes first."""
    from app import backup as backups

    settings = _settings()
    try:
        summary = backups.restore(settings.database_url, path, force=force)
    except backups.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"restored from {summary.path}: {summary.answers:,} answers. "
               "Run `paperless migrate` if the backup is from an older version, then start the app.")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", type=click.IntRange(min=1),
              help="worker processes [default: PAPERLESS_WORKERS, else 1 on SQLite, 2 on PostgreSQL; "
                   "more than 1 is refused on SQLite]")
@click.option("--reload", is_flag=True, help="restart on code changes (development)")
def serve(host: str, port: int, workers: int | None, reload: bool) -> None:
    """Run the web server (uvicorn)."""
    import uvicorn

    from app.main import create_app

    settings = _settings(web=True)
    workers = worker_count(workers, settings)
    try:
        create_app(settings).state.engine.dispose()  # fail fast, before uvicorn, on bad checklist files
    except ChecklistDefinitionError as exc:
        raise click.ClickException(str(exc)) from exc
    from app.notify import process as notify_process

    # The notice sender: a child process of its own (PAPERLESS_NOTIFY_SENDER=serve), not a thread of a worker
    # that serves pages; stopped after uvicorn has stopped (SIGTERM, Ctrl-C), and gone with serve in any case.
    sender = notify_process.start(settings)
    if sender is not None:
        # uvicorn (one worker) shuts down on SIGTERM, puts back the handler it found and raises the signal
        # again: this handler turns it into an orderly exit, so that the `finally` below stops the sender.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.run("app.main:create_app", factory=True, host=host, port=port, workers=workers, reload=reload,
                    server_header=False, log_level="info", **proxy_options(settings))
    finally:
        if sender is not None:
            sender.stop()


def _exit_on_sigterm(_signum, _frame) -> None:
    raise SystemExit(0)


def worker_count(asked: int | None, settings: Settings) -> int:
    """How many uvicorn workers to run: as asked (--workers, else PAPERLESS_WORKERS), else 1 on SQLite
    and 2 on PostgreSQL. More than one on SQLite is refused: see docs/operations.md."""
    workers = asked or settings.workers or (1 if settings.is_sqlite else 2)
    if workers > 1 and settings.is_sqlite:
        raise click.ClickException(
            f"{workers} workers on SQLite are refused: SQLite lets one process write at a time, and several "
            "worker processes fight over its write lock (a save then waits in SQLite's busy handler: p99 "
            "1.4 s measured with two workers). Run one worker (the default on SQLite), or use PostgreSQL "
            "(PAPERLESS_DATABASE_URL=postgresql+psycopg://...) to run more."
        )
    return workers


def proxy_options(settings: Settings) -> dict:
    """X-Forwarded-For / -Proto are believed only from PAPERLESS_TRUSTED_PROXIES (none by default)."""
    trusted = ",".join(part.strip() for part in settings.trusted_proxies.split(",") if part.strip())
    if not trusted:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


# --- export / import / tokens (excel branch) ----------------------------------------------------------


def _engine(settings: Settings):
    from app.db import make_engine

    return make_engine(settings.database_url)


@main.group()
def export() -> None:
    """Export a round: CSV (one row per 所属 × item) or XLSX (the sheet's layout + a summary)."""


def _export(fmt: str, round_id: int, bureau: str | None, section: str | None, output: str) -> None:
    from app.db import session_for
    from app.errors import AppError
    from app.excel import export as exporting
    from app.excel import writer

    settings = _settings()
    engine = _engine(settings)
    try:
        with session_for(engine) as session:
            bundle = exporting.gather(session, None, round_id, bureau=bureau, section=section,
                                      public_url=settings.public_url)
            if fmt == "csv":
                data = writer.write_csv(bundle)
            else:
                from dataclasses import replace

                from app.excel import figures_sheet
                from app.jpdate import today_jst

                bundle = replace(bundle, figures=figures_sheet.gather(
                    session, bundle.round.fiscal_year, bundle.sheets, _kpi_catalogue(settings), today_jst()))
                with click.progressbar(length=len(bundle.sheets), label="worksheets", file=sys.stderr) as bar:
                    data = writer.write_xlsx(bundle, progress=bar.update)
    except AppError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        engine.dispose()
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        try:
            Path(output).write_bytes(data)
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror}") from exc
        click.echo(f"wrote {output} ({len(bundle.sheets)} 所属, {len(data):,} bytes)", err=True)


def _export_options(command):
    command = click.option("-o", "--output", required=True, help="file to write ('-' for standard output)")(command)
    command = click.option("--section", default=None, help="only this 所属 (所属コード)")(command)
    command = click.option("--bureau", default=None, help="only this 部局 (部局コード)")(command)
    return click.option("--round", "round_id", required=True, type=int, help="round id (調査回)")(command)


@export.command("csv")
@_export_options
def export_csv(round_id: int, bureau: str | None, section: str | None, output: str) -> None:
    """CSV for Japanese Excel: UTF-8 with BOM, CRLF, ISO dates."""
    _export("csv", round_id, bureau, section, output)


@export.command("xlsx")
@_export_options
def export_xlsx(round_id: int, bureau: str | None, section: str | None, output: str) -> None:
    """XLSX: summary worksheets and the measured figures (実績値), then one worksheet per 所属 in the original
    sheet's layout."""
    _export("xlsx", round_id, bureau, section, output)


@main.group("import")
def import_group() -> None:
    """Import filled-in Excel sheets into a round."""


@import_group.command("xlsx")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--round", "round_id", required=True, type=int, help="round id (調査回) to import into")
@click.option("--apply", "apply_it", is_flag=True,
              help="write the answers (without it: a dry run that writes nothing)")
@click.option("--by", "by_upn", default=None, help="UPN of the admin recorded in the history as who imported")
def import_xlsx(files: tuple[Path, ...], round_id: int, apply_it: bool, by_upn: str | None) -> None:
    """Check FILES against the round and show what would change; with --apply, import them all or nothing.
    Exits 1 (and writes nothing) if any file, worksheet or row has an error."""
    from app.auth import permissions
    from app.auth import service as auth_service
    from app.db import session_for
    from app.errors import AppError
    from app.excel import importer, reader

    settings = _settings()
    limits = reader.Limits.from_settings(settings)
    contents = []
    for path in files:
        with path.open("rb") as handle:
            contents.append((path.name, handle.read(limits.max_file_bytes + 1)))
    try:
        with click.progressbar(length=len(contents), label="reading", file=sys.stderr) as bar:
            parsed = reader.read_upload(contents, limits, progress=bar.update)
    except AppError as exc:  # a limit of the whole run: PAPERLESS_IMPORT_* raise them for this command
        raise click.ClickException(exc.message) from exc
    engine = _engine(settings)
    try:
        with session_for(engine, write=apply_it) as session:
            actor = None
            if by_upn:
                user = auth_service.find_user_by_upn(session, by_upn)
                principal = auth_service.load_principal(session, user.id) if user else None
                if principal is None or permissions.why_not_admin(principal):
                    raise click.ClickException(f"--by {by_upn}: not an active admin user")
                actor = principal
            plan = importer.plan_import(session, round_id, parsed)
            _print_plan(plan)
            if not plan.ok:
                raise click.ClickException(f"{plan.error_count} error(s): nothing imported (取り込んでいません)")
            if not apply_it:
                click.echo(f"dry run: {len(plan.sheets)} 所属, {plan.change_count} answer(s) would change. "
                           "Nothing written; add --apply to import.")
                return
            sheets, answers = importer.apply_import(session, plan, actor=actor, actor_label=by_upn or "cli")
            session.commit()
    except AppError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        engine.dispose()
    click.echo(f"imported: {sheets} 所属, {answers} answer(s) into round {round_id}")


def _print_plan(plan) -> None:
    for f in plan.files:
        click.echo(f"{'ERROR' if f.error_count else 'ok   '} {f.name}")
        if f.error:
            click.echo(f"      {f.error}")
        for s in f.sheets:
            target = f"{s.section_code} {s.section_name}" if s.section_code else "所属不明"
            click.echo(f"      [{s.title}] → {target}: {len(s.changes)} change(s), {s.unchanged} unchanged")
            for e in s.errors:
                click.echo(f"        error: {e}")
            for w in s.warnings:
                click.echo(f"        note:  {w}")
            for c in s.changes:
                memo = " (memo changed)" if c.memo_changed else ""
                old, new = c.old_status or "未回答", c.new_status or "未回答"
                click.echo(f"        row {c.row}: {c.item_text}: {old} → {new}{memo}")


@main.group()
def token() -> None:
    """Personal read-only API tokens (Power BI / Power Query) for desk users and admins."""


def _token_user(session, upn: str):
    from app.auth import permissions
    from app.auth import service as auth_service

    user = auth_service.find_user_by_upn(session, upn)
    principal = auth_service.load_principal(session, user.id) if user else None
    if principal is None:
        raise click.ClickException(f"no active user {upn}")
    refusal = permissions.why_not_manage_tokens(principal)
    if refusal:
        raise click.ClickException(f"{upn}: {refusal}")
    return user


@token.command("create")
@click.option("--user", "upn", required=True, help="UPN of the desk user or admin")
@click.option("--days", required=True, type=int, help="days until it expires (1–366)")
@click.option("--name", default="APIトークン", show_default=True, help="what it is for")
def token_create(upn: str, days: int, name: str) -> None:
    """Create a token and print it once (only its SHA-256 is stored)."""
    from app.auth import tokens
    from app.db import session_for

    settings = _settings()
    engine = _engine(settings)
    try:
        with session_for(engine, write=True) as session:
            user = _token_user(session, upn)
            try:
                row, clear = tokens.create(session, user, name=name, days=days)
            except ValueError as exc:
                raise click.ClickException(str(exc)) from exc
            session.commit()
    finally:
        engine.dispose()
    click.echo(f"token {row.id} \"{row.name}\" for {user.upn}, expires {row.expires_at:%Y-%m-%d %H:%M} UTC. "
               "Shown once; keep it secret:", err=True)
    click.echo(clear)


@token.command("list")
@click.option("--user", "upn", required=True, help="UPN of the desk user or admin")
def token_list(upn: str) -> None:
    """List a user's tokens (never the tokens themselves)."""
    from app.auth import tokens
    from app.db import session_for
    from app.jpdate import now_utc

    settings = _settings()
    engine = _engine(settings)
    try:
        with session_for(engine) as session:
            user = _token_user(session, upn)
            now = now_utc()
            for row in tokens.list_for(session, user.id):
                state = "revoked" if row.revoked_at else "expired" if row.expires_at <= now else "active"
                click.echo(f"{row.id}\t{state}\t{row.expires_at:%Y-%m-%d}\t{row.name}")
    finally:
        engine.dispose()


@token.command("revoke")
@click.option("--user", "upn", required=True, help="UPN of the token's owner")
@click.argument("token_id", type=int)
def token_revoke(upn: str, token_id: int) -> None:
    """Revoke a token at once."""
    from app.auth import service as auth_service
    from app.auth import tokens
    from app.db import session_for
    from app.errors import AppError

    settings = _settings()
    engine = _engine(settings)
    try:
        with session_for(engine, write=True) as session:
            user = _token_user(session, upn)
            try:
                tokens.revoke(session, user.id, token_id)
            except AppError as exc:
                raise click.ClickException(exc.message) from exc
            auth_service.audit(session, "token_revoked", actor=user, label="cli", detail={"token_id": token_id})
            session.commit()
    finally:
        engine.dispose()
    click.echo(f"token {token_id} revoked")


# --- notifications ------------------------------------------------------------------------------------


@main.group()
def notify() -> None:
    """Notifications: send what waits in the outbox (for cron or a systemd timer)."""


@notify.command("run")
@click.option("--once", is_flag=True, help="send every due notice, then exit")
@click.option("--loop", is_flag=True,
              help="keep sending until SIGTERM or Ctrl-C (what `paperless serve` starts as its child process)")
@click.option("--watch-stdin", is_flag=True, hidden=True, help="with --loop: also stop when standard input ends")
@click.option("--reminders/--no-reminders", default=True, show_default=True,
              help="first enqueue today's automatic reminders of the rounds whose rule is on")
@click.option("--limit", type=click.IntRange(1), default=None, help="send at most this many")
def notify_run(once: bool, loop: bool, watch_stdin: bool, reminders: bool, limit: int | None) -> None:
    """Send the due notices once (SMTP relay, Teams): ``paperless notify run --once``."""
    import time

    import app.models  # noqa: F401  (every table, for the foreign keys of the outbox's rows)
    from app.db import make_engine
    from app.notify import sender

    if once == loop:
        raise click.UsageError("give exactly one of --once (cron, systemd timer) and --loop")
    settings = _settings()
    if loop:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
        sender.run_loop(settings, watch_stdin=watch_stdin)
        return
    engine = make_engine(settings.database_url, pool_size=2)
    started = time.perf_counter()
    try:
        queued = 0
        if reminders:
            from app.notify import reminders as reminder_rules

            queued = reminder_rules.run_due(engine)
        result = sender.Sender(engine, settings).run_once(limit=limit)
    finally:
        engine.dispose()
    click.echo(f"reminders queued {queued}; {result} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":  # `python -m app.cli`: how `paperless serve` starts its notice sender
    main()
