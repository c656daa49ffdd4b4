"""Playwright for Python driving Debian's Chromium (no browser download)."""

from __future__ import annotations

from contextlib import contextmanager

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@contextmanager
def browser(chromium_path: str):
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def sign_in(page, base: str, upn: str) -> None:
    """Pick a user on the development sign-in page."""
    page.goto(f"{base}/auth/login")
    page.locator(f"button[value='{upn}']").click()
    page.wait_for_load_state()
