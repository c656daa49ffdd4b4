"""The main menu: each entry says who sees it. Add a line here when a page joins the menu."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.auth.permissions import Principal


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    visible: Callable[[Principal], bool] = lambda p: True


def _sections(p: Principal) -> bool:
    return bool(p.sections)


def _desk(p: Principal) -> bool:
    return p.sees_everything


def _admin(p: Principal) -> bool:
    return p.is_admin


NAV: tuple[NavItem, ...] = (
    NavItem("ホーム", "/"),
    NavItem("窓口の集計", "/desk", _desk),
)


def menu_for(principal: Principal | None, path: str) -> list[tuple[NavItem, bool]]:
    """Menu entries this person may see, each with whether it is the current page."""
    if principal is None:
        return []
    items = [item for item in NAV if item.visible(principal)]
    current = max((i for i in items if path == i.href or (i.href != "/" and path.startswith(i.href))),
                  key=lambda i: len(i.href), default=None)
    return [(item, item is current) for item in items]
