"""Path and query parameter types shared by pages and JSON: one definition each, so that a 所属 code or
a round id is validated alike wherever it arrives."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query

MAX_ID = 2**31 - 1
CODE_PATTERN = r"^[A-Za-z0-9_.\-]+$"

RoundId = Annotated[int, Path(ge=1, le=MAX_ID, description="調査回のID")]
Code = Annotated[str, Path(min_length=1, max_length=32, pattern=CODE_PATTERN, description="所属コード")]
ItemKey = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9.\-]*$",
                              description="チェック項目のキー")]
# ?round= on the desk's pages (absent: the current round)
RoundQ = Annotated[int | None, Query(alias="round", ge=1, le=MAX_ID, description="調査回のID（省略時は現在の調査回）")]
BureauQ = Annotated[str | None, Query(max_length=32, pattern=r"^[A-Za-z0-9_.\-]*$",
                                      description="部局コード (empty or absent: the whole prefecture)")]
PageQ = Annotated[int, Query(ge=1, le=1_000_000, description="ページ番号（1から）")]
# ?scope= on the desk's pages and JSON: which sheets the figures count (empty or absent: the round's default,
# submitted sheets only while it is open, every sheet once it is closed)
ScopeQ = Annotated[Literal["", "submitted", "confirmed", "all"], Query(
    description="which sheets the figures count: submitted (提出済の所属のみ), confirmed (確認済の所属のみ: "
                "submitted and every item 確認済 by the desk) or all (すべての所属); empty or "
                "absent: submitted while the round is open, all once it is closed")]
