"""The JSON shape of a score (a sheet, a category, a 所属 in a list): one definition for every API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.scoring.rules import Tally


class Score(BaseModel):
    maturity: float | None = Field(description="成熟度: points / (max points × answered items) × 100, one decimal; "
                                               "null if nothing is answered ◎ ○ △ ×", examples=[55.6])
    completion: float = Field(description="回答率: (answered + 該当なし) / all items × 100", examples=[100.0])
    total: int = Field(description="number of items", examples=[6])
    answered: int = Field(description="items answered ◎ ○ △ ×", examples=[6])
    not_applicable: int = Field(description="items answered 該当なし", examples=[0])
    unanswered: int = Field(description="items without an answer", examples=[0])

    @classmethod
    def of(cls, tally: Tally) -> Score:
        return cls(maturity=tally.maturity, completion=tally.completion, total=tally.total,
                   answered=tally.answered, not_applicable=tally.not_applicable, unanswered=tally.unanswered)


class CategoryScore(Score):
    name: str = Field(description="カテゴリ", examples=["会議"])
