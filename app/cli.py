"""``paperless``: the one entry point the Makefile and the Dockerfile call.

    paperless migrate                 apply database migrations (alembic upgrade head)
    paperless demo [--if-empty] …     load demo data (only into an empty database)
    paperless serve [--host --port]   run the web server
    paperless check                   validate settings and every checklist file
    paperless export csv|xlsx …       export a round (all, --bureau CODE or --section CODE) to a file
    paperless import xlsx FILES …     import filled-in Excel sheets into a round (dry run unless --apply)
    paperless token create|list|revoke  personal read-only API tokens
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from app.checklists.loader import ChecklistDefinitionError, load_checklist, load_directory
from app.config import ConfigError, Settings, get_settings


def _settings() -> Settings:
    try:
        settings = get_settings()
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
    settings = _settings()
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
              default=None, help="checklist file to use (default: checklists/paperless/v1.yaml)")
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
            total = sections * rounds * len(checklist.checklist.items)
            plan = demo_data.DemoPlan(sections=sections, rounds=rounds, seed=seed, history=not no_history)
            with click.progressbar(length=total, label="answers", file=sys.stderr) as bar:
                demo_data.load(session, checklist, plan, progress=bar.update)
            session.commit()
    finally:
        engine.dispose()
    click.echo(f"demo data loaded: {sections} 所属, {rounds} rounds, {total:,} answers")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.option("--reload", is_flag=True, help="restart on code changes (development)")
def serve(host: str, port: int, workers: int, reload: bool) -> None:
    """Run the web server (uvicorn)."""
    import uvicorn

    from app.main import create_app

    try:
        create_app(_settings())  # fail fast, before uvicorn, on bad settings or checklist files
    except ChecklistDefinitionError as exc:
        raise click.ClickException(str(exc)) from exc
    uvicorn.run("app.main:create_app", factory=True, host=host, port=port, workers=workers, reload=reload,
                proxy_headers=False, server_header=False, log_level="info")


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
            bundle = exporting.gather(session, None, round_id, bureau=bureau, section=section)
            if fmt == "csv":
                data = writer.write_csv(bundle)
            else:
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
    """XLSX: a summary worksheet, then one worksheet per 所属 in the original sheet's layout."""
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
    parsed = []
    with click.progressbar(files, label="reading", file=sys.stderr) as bar:
        for path in bar:
            with path.open("rb") as handle:
                data = handle.read(settings.max_upload_bytes + 1)
            parsed.append(reader.read_xlsx(path.name, data, max_bytes=settings.max_upload_bytes))
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


if __name__ == "__main__":
    main()
