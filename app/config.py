"""Settings: the only module that reads environment variables (prefix ``PAPERLESS_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_PATH = PROJECT_ROOT / "var" / "paperless.db"
DEV_SECRET_KEY = "dev-only-not-secret-change-me"  # noqa: S105 — refused in production by check()


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message names the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAPERLESS_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "production"
    database_url: str = f"sqlite:///{DEFAULT_DB_PATH}"
    auth: Literal["dev", "msal"] = "msal"
    secret_key: SecretStr = SecretStr("")
    secret_key_file: Path | None = None

    # Sessions: idle and absolute lifetimes, in minutes.
    session_idle_minutes: int = 60
    session_max_minutes: int = 10 * 60

    # Where the checklist definition files live.
    checklists_dir: Path = PROJECT_ROOT / "checklists"

    # Request bodies larger than this are refused before they are read in full.
    max_body_bytes: int = 1_000_000
    max_upload_bytes: int = 10_000_000

    # Who to ask when sign-in is refused (shown on the refusal page).
    desk_contact: str = "業務DX相談窓口（デジタル化推進室）内線 0000"

    @model_validator(mode="after")
    def _load_secret_file(self) -> Settings:
        if self.secret_key_file and not self.secret_key.get_secret_value():
            self.secret_key = SecretStr(self.secret_key_file.read_text(encoding="utf-8").strip())
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def cookie_secure(self) -> bool:
        return self.env == "production"

    def check(self) -> None:
        """Refuse to start with unsafe or incomplete settings (message names the setting)."""
        secret = self.secret_key.get_secret_value()
        if self.auth == "dev" and self.env == "production":
            raise ConfigError(
                "PAPERLESS_AUTH=dev (development sign-in) is refused when PAPERLESS_ENV=production."
            )
        if self.env == "production" and (not secret or secret == DEV_SECRET_KEY or len(secret) < 32):
            raise ConfigError(
                "PAPERLESS_SECRET_KEY (or PAPERLESS_SECRET_KEY_FILE) must be set to a random value "
                "of at least 32 characters in production."
            )

    def session_secret(self) -> str:
        return self.secret_key.get_secret_value() or DEV_SECRET_KEY


@lru_cache
def get_settings() -> Settings:
    return Settings()
