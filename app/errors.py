"""Status-carrying errors raised by services; ``app.web.errors`` renders them (page, fragment or JSON)."""

from __future__ import annotations


class AppError(Exception):
    status_code = 500
    code = "internal"  # the API error body's machine-readable ``code`` (see app/web/openapi.py ErrorCode)
    default_message = "処理できませんでした。"

    def __init__(self, message: str | None = None, *, fields: dict[str, str] | None = None, **extra):
        self.message = message or self.default_message
        self.fields = fields or {}
        self.extra = extra
        super().__init__(self.message)


class LoginRequired(AppError):
    status_code = 401
    code = "login_required"
    default_message = "サインインしてください。"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    default_message = "この操作を行う権限がありません。"


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    default_message = "お探しのものが見つかりません。"


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    default_message = "他の方が先に更新しました。画面を確認してください。"


class TooLarge(AppError):
    status_code = 413
    code = "too_large"
    default_message = "データが大きすぎます。分けて送ってください。"


class InvalidInput(AppError):
    status_code = 422
    code = "invalid_input"
    default_message = "入力内容を確認してください。"


class Unavailable(AppError):
    status_code = 503
    code = "unavailable"
    default_message = "データベースに接続できません。しばらくしてから再度お試しください。"


class Busy(Unavailable):
    """Every database connection of this process stayed busy for PAPERLESS_DB_WAIT_SECONDS."""

    code = "busy"
    default_message = (
        "ただいまサーバーが混み合っています。この操作はまだ反映されていません。"
        "数秒待ってから、もう一度お試しください。"
    )
