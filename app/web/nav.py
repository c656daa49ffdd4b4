"""The main menu: each entry says who sees it. Add a line here when a page joins the menu."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol


class Principal(Protocol):
    """What the menu needs to know of the signed-in person (``app.auth.permissions.Principal``)."""

    is_admin: bool
    sections: Mapping[int, object]

    @property
    def sees_everything(self) -> bool: ...


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
    NavItem("推移・目標", "/trend", _sections),
    NavItem("伴走支援", "/support", _desk),
    NavItem("APIトークン", "/tokens", _desk),
    NavItem("通知設定", "/settings/notices"),
    NavItem("管理", "/admin", _admin),
)


# The desk's pages (窓口の集計), in the order of their tabs (templates/reports/_desk.html). The downloads
# page belongs to app.excel, the others to app.reports.
DESK_PAGES: tuple[tuple[str, str], ...] = (
    ("/desk/board", "提出状況"),
    ("/desk/heatmap", "ヒートマップ"),
    ("/desk/weak-items", "弱い項目"),
    ("/desk/quick-wins", "クイックウィン"),
    ("/desk/distribution", "成熟度の分布"),
    ("/desk/downloads", "ダウンロード"),
    ("/desk/figures", "実績値"),  # app.kpis
    ("/desk/reminders", "督促"),
)


@dataclass(frozen=True)
class AdminPage:
    """An entry on the admin index page (/admin). Add a line here when an admin page is added."""

    label: str
    href: str
    description: str


ADMIN_PAGES: tuple[AdminPage, ...] = (
    AdminPage("利用者の管理", "/admin/users",
              "利用者の一覧・検索、追加・変更・利用停止。所属と役割（職員・DX推進リーダー）、業務DX相談窓口・管理者の指定。"),
    AdminPage("利用者のCSV取り込み", "/admin/users-import",
              "UPN・表示名・所属コード・役割のCSVを、確認画面を見てから一括で取り込みます。"),
    AdminPage("監査ログ", "/admin/audit",
              "サインイン・サインイン失敗・サインアウト・役割の変更・利用者の変更の記録。期間・操作した人・種類で絞り込み、CSVで保存できます。"),
    AdminPage("調査回の管理", "/admin/rounds", "調査回の作成・開始・締切・再開（理由を記録）。"),
    AdminPage("チェックシートの版", "/admin/checklists", "新しい版（サーバーのファイルかアップロードしたYAML）の差分を確認してから公開します。公開済みの版は変更できません。"),
    AdminPage("Excel取り込み", "/admin/import", "紙・Excel時代の結果（元のシート様式のExcel）を調査回に取り込みます。確認してから一括で反映します。"),
    AdminPage("送信できなかった通知", "/admin/notices",
              "メール・Teamsで送れなかった通知と、その理由。原因を直してから「再送」します。"),
    AdminPage("通知先の設定", "/admin/notify-channels",
              "業務DX相談窓口と各部局の連絡先メールアドレス、Teams ワークフローの Webhook URL（暗号化して保存）。"),
    AdminPage("組織改正", "/admin/reorg", "4月の組織改正（名称変更・統合・分割・移管・新設・廃止）をCSVで確認してから反映します。"),
)


def menu_for(principal: Principal | None, path: str) -> list[tuple[NavItem, bool]]:
    """Menu entries this person may see, each with whether it is the current page."""
    if principal is None:
        return []
    items = [item for item in NAV if item.visible(principal)]
    current = max((i for i in items if path == i.href or (i.href != "/" and path.startswith(i.href))),
                  key=lambda i: len(i.href), default=None)
    return [(item, item is current) for item in items]
