"""HTML pages from Jinja2 templates (autoescaped: every user string is text), with the
headers every page carries."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from minitorrent.tracker.web.auth import CSRF_FIELD, csrf_token
from minitorrent.units import human_size

HERE = Path(__file__).parent
STATIC = HERE / "static"

# No inline script or style anywhere: scripts and styles come from /static only, and no
# other site may frame the pages (clickjacking).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # pages show passkeys and who is in which group
}


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


ENV = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every template, whatever its name
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters["size"] = human_size
ENV.filters["when"] = _when


def render(template: str, **values: Any) -> str:
    return ENV.get_template(template).render(csrf_field=CSRF_FIELD, **values)


def page(
    request: Request, template: str, *, status: int = 200, user: str | None = None, **values: Any
) -> HTMLResponse:
    html = render(template, csrf=csrf_token(request), user=user, **values)
    return HTMLResponse(html, status, headers=HEADERS)


def redirect(url: str) -> RedirectResponse:
    """After a form: 303, so reloading the next page does not post the form again."""
    return RedirectResponse(url, 303, headers=HEADERS)
