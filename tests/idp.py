"""A real OpenID Connect provider for sign-in tests: oidc-provider-mock served over TLS on 127.0.0.1
with a certificate made at test time, mounted at /<tenant>/v2.0 so that MSAL's Entra-style discovery
URL resolves. In front of its token endpoint, ``EntraTokenRules`` checks the client secret and PKCE as Entra
ID does (the mock accepts any secret and ignores PKCE). Import the fixtures into a test module:
``from tests.idp import idp_fixture, idp_server_fixture, tls_cert_fixture  # noqa: F401``.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import ipaddress
import json
import secrets
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import jwt
import oidc_provider_mock
import pytest
import werkzeug.serving
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware

TENANT = "11111111-2222-3333-4444-555555555555"
OTHER_TENANT = "99999999-8888-7777-6666-555555555555"
CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
CLIENT_SECRET = "test-client-secret-0123456789"


def _user(sub: str, upn: str, name: str, *, roles=(), tid: str = TENANT, n: int) -> oidc_provider_mock.User:
    return oidc_provider_mock.User(sub=sub, claims={
        "oid": f"00000000-0000-0000-0000-{n:012d}", "tid": tid, "name": name,
        "preferred_username": upn, "roles": list(roles)})


# People in the provider. Their UPNs match the ``world`` fixture's directory where they should.
USERS = [
    _user("member.a1", "member.a1@test.example", "職員 A1（Entra）", n=1),
    _user("leader.a1", "Leader.A1@test.example", "リーダー A1（Entra）", n=2),
    _user("member.b1", "member.b1@test.example", "職員 B1（Entra）", n=3),
    _user("desk.role", "desk.role@test.example", "窓口（アプリロール）", roles=["ConsultationDesk"], n=4),
    _user("admin.role", "admin.role@test.example", "管理者（アプリロール）", roles=["Admin", "Unknown"], n=5),
    _user("stranger", "stranger@test.example", "未登録の人", n=6),
    _user("outsider", "outsider@other.example", "他テナントの人", roles=["Admin"], tid=OTHER_TENANT, n=7),
    _user("disabled", "disabled@test.example", "停止中の人", n=8),
]


@dataclass
class Tamper:
    """Rewrites the ID token in token-endpoint responses, to test that the app checks it."""

    mode: str | None = None  # None | "payload" | "foreign_key"
    foreign_key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))

    def rewrite(self, body: bytes) -> bytes:
        data = json.loads(body)
        token = data.get("id_token")
        if not token or self.mode is None:
            return body
        header_b64, payload_b64, signature = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
        claims["roles"] = ["Admin"]  # an attempt to become admin
        if self.mode == "payload":  # same signature, changed claims
            new_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
            data["id_token"] = f"{header_b64}.{new_payload}.{signature}"
        else:  # properly signed, by a key the provider never published
            data["id_token"] = jwt.encode(claims, self.foreign_key, algorithm="RS256")
        return json.dumps(data).encode()


class TamperingMiddleware:
    def __init__(self, app, tamper: Tamper) -> None:
        self.app = app
        self.tamper = tamper

    def __call__(self, environ, start_response):
        if self.tamper.mode is None or not environ.get("PATH_INFO", "").endswith("/oauth2/token"):
            return self.app(environ, start_response)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.app(environ, capture))
        body = self.tamper.rewrite(body) if captured["status"].startswith("200") else body
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


class EntraTokenRules:
    """What Entra ID checks and oidc-provider-mock does not: at the token endpoint, the client's secret
    (sent in the body or as HTTP Basic; nothing else is accepted here) and, for an authorization code, the
    PKCE verifier against the S256 challenge of the authorization request that issued the code. Refusals
    use Entra's error shapes (invalid_client 401, invalid_grant 400, with the AADSTS code)."""

    def __init__(self, app, *, client_id: str, client_secret: str) -> None:
        self.app = app
        self.client_id = client_id
        self.client_secret = client_secret
        self.challenges: dict[str, tuple[str | None, str | None]] = {}  # code → (challenge, method)
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD")
        if method == "POST" and path.endswith("/oauth2/authorize"):
            return self._authorize(environ, start_response)
        if method == "POST" and path.endswith("/oauth2/token"):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
            refusal = self._refusal(dict(urllib.parse.parse_qsl(body.decode())), environ.get("HTTP_AUTHORIZATION", ""))
            if refusal:
                status, error, description = refusal
                payload = json.dumps({"error": error, "error_description": description,
                                      "error_codes": [int(description[6:description.index(":")])]}).encode()
                start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
                return [payload]
        return self.app(environ, start_response)

    def _authorize(self, environ, start_response):
        """Remember the PKCE challenge of the request for the code the provider redirects back with."""
        query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))

        def remember(status, headers, exc_info=None):
            location = next((v for k, v in headers if k.lower() == "location"), "")
            code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query)).get("code")
            if code:
                with self.lock:
                    self.challenges[code] = (query.get("code_challenge"), query.get("code_challenge_method"))
            return start_response(status, headers, exc_info)

        return self.app(environ, remember)

    def _refusal(self, form: dict[str, str], authorization: str) -> tuple[str, str, str] | None:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization.startswith("Basic "):
            pair = base64.b64decode(authorization[6:]).decode()
            client_id, secret = (urllib.parse.unquote_plus(v) for v in pair.split(":", 1))
        if client_id != self.client_id:
            return ("400 Bad Request", "unauthorized_client",
                    f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory.")
        if secret is None:
            return ("401 Unauthorized", "invalid_client", "AADSTS7000218: The request body must contain the "
                    "following parameter: 'client_assertion' or 'client_secret'.")
        if not secrets.compare_digest(secret, self.client_secret):
            return "401 Unauthorized", "invalid_client", "AADSTS7000215: Invalid client secret provided."
        if form.get("grant_type") != "authorization_code":
            return None
        with self.lock:
            challenge, method = self.challenges.pop(form.get("code", ""), (None, None))
        verifier = form.get("code_verifier")
        if challenge is None or method != "S256":
            return ("400 Bad Request", "invalid_grant",
                    "AADSTS9002325: Proof Key for Code Exchange is required (S256 code_challenge).")
        if verifier is None or not secrets.compare_digest(_s256(verifier), challenge):
            return ("400 Bad Request", "invalid_grant", "AADSTS501481: The Code_Verifier does not match "
                    "the code_challenge supplied in the authorization request.")
        return None


@dataclass
class Provider:
    host: str  # the "authority host": https://127.0.0.1:PORT
    cert: str  # PEM file of the provider's certificate
    tamper: Tamper

    @property
    def issuer_base(self) -> str:
        return f"{self.host}/{TENANT}/v2.0"


@pytest.fixture(scope="session", name="tls_cert")
def tls_cert_fixture(tmp_path_factory) -> tuple[str, str]:
    directory = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(directory / "cert.pem"), str(directory / "key.pem")


@pytest.fixture(scope="session", name="idp_server")
def idp_server_fixture(tls_cert) -> Iterator[Provider]:
    cert, key = tls_cert
    tamper = Tamper()
    provider = oidc_provider_mock.app(user_claims=USERS, require_nonce=True)
    strict = EntraTokenRules(TamperingMiddleware(provider, tamper), client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    wsgi = DispatcherMiddleware(NotFound(), {f"/{TENANT}/v2.0": strict})
    server = werkzeug.serving.make_server("127.0.0.1", 0, wsgi, threaded=True, ssl_context=(cert, key))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Provider(f"https://127.0.0.1:{server.server_port}", cert, tamper)
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@pytest.fixture(name="idp")
def idp_fixture(idp_server) -> Iterator[Provider]:
    idp_server.tamper.mode = None
    yield idp_server
    idp_server.tamper.mode = None


def msal_settings(database_url: str, provider: Provider, **overrides):
    from tests.conftest import make_settings

    values = dict(auth="msal", entra_tenant_id=TENANT, entra_client_id=CLIENT_ID,
                  entra_client_secret=CLIENT_SECRET, entra_authority_host=provider.host,
                  entra_redirect_uri="http://testserver/auth/callback", entra_ca_bundle=provider.cert)
    values.update(overrides)
    return make_settings(database_url, **values)


def approve(provider: Provider, auth_uri: str, sub: str) -> str:
    """Play the person at the provider's sign-in page: open it, choose ``sub``. Returns the redirect."""
    with httpx.Client(verify=trust(provider)) as browser:
        page = browser.get(auth_uri)
        assert page.status_code == 200, page.text
        response = browser.post(auth_uri, data={"sub": sub})
    assert response.status_code == 302, response.text
    return response.headers["location"]


def trust(provider: Provider) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=provider.cert)


def callback_path(location: str) -> tuple[str, dict[str, str]]:
    parts = urllib.parse.urlsplit(location)
    return parts.path, dict(urllib.parse.parse_qsl(parts.query))
