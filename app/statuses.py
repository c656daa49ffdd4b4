"""The answer vocabulary (達成状況): the symbols, their meaning in the seed's legend, their default
points, and the lookalikes people type. A leaf: checklists, scoring and everything else import it."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Status(StrEnum):
    EXCELLENT = "◎"
    GOOD = "○"
    FAIR = "△"
    NOT_DONE = "×"  # 未対応
    NOT_APPLICABLE = "該当なし"

    @property
    def is_scored(self) -> bool:
        return self is not Status.NOT_APPLICABLE


SCORED_STATUSES: tuple[Status, ...] = (Status.EXCELLENT, Status.GOOD, Status.FAIR, Status.NOT_DONE)
DEFAULT_POINTS: Mapping[Status, int] = {
    Status.EXCELLENT: 3,
    Status.GOOD: 2,
    Status.FAIR: 1,
    Status.NOT_DONE: 0,
}
# The seed's legend (だいたいの目安): what each symbol means.
STATUS_LABELS: Mapping[Status, str] = {
    Status.EXCELLENT: "60%以上",
    Status.GOOD: "60～30%程度",
    Status.FAIR: "30%以下",
    Status.NOT_DONE: "未対応",
    Status.NOT_APPLICABLE: "この所属には該当しない",
}

# Lookalike characters people type or that Excel files carry, mapped to the canonical symbols.
_ALIASES: Mapping[str, Status] = {
    "◎": Status.EXCELLENT,
    "◉": Status.EXCELLENT,
    "○": Status.GOOD,
    "〇": Status.GOOD,
    "◯": Status.GOOD,
    "O": Status.GOOD,
    "△": Status.FAIR,
    "▲": Status.FAIR,
    "×": Status.NOT_DONE,
    "✕": Status.NOT_DONE,
    "✖": Status.NOT_DONE,
    "X": Status.NOT_DONE,
    "該当なし": Status.NOT_APPLICABLE,
    "N/A": Status.NOT_APPLICABLE,
    "NA": Status.NOT_APPLICABLE,
    "－": Status.NOT_APPLICABLE,
}


def parse_status(raw: str | None) -> Status | None:
    """Canonical status for what a person typed; '' or None is unanswered.

    Raises ValueError with a message a person can act on.
    """
    if raw is None:
        return None
    value = raw.strip().upper()
    if value == "":
        return None
    try:
        return _ALIASES[value]
    except KeyError:
        raise ValueError(
            f"達成状況「{raw.strip()[:20]}」は使えません。◎ ○ △ × 該当なし のいずれかを選んでください。"
        ) from None
