"""Settings: the only module that reads environment variables (prefix ``PAPERLESS_``)."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_PATH = PROJECT_ROOT / "var" / "paperless.db"
DEV_SECRET_KEY = "dev-only-not-secret-change-me"  # noqa: S105 — refused in production by check()
ENTRA_AUTHORITY_HOST = "https://login.microsoftonline.com"
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Words that betray a value copied from an example instead of the real one.
PLACEHOLDER_WORDS = ("change", "placeholder", "your", "example-secret", "todo", "<", ">")


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message names the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAPERLESS_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "production"
    database_url: str = f"sqlite:///{DEFAULT_DB_PATH}"
    # Database connections per process (a fixed pool, no overflow), and how long a request waits for one
    # before it gets a 503 "busy, retry" (see app/db.py, DbGate).
    db_pool_size: int = 5
    db_wait_seconds: float = 5.0
    # Web server processes (`paperless serve`); default 1 on SQLite (more is refused), 2 on PostgreSQL.
    workers: int | None = None
    auth: Literal["dev", "msal"] = "msal"
    secret_key: SecretStr = SecretStr("")
    secret_key_file: Path | None = None

    # Sessions: idle and absolute lifetimes, in minutes.
    session_idle_minutes: int = 60
    session_max_minutes: int = 10 * 60

    # Where the checklist definition files live.
    checklists_dir: Path = PROJECT_ROOT / "checklists"
    # Where the figure definition files (実績値, kpis/<id>/v<N>.yaml) live.
    kpis_dir: Path = PROJECT_ROOT / "kpis"

    # Request bodies larger than this are refused before they are read in full.
    max_body_bytes: int = 1_000_000
    max_upload_bytes: int = 10_000_000

    # Excel import, per upload (every file of one preview or one `paperless import xlsx` run together).
    # See docs/excel.md; past any of these the whole upload is refused, naming the limit and the file.
    import_max_expanded_bytes: PositiveInt = 50_000_000  # unzipped size of all files
    import_max_shared_strings: PositiveInt = 100_000  # <si> entries of all files, counted before parsing
    import_time_budget_seconds: PositiveFloat = 30.0  # reading all files

    # Evidence on an answer (根拠資料, docs/architecture.md): links whose scheme and host are allowed (comma-separated;
    # "*.example.com" = any subdomain; javascript:, file: and data: are never allowed, whatever is set here), and
    # files (PDF, PNG, JPEG, XLSX, DOCX, judged from their content) stored in the database. Keep the file limit
    # below max_upload_bytes: past that the body limit answers first (413, without naming the file's limit).
    evidence_schemes: str = "https"
    evidence_hosts: str = "*.sharepoint.com,teams.microsoft.com"
    evidence_max_file_bytes: PositiveInt = 5_000_000
    evidence_max_files: PositiveInt = 5  # per answer
    evidence_max_links: PositiveInt = 10  # per answer
    evidence_zip_max_entries: PositiveInt = 1000  # XLSX/DOCX: entries in the central directory
    evidence_zip_max_total_bytes: PositiveInt = 50_000_000  # XLSX/DOCX: unzipped size of all entries
    evidence_zip_max_ratio: PositiveInt = 100  # XLSX/DOCX: an entry's size / its compressed size (over 1 MB)

    # Who to ask when sign-in is refused (shown on the refusal page).
    desk_contact: str = "業務DX相談窓口（デジタル化推進室）内線 0000"

    # Microsoft Entra ID sign-in (PAPERLESS_AUTH=msal). See docs/auth.md.
    entra_tenant_id: str = ""  # directory (tenant) GUID; the only tenant whose people may sign in
    entra_client_id: str = ""  # application (client) GUID of the app registration
    entra_client_secret: SecretStr = SecretStr("")
    entra_client_secret_file: Path | None = None
    # Instead of a secret: a certificate (PEM with the private key and the certificate, or PFX/P12).
    entra_client_certificate_file: Path | None = None
    entra_client_certificate_passphrase: SecretStr = SecretStr("")
    entra_authority_host: str = ENTRA_AUTHORITY_HOST
    entra_redirect_uri: str = ""  # absolute, exactly as registered: https://host/auth/callback
    # Where Entra returns after sign-out; default: /auth/signed-out on the redirect URI's host.
    entra_post_logout_redirect_uri: str = ""
    entra_ca_bundle: Path | None = None  # PEM file to trust for the authority (TLS-inspecting proxy, tests)

    # Reverse proxies whose X-Forwarded-* headers are trusted (comma-separated IPs or networks).
    # Empty: proxy headers are ignored.
    trusted_proxies: str = ""

    # Notifications (docs/notifications.md). The app's own address, for the links in notices.
    public_url: str = "http://localhost:8000"
    # Mail through the office's SMTP relay. Empty host: mail notices wait in the outbox (nothing is lost).
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_password_file: Path | None = None
    smtp_from: str = ""  # the From address, e.g. paperless-noreply@pref.toyama.lg.jp
    smtp_timeout_seconds: PositiveFloat = 30.0
    smtp_ca_bundle: Path | None = None  # PEM to trust for STARTTLS (an internal CA)
    # Who sends: "serve" = a child process that `paperless serve` starts and stops (`paperless notify run --loop`;
    # one sender across processes by a PostgreSQL advisory lock); "off" = only `paperless notify run --once`
    # (cron / systemd timer).
    notify_sender: Literal["serve", "off"] = "serve"
    notify_interval_seconds: PositiveFloat = 30.0
    # The most notices sent per second (0 = as fast as the relay takes them). The sender is a process of its own
    # (~3 ms CPU per mail, docs/benchmarks.md), so pacing no longer protects the pages' GIL; it keeps the relay's
    # limits (office relays throttle bursts) and the cores shared with the pages calm: 400 reminders take 40 s.
    notify_max_per_second: NonNegativeFloat = 10.0
    # How long a claimed notice is a sender's before another may take it (longer than any one send).
    notify_lease_seconds: PositiveInt = 300
    # Teams Workflows webhooks: the hosts a URL may point at (comma-separated, * = any labels), https only.
    teams_webhook_hosts: str = "*.logic.azure.com,*.powerplatform.com,*.api.powerplatform.com"
    teams_ca_bundle: Path | None = None  # PEM to trust for the webhook (TLS-inspecting proxy, tests)
    teams_timeout_seconds: PositiveFloat = 20.0
    # Key for the stored webhook URLs (Fernet, urlsafe base64 of 32 bytes) in a file; default: derived from
    # PAPERLESS_SECRET_KEY (changing that key then makes the stored URLs unreadable: enter them again).
    notify_key_file: Path | None = None

    @model_validator(mode="after")
    def _load_secret_file(self) -> Settings:
        if self.secret_key_file and not self.secret_key.get_secret_value():
            self.secret_key = SecretStr(self.secret_key_file.read_text(encoding="utf-8").strip())
        if self.entra_client_secret_file and not self.entra_client_secret.get_secret_value():
            try:
                value = self.entra_client_secret_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(
                    f"PAPERLESS_ENTRA_CLIENT_SECRET_FILE: cannot read {self.entra_client_secret_file} ({exc})"
                ) from exc
            self.entra_client_secret = SecretStr(value)
        if self.smtp_password_file and not self.smtp_password.get_secret_value():
            try:
                value = self.smtp_password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"PAPERLESS_SMTP_PASSWORD_FILE: cannot read {self.smtp_password_file} ({exc})") from exc
            self.smtp_password = SecretStr(value)
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def cookie_secure(self) -> bool:
        return self.env == "production"

    @property
    def entra_authority(self) -> str:
        return f"{self.entra_authority_host.rstrip('/')}/{self.entra_tenant_id}"

    @property
    def post_logout_redirect_uri(self) -> str:
        if self.entra_post_logout_redirect_uri:
            return self.entra_post_logout_redirect_uri
        parts = urlsplit(self.entra_redirect_uri)
        return f"{parts.scheme}://{parts.netloc}/auth/signed-out"

    def check(self) -> None:
        """Refuse to start with unsafe or incomplete settings (message names the setting)."""
        secret = self.secret_key.get_secret_value()
        if self.auth == "dev" and self.env == "production":
            raise ConfigError(
                "PAPERLESS_AUTH=dev (development sign-in) is refused when PAPERLESS_ENV=production."
            )
        if (self.env == "production" or self.auth == "msal") and (
            not secret or secret == DEV_SECRET_KEY or len(secret) < 32 or _placeholder(secret)
        ):
            raise ConfigError(
                "PAPERLESS_SECRET_KEY (or PAPERLESS_SECRET_KEY_FILE) must be set to a random value "
                "of at least 32 characters in production and with PAPERLESS_AUTH=msal."
            )
        if not 1 <= self.db_pool_size <= 100:
            raise ConfigError(f"PAPERLESS_DB_POOL_SIZE must be between 1 and 100 (default 5), not {self.db_pool_size}.")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"PAPERLESS_WORKERS must be 1 or more, not {self.workers}.")
        if not 0 < self.db_wait_seconds <= 300:
            raise ConfigError(
                f"PAPERLESS_DB_WAIT_SECONDS must be more than 0 and at most 300 (default 5), not {self.db_wait_seconds}."
            )
        for part in filter(None, (p.strip() for p in self.trusted_proxies.split(","))):
            try:
                if part != "*":
                    ipaddress.ip_network(part, strict=False)
            except ValueError as exc:
                raise ConfigError(
                    f"PAPERLESS_TRUSTED_PROXIES: {part!r} is not an IP address or network (e.g. 10.0.0.5,10.1.0.0/24)."
                ) from exc
        for scheme in filter(None, (s.strip().lower() for s in self.evidence_schemes.split(","))):
            if scheme in ("javascript", "file", "data", "vbscript") or scheme.endswith(":"):
                raise ConfigError(f"PAPERLESS_EVIDENCE_SCHEMES: {scheme!r} is not allowed (e.g. https or https,http).")
        if self.auth == "msal":
            self._check_entra()
        self._check_notify()

    def _check_notify(self) -> None:
        public = urlsplit(self.public_url)
        if public.scheme not in ("http", "https") or not public.hostname:
            raise ConfigError(f"PAPERLESS_PUBLIC_URL must be the app's absolute URL (https://host), not {self.public_url!r}.")
        if self.smtp_host and "@" not in self.smtp_from:
            raise ConfigError("PAPERLESS_SMTP_FROM (the sender's mail address) is required with PAPERLESS_SMTP_HOST.")
        if self.smtp_host and not 1 <= self.smtp_port <= 65535:
            raise ConfigError(f"PAPERLESS_SMTP_PORT must be a port number (25, 587), not {self.smtp_port}.")
        for name, path in (("SMTP_CA_BUNDLE", self.smtp_ca_bundle), ("TEAMS_CA_BUNDLE", self.teams_ca_bundle),
                           ("NOTIFY_KEY_FILE", self.notify_key_file)):
            if path is not None and not path.is_file():
                raise ConfigError(f"PAPERLESS_{name}: no such file {path}.")

    def _check_entra(self) -> None:
        for name, value in (("TENANT_ID", self.entra_tenant_id), ("CLIENT_ID", self.entra_client_id)):
            if not value:
                raise ConfigError(f"PAPERLESS_ENTRA_{name} is required with PAPERLESS_AUTH=msal.")
            if not GUID.match(value) or set(value) <= {"0", "-"}:
                raise ConfigError(
                    f"PAPERLESS_ENTRA_{name} must be the GUID shown in the Entra app registration "
                    f"(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), not {value!r}."
                )
        secret = self.entra_client_secret.get_secret_value()
        cert = self.entra_client_certificate_file
        if cert is not None:
            if not cert.is_file():
                raise ConfigError(f"PAPERLESS_ENTRA_CLIENT_CERTIFICATE_FILE: no such file {cert}.")
        elif not secret:
            raise ConfigError(
                "PAPERLESS_ENTRA_CLIENT_SECRET (or PAPERLESS_ENTRA_CLIENT_SECRET_FILE, or "
                "PAPERLESS_ENTRA_CLIENT_CERTIFICATE_FILE) is required with PAPERLESS_AUTH=msal."
            )
        elif _placeholder(secret) or len(secret) < 16:
            raise ConfigError(
                "PAPERLESS_ENTRA_CLIENT_SECRET looks like a placeholder: set the secret's value from the "
                "Entra app registration (証明書とシークレット)."
            )
        host = urlsplit(self.entra_authority_host)
        if host.scheme != "https" or not host.hostname or host.path not in ("", "/"):
            raise ConfigError(
                "PAPERLESS_ENTRA_AUTHORITY_HOST must be an https URL without a path "
                f"(default {ENTRA_AUTHORITY_HOST}), not {self.entra_authority_host!r}."
            )
        for name, value in (("REDIRECT_URI", self.entra_redirect_uri),
                            ("POST_LOGOUT_REDIRECT_URI", self.entra_post_logout_redirect_uri)):
            if name == "POST_LOGOUT_REDIRECT_URI" and not value:
                continue
            if not value:
                raise ConfigError(
                    f"PAPERLESS_ENTRA_{name} is required with PAPERLESS_AUTH=msal "
                    "(absolute, exactly as registered in Entra, e.g. https://paperless.example.lg.jp/auth/callback)."
                )
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname or _placeholder(value):
                raise ConfigError(f"PAPERLESS_ENTRA_{name} must be an absolute URL, not {value!r}.")
            if self.env == "production" and parts.scheme != "https":
                raise ConfigError(f"PAPERLESS_ENTRA_{name} must use https in production (behind a proxy too).")
        if urlsplit(self.entra_redirect_uri).path != "/auth/callback":
            raise ConfigError("PAPERLESS_ENTRA_REDIRECT_URI must end with the path /auth/callback.")
        if self.entra_ca_bundle is not None and not self.entra_ca_bundle.is_file():
            raise ConfigError(f"PAPERLESS_ENTRA_CA_BUNDLE: no such file {self.entra_ca_bundle}.")

    def session_secret(self) -> str:
        return self.secret_key.get_secret_value() or DEV_SECRET_KEY


def _placeholder(value: str) -> bool:
    lowered = value.lower()
    return any(word in lowered for word in PLACEHOLDER_WORDS)


@lru_cache
def get_settings() -> Settings:
    return Settings()
