"""Building and checking the app's own URLs."""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_next(value: str | None, default: str = "/") -> str:
    """A return-to target that can only be a path on this site (no open redirect)."""
    if not value:
        return default
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(ord(c) < 32 for c in value) or "\\" in value:
        return default
    return value


def sheet_url(round_id: int, code: str) -> str:
    return f"/rounds/{round_id}/sections/{code}"
