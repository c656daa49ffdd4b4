"""``paperless``: the one entry point the Makefile and the Dockerfile call.

    paperless migrate                 apply database migrations (alembic upgrade head)
    paperless demo [--if-empty] …     load demo data (only into an empty database)
    paperless serve [--host --port]   run the web server
    paperless check                   validate settings and every checklist file
    paperless backup PATH [--force]   write a consistent copy of the database (safe while serving)
    paperless restore PATH [--force]  bring a backup back (refuses to replace data without --force)
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


if __name__ == "__main__":
    main()
