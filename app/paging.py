"""Paging of long lists (the desk's lists, users, the audit log, a sheet's history): one definition."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pager:
    """Page ``page`` (1-based) of ``total`` rows, ``per_page`` at a time."""

    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def first(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def last(self) -> int:
        return min(self.offset + self.per_page, self.total)

    @classmethod
    def of(cls, page: int, per_page: int, total: int) -> Pager:
        """A page number from a link, kept within the pages there are (an old link shows the last one)."""
        pages = max(1, -(-total // per_page))
        return cls(min(max(page, 1), pages), per_page, total)
