"""htmx conventions: when to answer with a fragment, and which requests are the JSON API's."""

from __future__ import annotations

from fastapi import Request


def wants_fragment(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true" and "HX-History-Restore-Request" not in request.headers


def is_api(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path == "/healthz"
