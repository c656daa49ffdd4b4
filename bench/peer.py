"""A naive peer app: the yardstick for "what one UPDATE per request costs in this stack".

FastAPI + SQLModel, one table (id, status, memo, version). ``PUT /items/{id}`` takes ``{"status", "memo"}``,
runs one ``UPDATE … SET version = version + 1 … RETURNING`` in a plain ``Session(engine)``, commits and
returns the row as JSON. No sign-in, no CSRF, no history, no scores: deliberately naive, so that the
app's save can be compared with the least a save can cost on the same stack (uvicorn, FastAPI, SQLAlchemy,
the same database engine).

The benchmark driver (bench/throughput.py) fills and serves it; by hand, from the project root::

    .venv/bin/python bench/peer.py fill  --url sqlite:///var/bench/peer.db --rows 10000
    .venv/bin/python bench/peer.py serve --url sqlite:///var/bench/peer.db --port 8700 --workers 2

SQLite runs as the app runs it (WAL, ``synchronous=NORMAL``), so the comparison is engine for engine.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import Engine, event, text, update
from sqlmodel import Field, Session, SQLModel, create_engine

URL_VARIABLE = "PEER_DATABASE_URL"  # how the worker processes learn the database (uvicorn imports create_app)
STATUSES = ("◎", "○", "△", "×")


class PeerItem(SQLModel, table=True):
    __tablename__ = "peer_item"

    id: int | None = Field(default=None, primary_key=True)
    status: str | None = Field(default=None, max_length=20)
    memo: str = ""
    version: int = 0


class ItemIn(BaseModel):
    status: str | None
    memo: str


def make_engine(url: str) -> Engine:
    """An engine with SQLAlchemy's defaults, plus the app's SQLite settings (WAL, synchronous=NORMAL)."""
    if not url.startswith("sqlite"):
        return create_engine(url)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def fill(url: str, rows: int) -> None:
    """(Re)create the table and fill it with ``rows`` items."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    try:
        SQLModel.metadata.drop_all(engine, tables=[PeerItem.__table__])
        SQLModel.metadata.create_all(engine, tables=[PeerItem.__table__])
        with Session(engine) as session:
            session.execute(PeerItem.__table__.insert(), [
                {"id": i, "status": STATUSES[i % len(STATUSES)], "memo": f"item {i}", "version": 1}
                for i in range(1, rows + 1)
            ])
            session.commit()
    finally:
        engine.dispose()


def create_app() -> FastAPI:
    """The app (an application factory: uvicorn's workers each call it)."""
    engine = make_engine(os.environ[URL_VARIABLE])
    app = FastAPI(title="peer")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    @app.put("/items/{item_id}")
    def put_item(item_id: int, body: ItemIn) -> dict:
        with Session(engine) as session:
            row = session.execute(
                update(PeerItem)
                .where(PeerItem.id == item_id)
                .values(status=body.status, memo=body.memo, version=PeerItem.version + 1)
                .returning(PeerItem.id, PeerItem.status, PeerItem.memo, PeerItem.version)
            ).one_or_none()
            session.commit()
        if row is None:
            raise HTTPException(status_code=404)
        return dict(row._mapping)

    return app


def serve(url: str, host: str, port: int, workers: int) -> None:
    """Replace this process with uvicorn serving ``peer:create_app``.

    Through ``python -m uvicorn`` rather than ``uvicorn.run()``: a spawned worker re-imports the parent's
    main script, and this file as main script and as ``peer`` would define the table twice."""
    os.environ[URL_VARIABLE] = url  # inherited by the worker processes
    command = [sys.executable, "-m", "uvicorn", "peer:create_app", "--factory",
               "--app-dir", str(Path(__file__).resolve().parent), "--host", host, "--port", str(port),
               "--workers", str(workers), "--no-server-header", "--log-level", "info"]
    os.execv(sys.executable, command)  # noqa: S606 (our own interpreter)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fill_cmd = commands.add_parser("fill", help="(re)create and fill the table")
    fill_cmd.add_argument("--url", required=True, help="SQLAlchemy database URL")
    fill_cmd.add_argument("--rows", type=int, default=10_000)
    serve_cmd = commands.add_parser("serve", help="serve the peer with uvicorn")
    serve_cmd.add_argument("--url", required=True, help="SQLAlchemy database URL")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=8700)
    serve_cmd.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.command == "fill":
        fill(args.url, args.rows)
    else:
        serve(args.url, args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
