"""Server-rendered HTML: one Jinja2 environment, the money and weight formats, autoescaped."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
    "Referrer-Policy": "same-origin",
}


def money(value: Decimal | None) -> str:
    """Thousands separators, at least two decimals, never a float's rounding."""
    if value is None:
        return "—"
    places = 2
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        places = min(-exponent, 8)
    return f"{value:,.{places}f}"


def quantity(value: Decimal | None) -> str:
    if value is None:
        return "—"
    return f"{value.normalize():,f}"


def weight(value: Any) -> str:
    """A fraction from the preview's impact (a decimal string) as a percentage."""
    if value in (None, ""):
        return "—"
    return f"{Decimal(str(value)) * 100:,.2f} %"


class Pages:
    def __init__(self, base_path: str) -> None:
        self.base = base_path
        self.env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
        self.env.filters.update(money=money, quantity=quantity, weight=weight)

    def render(self, template: str, status: int, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(base=self.base, **context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def message(self, status: int, text: str, *, title: str | None = None) -> HTMLResponse:
        return self.render("message.html", status, title=title or ("Done" if status < 400 else "Refused"),
                           text=text)
