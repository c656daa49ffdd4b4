"""Alembic environment: the schema is ``SQLModel.metadata`` after importing every model.

The database URL comes from the caller (``app.migrate``) or, for the ``alembic`` command line,
from PAPERLESS_DATABASE_URL through the app's settings.
"""

from alembic import context

import app.models  # noqa: F401  (registers every table)
from app.config import get_settings
from app.db import make_engine, metadata

config = context.config


def _include_object(obj, name, type_, reflected, compare_to):
    return True


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.attributes.get("database_url") or get_settings().database_url
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=True,
        include_object=_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()
    if connection.in_transaction():
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run `paperless migrate`.")
run_migrations_online()
