"""JSON shapes shared by every API module: how a 所属, a 部局, a round and a page are referenced. One shape
each, so that a Power Query written against one endpoint reads the same names in every other:

* a 所属 is always ``section: {code, name}``, a 部局 always ``bureau: {code, name}``;
* a round is ``round: {id, title}`` (or ``round_id`` alone where a body sends it back);
* a page of a list is ``page: {page, per_page, pages, total}``;
* ``sections`` is always a number of 所属, never a list.

Imports nothing of the domain (``app/web`` stays below every package)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SectionRef(BaseModel):
    """A 所属 (section)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"code": "1001", "name": "総務課"}]})
    code: str = Field(description="所属コード (stable across renames within a fiscal year)", examples=["1001"])
    name: str = Field(description="所属名", examples=["総務課"])


class BureauRef(BaseModel):
    """A 部局 (bureau): the group of 所属 a figure is averaged over."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"code": "10", "name": "経営管理部"}]})
    code: str = Field(description="部局コード", examples=["10"])
    name: str = Field(description="部局名", examples=["経営管理部"])


class RoundRef(BaseModel):
    """A round (調査回)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"id": 2, "title": "令和8年度 第1回"}]})
    id: int = Field(description="調査回のID (the {round_id} of the URLs)", examples=[2])
    title: str = Field(description="調査回の名称", examples=["令和8年度 第1回"])


class PageOut(BaseModel):
    """Which page of a list this response holds."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"page": 1, "per_page": 100, "pages": 30,
                                                               "total": 2950}]})
    page: int = Field(description="this page (from 1; a page past the end gives the last page)", examples=[1])
    per_page: int = Field(description="rows per page, as asked for", examples=[100])
    pages: int = Field(description="number of pages (at least 1)", examples=[30])
    total: int = Field(description="rows over all pages", examples=[2950])


class PriorStatusOut(BaseModel):
    """A 所属's status of an item in an earlier round (round-to-round changes)."""

    section: SectionRef = Field(description="the 所属 in the earlier round: itself, or a predecessor")
    status: str | None = Field(description="its status there: ◎ ○ △ × 該当なし, or null (unanswered)", examples=["△"])


def section_ref(unit) -> SectionRef:
    """From anything with a ``code`` and a ``name`` (a ``Unit``, a listed sheet, …)."""
    return SectionRef(code=unit.code, name=unit.name)


def bureau_ref(unit) -> BureauRef:
    return BureauRef(code=unit.code, name=unit.name)


def round_ref(round_) -> RoundRef:
    return RoundRef(id=round_.id, title=round_.title)


def page_out(pager) -> PageOut:
    """From anything with ``page``, ``per_page``, ``pages`` and ``total`` (``reports.service.Pager``)."""
    return PageOut(page=pager.page, per_page=pager.per_page, pages=pager.pages, total=pager.total)


def prior_statuses(before) -> list[PriorStatusOut]:
    """From ``[(unit, status or None)]`` (``trend.service.ItemComparison.before``)."""
    return [PriorStatusOut(section=section_ref(unit), status=s.value if s else None) for unit, s in before]
