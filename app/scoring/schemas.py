"""The JSON shape of a score (a sheet, a category, a 所属 in a list): one definition for every API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.scoring.rules import Tally


class Score(BaseModel):
    maturity: float | None = Field(description="points / (max points × answered items) × 100; null if none answered")
    completion: float = Field(description="(answered + 該当なし) / all items × 100")
    total: int
    answered: int
    not_applicable: int
    unanswered: int

    @classmethod
    def of(cls, tally: Tally) -> Score:
        return cls(maturity=tally.maturity, completion=tally.completion, total=tally.total,
                   answered=tally.answered, not_applicable=tally.not_applicable, unanswered=tally.unanswered)


class CategoryScore(Score):
    name: str
