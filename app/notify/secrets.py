"""Webhook URLs at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key from a file or derived from the app's
secret key. The URL is never shown again after saving and never logged; only its host is kept readable."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from app.config import Settings


def _fernet(settings: Settings) -> Fernet:
    if settings.notify_key_file is not None:
        return Fernet(settings.notify_key_file.read_text(encoding="utf-8").strip().encode())
    digest = hashlib.sha256(b"paperless-notify-webhook:" + settings.session_secret().encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(settings: Settings, value: str) -> str:
    return _fernet(settings).encrypt(value.encode()).decode()


def decrypt(settings: Settings, token: str) -> str:
    """The stored URL; ValueError (a message without the URL) when the key has changed."""
    try:
        return _fernet(settings).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("保存されたWebhook URLを復号できません（鍵が変わりました）。URLを入力し直してください。") from exc
