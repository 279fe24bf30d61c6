"""The ops page: one self-contained HTML file (no CDN), its inline script and style allowed by a nonce."""

from __future__ import annotations

import secrets
from functools import cache
from pathlib import Path

_PAGE = Path(__file__).with_name("page.html")


@cache
def _template() -> str:
    return _PAGE.read_text(encoding="utf-8")


def render_page() -> tuple[str, dict[str, str]]:
    """(HTML, response headers). The page holds no data: it fetches the API with the key of its URL."""
    nonce = secrets.token_urlsafe(18)
    csp = (
        "default-src 'none'; "
        f"script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    headers = {
        "Content-Security-Policy": csp,
        "Referrer-Policy": "no-referrer",  # the key is in this page's URL
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }
    return _template().replace("__NONCE__", nonce), headers
