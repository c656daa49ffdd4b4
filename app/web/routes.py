"""The health check."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

router = APIRouter()


class Health(BaseModel):
    """The health check's answer."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})
    status: str = Field(description="`ok` when the database answers (503 with an error body otherwise)",
                        examples=["ok"])


@router.get("/healthz", tags=["health"], response_model=Health, responses={
    503: {"description": "The database does not answer (`status` unavailable, `code` unavailable)"}})
async def healthz(request: Request) -> JSONResponse:
    """200 ``{"status": "ok"}`` when the database answers, 503 otherwise."""

    def ping() -> None:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    try:
        async with request.app.state.db_gate.admit(write=False):
            await run_in_threadpool(ping)
    except SQLAlchemyError:
        body = {"status": "unavailable", "code": "unavailable", "detail": "データベースに接続できません。"}
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
    return JSONResponse({"status": "ok"})
