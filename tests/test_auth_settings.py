"""Start-up refuses incomplete or unsafe sign-in settings, naming the setting."""

from __future__ import annotations

import pytest

from app.cli import proxy_options
from app.config import ConfigError, Settings
from app.main import create_app

GOOD = dict(
    env="production", auth="msal", secret_key="k" * 40, database_url="sqlite:////tmp/unused.db",
    entra_tenant_id="11111111-2222-3333-4444-555555555555",
    entra_client_id="aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    entra_client_secret="Zx8Q~realistic.secret_value-0123456789",
    entra_redirect_uri="https://paperless.pref.example.lg.jp/auth/callback",
)


def settings(**changes) -> Settings:
    values = {**GOOD, **changes}
    return Settings(_env_file=None, **{k: v for k, v in values.items() if v is not None})


def refusal(**changes) -> str:
    with pytest.raises(ConfigError) as info:
        settings(**changes).check()
    return str(info.value)


def test_complete_settings_start():
    s = settings()
    s.check()
    assert s.entra_authority == "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555"
    assert s.post_logout_redirect_uri == "https://paperless.pref.example.lg.jp/auth/signed-out"


def test_msal_is_the_default_sign_in():
    assert Settings(_env_file=None).auth == "msal"


@pytest.mark.parametrize("name, changes", [
    ("PAPERLESS_ENTRA_TENANT_ID", {"entra_tenant_id": ""}),
    ("PAPERLESS_ENTRA_TENANT_ID", {"entra_tenant_id": "your-tenant-id"}),
    ("PAPERLESS_ENTRA_TENANT_ID", {"entra_tenant_id": "00000000-0000-0000-0000-000000000000"}),
    ("PAPERLESS_ENTRA_CLIENT_ID", {"entra_client_id": ""}),
    ("PAPERLESS_ENTRA_CLIENT_ID", {"entra_client_id": "<client-id>"}),
    ("PAPERLESS_ENTRA_CLIENT_SECRET", {"entra_client_secret": ""}),
    ("PAPERLESS_ENTRA_CLIENT_SECRET", {"entra_client_secret": "change-me-change-me"}),
    ("PAPERLESS_ENTRA_CLIENT_SECRET", {"entra_client_secret": "<your secret here>"}),
    ("PAPERLESS_ENTRA_REDIRECT_URI", {"entra_redirect_uri": ""}),
    ("PAPERLESS_ENTRA_REDIRECT_URI", {"entra_redirect_uri": "/auth/callback"}),
    ("PAPERLESS_ENTRA_REDIRECT_URI", {"entra_redirect_uri": "http://paperless.pref.example.lg.jp/auth/callback"}),
    ("PAPERLESS_ENTRA_REDIRECT_URI", {"entra_redirect_uri": "https://paperless.pref.example.lg.jp/login"}),
    ("PAPERLESS_ENTRA_POST_LOGOUT_REDIRECT_URI", {"entra_post_logout_redirect_uri": "signed-out"}),
    ("PAPERLESS_ENTRA_AUTHORITY_HOST", {"entra_authority_host": "http://login.microsoftonline.com"}),
    ("PAPERLESS_ENTRA_AUTHORITY_HOST", {"entra_authority_host": "https://login.microsoftonline.com/common"}),
    ("PAPERLESS_ENTRA_CA_BUNDLE", {"entra_ca_bundle": "/nonexistent/ca.pem"}),
    ("PAPERLESS_ENTRA_CLIENT_CERTIFICATE_FILE", {"entra_client_certificate_file": "/nonexistent/app.pem"}),
    ("PAPERLESS_SECRET_KEY", {"secret_key": ""}),
    ("PAPERLESS_SECRET_KEY", {"secret_key": "short"}),
    ("PAPERLESS_SECRET_KEY", {"secret_key": "dev-only-not-secret-change-me"}),
    ("PAPERLESS_SECRET_KEY", {"env": "test", "secret_key": "change-me-please-to-a-long-random-value"}),
    ("PAPERLESS_TRUSTED_PROXIES", {"trusted_proxies": "proxy.example"}),
])
def test_a_missing_or_placeholder_setting_is_named(name, changes):
    assert name in refusal(**changes)


def test_dev_sign_in_is_refused_in_production_even_by_create_app():
    assert "PAPERLESS_AUTH=dev" in refusal(auth="dev")
    with pytest.raises(ConfigError, match="PAPERLESS_ENV=production"):
        create_app(settings(auth="dev"))


def test_secret_and_client_secret_may_come_from_files(tmp_path):
    (tmp_path / "key").write_text("s" * 48 + "\n")
    (tmp_path / "client").write_text("Zx8Q~from.a_file-0123456789\n")
    s = settings(secret_key="", secret_key_file=str(tmp_path / "key"), entra_client_secret="",
                 entra_client_secret_file=str(tmp_path / "client"))
    s.check()
    assert s.session_secret() == "s" * 48
    assert s.entra_client_secret.get_secret_value() == "Zx8Q~from.a_file-0123456789"


def test_a_certificate_may_replace_the_client_secret(tmp_path):
    cert = tmp_path / "app.pem"
    cert.write_text("-----BEGIN PRIVATE KEY-----\n")
    with_cert = settings(entra_client_secret="", entra_client_certificate_file=str(cert))
    with_cert.check()
    assert with_cert.entra_client_certificate_file == cert
    assert "PAPERLESS_ENTRA_CLIENT_CERTIFICATE_FILE" in refusal(entra_client_secret="")  # neither is refused
    assert "no such file" in refusal(entra_client_secret="", entra_client_certificate_file=str(tmp_path / "none.pem"))


def test_plain_http_redirect_uri_is_allowed_outside_production_only():
    local = settings(env="development", entra_redirect_uri="http://localhost:8000/auth/callback")
    local.check()
    assert local.post_logout_redirect_uri == "http://localhost:8000/auth/signed-out"
    assert "must use https in production" in refusal(entra_redirect_uri="http://localhost:8000/auth/callback")


def test_proxy_headers_are_trusted_only_from_configured_addresses():
    assert proxy_options(settings()) == {"proxy_headers": False}
    trusted = settings(trusted_proxies="10.0.0.5, 10.1.0.0/24")
    trusted.check()
    assert proxy_options(trusted) == {"proxy_headers": True, "forwarded_allow_ips": "10.0.0.5,10.1.0.0/24"}
