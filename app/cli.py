"""``paperless``: the one entry point the Makefile and the Dockerfile call.

    paperless migrate                 apply database migrations (alembic upgrade head)
    paperless demo [--if-empty] …     load demo data (only into an empty database)
    paperless serve [--host --port]   run the web server
    paperless check                   validate settings and every checklist file
    paperless checklist diff PATH     what a checklist file changes compared with the published versions
    paperless checklist publish PATH  publish a checklist file as a new version (after showing the diff)
    paperless round list|create|open|close|reopen   rounds (調査回), as on /admin/rounds
    paperless reorg CSV [--apply]     April reorganisation (組織改正) from a CSV: preview, then apply
"""

from __future__ import annotations

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
    """Validate the settings and every checklist file (exit 1 with a message on the first error)."""
    settings = _settings(web=True)
    try:
        loaded = load_directory(settings.checklists_dir)
    except ChecklistDefinitionError as exc:
        raise click.ClickException(str(exc)) from exc
    for entry in loaded:
        click.echo(f"ok  {entry.path}  {entry.checklist.id} v{entry.checklist.version}  "
                   f"{len(entry.checklist.items)} items")


@main.command()
@click.option("--sections", default=60, show_default=True, help="number of 所属")
@click.option("--rounds", default=2, show_default=True, help="number of rounds (the newest stays open)")
@click.option("--seed", default=1, show_default=True, help="random seed (same seed, same data)")
@click.option("--checklist", "checklist_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="checklist file for every round (default: v1.yaml, and v2.yaml for the newest round)")
@click.option("--if-empty", is_flag=True, help="do nothing when the database already has data")
@click.option("--no-history", is_flag=True, help="skip history events (faster for benchmark-size data)")
def demo(sections: int, rounds: int, seed: int, checklist_path: Path | None, if_empty: bool, no_history: bool) -> None:
    """Fill an empty database with demo data (organisation, users, rounds with answers)."""
    from app import demo as demo_data
    from app.db import make_engine, session_for

    settings = _settings()
    if sections < 1 or rounds < 1:
        raise click.ClickException("--sections and --rounds must be at least 1")
    path = checklist_path or settings.checklists_dir / "paperless" / "v1.yaml"
    try:
        checklist = load_checklist(path)
        # By default the newest round is on version 2, the older ones on version 1 (a real version change).
        newest = None if checklist_path else load_checklist(settings.checklists_dir / "paperless" / "v2.yaml")
    except ChecklistDefinitionError as exc:
        raise click.ClickException(str(exc)) from exc
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
                demo_data.load(session, checklist, plan, progress=bar.update, newest=newest)
            session.commit()
    finally:
        engine.dispose()
    click.echo(f"demo data loaded: {sections} 所属, {rounds} rounds, {total:,} answers")


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
    from app.rounds.models import ROUND_STATE_LABELS

    with _session() as session:
        counts = rounds.sheet_counts(session)
        for r in rounds.list_rounds(session):
            version = checklists.get_definition(session, r.checklist_version_id).version
            click.echo(f"{r.id}\t{ROUND_STATE_LABELS[r.state]}\t{r.fiscal_year}\t{r.title}\t"
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

    with _session(write=True) as session:
        try:
            target = rounds.get_round(session, round_id)
            if action == "open":
                count = rounds.open_round(session, target, on=max(target.opens_on, today_jst()))
                message = f"開始しました: {target.title}（{count}所属のチェックシートを作成）"
            elif action == "close":
                rounds.close_round(session, target)
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
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.option("--reload", is_flag=True, help="restart on code changes (development)")
def serve(host: str, port: int, workers: int, reload: bool) -> None:
    """Run the web server (uvicorn)."""
    import uvicorn

    from app.main import create_app

    settings = _settings(web=True)
    try:
        create_app(settings).state.engine.dispose()  # fail fast, before uvicorn, on bad checklist files
    except ChecklistDefinitionError as exc:
        raise click.ClickException(str(exc)) from exc
    uvicorn.run("app.main:create_app", factory=True, host=host, port=port, workers=workers, reload=reload,
                server_header=False, log_level="info", **proxy_options(settings))


def proxy_options(settings: Settings) -> dict:
    """X-Forwarded-For / -Proto are believed only from PAPERLESS_TRUSTED_PROXIES (none by default)."""
    trusted = ",".join(part.strip() for part in settings.trusted_proxies.split(",") if part.strip())
    if not trusted:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


if __name__ == "__main__":
    main()
