"""Microsoft Entra ID sign-in (OpenID Connect authorization-code flow with PKCE, state and nonce).

The only module that imports ``msal``. Everything here blocks on the network: call it from sync
routes (FastAPI runs those in its thread pool), never from ``async def`` ones.

MSAL checks the ``state`` and the nonce but, since 1.38, not the ID token itself; ``verify_id_token``
checks the signature against the provider's published keys, ``aud``, ``iss``, ``exp`` (small leeway)
and that ``tid`` is our tenant.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import msal
import requests

from app.config import Settings

log = logging.getLogger("paperless.entra")

LEEWAY_SECONDS = 120  # clock skew tolerated on exp / nbf / iat
METADATA_TTL_SECONDS = 3600
HTTP_TIMEOUT_SECONDS = 10
ID_TOKEN_ALGORITHMS = ["RS256"]
# Entra app-role values (the ``roles`` claim) → the app's role names stored in User.entra_roles.
APP_ROLES = {"Admin": "admin", "ConsultationDesk": "desk"}
PROMPTS = {"select_account", "login"}

# MSAL 1.39 warns on every query-mode request; the app uses form_post whenever the redirect URI is
# https and query only for a plain-http redirect URI (local trials and tests), where a cross-site
# POST could not carry the sign-in cookie.
warnings.filterwarnings("ignore", message=r"response_mode='form_post' is recommended", category=UserWarning)


@dataclass(frozen=True)
class Identity:
    """Who Entra says signed in (from a verified ID token)."""

    tenant_id: str
    object_id: str
    upn: str
    name: str
    app_roles: tuple[str, ...] = ()  # raw ``roles`` claim values

    @property
    def granted_roles(self) -> tuple[str, ...]:
        """The app roles this app knows, mapped to its own names ("admin", "desk"), sorted."""
        return tuple(sorted({APP_ROLES[r] for r in self.app_roles if r in APP_ROLES}))


@dataclass(frozen=True)
class PendingFlow:
    """A sign-in started in this browser and not finished yet (kept in the sign-in cookie)."""

    state: str
    nonce: str
    code_verifier: str
    next: str
    started: int  # epoch seconds


class SignInFailed(Exception):
    """The sign-in could not be completed. ``reason`` is recorded in the audit log."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class ProviderUnavailable(Exception):
    """Entra (or the configured authority) could not be reached."""


class CABundleSession(requests.Session):
    """A requests session that trusts ``ca_bundle`` for every request.

    ``requests`` lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override ``Session.verify``, so the CA must
    be passed per request to be sure it is used. Every request also gets a timeout.
    """

    def __init__(self, ca_bundle: Path | None) -> None:
        super().__init__()
        self.ca_bundle = str(ca_bundle) if ca_bundle else None

    def request(self, method, url, **kwargs):  # type: ignore[override]
        if self.ca_bundle is not None:
            kwargs["verify"] = self.ca_bundle
        kwargs.setdefault("timeout", HTTP_TIMEOUT_SECONDS)
        return super().request(method, url, **kwargs)


def nonce_hash(nonce: str) -> str:
    """What MSAL sends as the nonce (and what the ID token carries back): SHA-256 hex of ours."""
    return hashlib.sha256(nonce.encode("ascii")).hexdigest()


def verify_id_token(token: str, *, keys: list[dict], issuer: str, audience: str, tenant_id: str,
                    nonce: str | None = None) -> dict[str, Any]:
    """The claims of a verified ID token, or SignInFailed.

    Pure: the provider's keys and expected values are passed in. A token whose header names no
    ``kid`` is accepted only when the key set has exactly one key.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise SignInFailed("id_token", "IDトークンの形式が正しくありません。") from exc
    if header.get("alg") not in ID_TOKEN_ALGORITHMS:
        raise SignInFailed("id_token", "IDトークンの署名方式が受け付けられません。")
    kid = header.get("kid")
    candidates = [k for k in keys if k.get("kty") == "RSA" and (kid is None or k.get("kid") == kid)]
    if len(candidates) != 1:
        raise SignInFailed("unknown_key", "IDトークンの署名鍵が見つかりません。")
    try:
        key = jwt.PyJWK(candidates[0], algorithm=header["alg"])
        claims = jwt.decode(
            token, key=key, algorithms=ID_TOKEN_ALGORITHMS, audience=audience, issuer=issuer,
            leeway=LEEWAY_SECONDS, options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.InvalidSignatureError as exc:
        raise SignInFailed("signature", "IDトークンの署名が正しくありません。") from exc
    except jwt.ExpiredSignatureError as exc:
        raise SignInFailed("expired", "IDトークンの有効期限が切れています。") from exc
    except jwt.InvalidAudienceError as exc:
        raise SignInFailed("audience", "IDトークンがこのアプリ宛てではありません。") from exc
    except jwt.InvalidIssuerError as exc:
        raise SignInFailed("issuer", "IDトークンの発行元が正しくありません。") from exc
    except jwt.PyJWTError as exc:
        raise SignInFailed("id_token", f"IDトークンを検証できません（{exc.__class__.__name__}）。") from exc
    if nonce is not None and claims.get("nonce") not in (nonce, nonce_hash(nonce)):
        raise SignInFailed("nonce", "IDトークンが今回のサインインのものではありません。")
    if claims.get("tid") != tenant_id:
        raise SignInFailed("wrong_tenant", "このアプリを利用できる組織（テナント）のアカウントではありません。")
    if not claims.get("oid"):
        raise SignInFailed("id_token", "IDトークンに利用者ID（oid）がありません。")
    return claims


class Entra:
    """The app's client of one Entra tenant. Cheap to build: nothing touches the network until used."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.http = CABundleSession(settings.entra_ca_bundle)
        self._http_cache: dict = {}  # shared by every MSAL app built here (one discovery, not one per request)
        self._lock = threading.Lock()
        self._metadata: tuple[float, dict] | None = None
        self._keys: tuple[float, list[dict]] | None = None

    # --- MSAL ------------------------------------------------------------------------------------
    def _credential(self) -> str | dict:
        s = self.settings
        cert = s.entra_client_certificate_file
        if cert is None:
            return s.entra_client_secret.get_secret_value()
        passphrase = s.entra_client_certificate_passphrase.get_secret_value() or None
        if cert.suffix.lower() in (".pfx", ".p12"):
            return {"private_key_pfx_path": str(cert), "passphrase": passphrase}
        pem = cert.read_text(encoding="ascii")
        key = re.search(r"-----BEGIN (?:ENCRYPTED |RSA )?PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", pem, re.S)
        return {"private_key": key.group(0) if key else pem, "public_certificate": pem, "passphrase": passphrase}

    def _app(self) -> msal.ConfidentialClientApplication:
        """A new MSAL app (its constructor runs tenant discovery, answered from the shared cache)."""
        s = self.settings
        try:
            return msal.ConfidentialClientApplication(
                s.entra_client_id,
                client_credential=self._credential(),
                authority=s.entra_authority,
                instance_discovery=False,
                http_client=self.http,
                http_cache=self._http_cache,
            )
        except (requests.RequestException, ValueError) as exc:
            log.warning("Entra discovery failed: %s", exc)
            raise ProviderUnavailable(str(exc)) from exc

    @property
    def response_mode(self) -> str:
        return "form_post" if self.settings.entra_redirect_uri.startswith("https://") else "query"

    def begin(self, next_path: str, *, prompt: str | None = None) -> tuple[str, PendingFlow]:
        """Start a sign-in: the URL to send the browser to, and what to remember until it returns."""
        flow = self._app().initiate_auth_code_flow(
            [], redirect_uri=self.settings.entra_redirect_uri, state=secrets.token_urlsafe(16),
            prompt=prompt if prompt in PROMPTS else None, response_mode=self.response_mode,
        )
        pending = PendingFlow(state=flow["state"], nonce=flow["nonce"], code_verifier=flow["code_verifier"],
                              next=next_path, started=int(time.time()))
        return flow["auth_uri"], pending

    def finish(self, pending: PendingFlow, params: Mapping[str, str]) -> Identity:
        """Redeem the code Entra sent back for tokens and return the verified identity."""
        flow = {
            "state": pending.state,
            "nonce": pending.nonce,
            "code_verifier": pending.code_verifier,
            "redirect_uri": self.settings.entra_redirect_uri,
            "scope": ["offline_access", "openid", "profile"],
        }
        try:
            result = self._app().acquire_token_by_auth_code_flow(flow, dict(params))
        except ValueError as exc:  # state mismatch or malformed response
            raise SignInFailed("state", "サインインの確認情報（state）が一致しません。") from exc
        except RuntimeError as exc:  # nonce mismatch (replay)
            raise SignInFailed("nonce", "サインインの確認情報（nonce）が一致しません。") from exc
        except requests.RequestException as exc:
            raise ProviderUnavailable(str(exc)) from exc
        if "error" in result:
            raise SignInFailed(f"idp:{result['error']}"[:60], _idp_message(result))
        token = result.get("id_token")
        if not token:
            raise SignInFailed("id_token", "IDトークンが返されませんでした。")
        claims = self.verify(token, nonce=pending.nonce)
        return Identity(
            tenant_id=claims["tid"],
            object_id=claims["oid"],
            upn=str(claims.get("preferred_username") or claims.get("upn") or "").strip().lower(),
            name=str(claims.get("name") or "").strip(),
            app_roles=tuple(r for r in claims.get("roles", []) if isinstance(r, str)),
        )

    # --- provider metadata and keys ---------------------------------------------------------------
    def metadata(self) -> dict:
        with self._lock:
            if self._metadata and time.monotonic() - self._metadata[0] < METADATA_TTL_SECONDS:
                return self._metadata[1]
        url = f"{self.settings.entra_authority}/v2.0/.well-known/openid-configuration"
        data = self._get_json(url)
        with self._lock:
            self._metadata = (time.monotonic(), data)
        return data

    def signing_keys(self, *, refresh: bool = False) -> list[dict]:
        with self._lock:
            if not refresh and self._keys and time.monotonic() - self._keys[0] < METADATA_TTL_SECONDS:
                return self._keys[1]
        keys = self._get_json(self.metadata()["jwks_uri"]).get("keys", [])
        with self._lock:
            self._keys = (time.monotonic(), keys)
        return keys

    def _get_json(self, url: str) -> dict:
        try:
            response = self.http.get(url)
            response.raise_for_status()
            return response.json()
        except (requests.RequestException, ValueError) as exc:
            log.warning("Entra request failed: %s %s", url, exc)
            raise ProviderUnavailable(str(exc)) from exc

    def verify(self, token: str, *, nonce: str | None) -> dict[str, Any]:
        meta = self.metadata()
        expected = dict(issuer=meta["issuer"], audience=self.settings.entra_client_id,
                        tenant_id=self.settings.entra_tenant_id, nonce=nonce)
        try:
            return verify_id_token(token, keys=self.signing_keys(), **expected)
        except SignInFailed as exc:
            if exc.reason != "unknown_key":
                raise
        # The provider may have rolled its keys since we fetched them: fetch once more.
        return verify_id_token(token, keys=self.signing_keys(refresh=True), **expected)

    def end_session_url(self) -> str | None:
        """Entra's sign-out URL that returns to our post-logout page, or None if unreachable."""
        try:
            endpoint = self.metadata().get("end_session_endpoint")
        except ProviderUnavailable:
            return None
        if not endpoint:
            return None
        query = urlencode({"post_logout_redirect_uri": self.settings.post_logout_redirect_uri})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def _idp_message(result: Mapping[str, Any]) -> str:
    error = result.get("error")
    if error == "access_denied":
        return "Microsoft 365 のサインイン画面でサインインが取り消されたか、拒否されました。"
    code = str(result.get("error_description", "")).split(":", 1)[0]
    shown = f"（{error}{' ' + code if code else ''}）"
    if error in ("invalid_client", "unauthorized_client"):  # the app's registration or credential (config)
        return (f"このアプリの Microsoft 365 への登録情報（クライアントID・クライアントシークレットまたは証明書）が"
                f"受け付けられませんでした{shown}。システム管理者に連絡してください。")
    if error == "invalid_grant":  # the code expired, was used, or is not this browser's (PKCE)
        return f"サインインの確認に失敗しました{shown}。お手数ですが、もう一度サインインしてください。"
    return f"Microsoft 365 からエラーが返されました{shown}。"
