"""The web app's shell: templates, the layout every page renders in, security headers, errors.

``page(request, user, "x.html", title=..., **context)`` renders a template of
``templates/`` inside ``base.html`` (the top bar with what the user's role may
open, the user menu, sign out) and answers it with the security headers.
Templates are autoescaped: a value is shown as text whatever it holds.

Every answer of the web app carries a Content-Security-Policy without inline
script (``script-src 'self'``): behaviour lives in ``static/*.js``, data for
scripts in ``<script type="application/json">`` blocks (``|tojson``), never in
``on…=`` attributes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from weir.errors import WeirError
from weir.governance.policy import Principal

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}
# what is not the web app: the API, the collector, Segment's routes, health and metrics
NOT_WEB = ("/api/", "/collect/", "/v1/", "/healthz", "/metrics")
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CHF": "CHF ", "INR": "₹"}


@dataclass(frozen=True)
class WebUser:
    """The signed-in person of a request: who, in which role, what they may do, their CSRF token."""

    principal: Principal
    csrf: str
    operator: bool
    admin: bool
    method: str = "password"

    @property
    def name(self) -> str:
        return self.principal.user

    @property
    def role(self) -> str:
        return self.principal.role


@dataclass(frozen=True)
class NavLink:
    """A link of the top bar, shown to those ``shown(user)`` says may open it."""

    label: str
    href: str
    shown: Callable[[WebUser], bool] = lambda _user: True


@dataclass
class Shell:
    """What every page shares: the templates, the project's name, the top bar's links."""

    project_name: str
    links: list[NavLink] = field(default_factory=list)
    # the team dashboards a user may open: (label, href) for the top bar
    dashboards: Callable[[WebUser], list[tuple[str, str]]] = lambda _user: []
    env: Environment = field(init=False)

    def __post_init__(self) -> None:
        folder = resources.files("weir.serve.web") / "templates"
        self.env = Environment(
            loader=FileSystemLoader(str(folder)),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            number=format_number,
            value=format_value,
            change=format_change,
            day=format_day,
            moment=format_moment,
        )


def shell_of(request: Request) -> Shell:
    found: Shell = request.app.state.web_shell
    return found


def page(
    request: Request,
    user: WebUser | None,
    template: str,
    title: str,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render ``template`` inside the shell for ``user`` (None: signed out), with headers."""
    shell = shell_of(request)
    nav = (
        [
            (link.label, link.href)
            for link in shell.links
            if link.shown(user)  # what the role cannot open is not shown
        ]
        if user
        else []
    )
    html = shell.env.get_template(template).render(
        request=request,
        user=user,
        title=title,
        project=shell.project_name,
        dashboards=shell.dashboards(user) if user else [],
        nav=nav,
        path=request.url.path,
        csrf=user.csrf if user else "",
        **context,
    )
    return HTMLResponse(html, status, headers=dict(SECURITY_HEADERS))


def error_page(request: Request, user: WebUser | None, exc: WeirError) -> HTMLResponse:
    """A WeirError as a page in the shell: what happened and what to do."""
    titles = {404: "Not found", 400: "That cannot be shown", 403: "Not allowed", 429: "Wait"}
    return page(
        request,
        user,
        "error.html",
        titles.get(exc.status, "Something went wrong"),
        status=exc.status,
        what=exc.what,
        fix=exc.fix,
        code=exc.status,
    )


def is_web(path: str) -> bool:
    """Whether ``path`` belongs to the web app (and errors there answer as pages)."""
    return not path.startswith(NOT_WEB)


class SecurityHeaders:
    """Adds the web app's security headers to every answer that has none of its own."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(
        self, scope: MutableMapping[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] != "http" or not is_web(scope.get("path", "")):
            await self.app(scope, receive, send)
            return

        async def sending(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, sending)


def html(text: str, status: int = 200) -> Response:
    return HTMLResponse(text, status, headers=dict(SECURITY_HEADERS))


# -- numbers for people -----------------------------------------------------------------------
def format_number(value: Any, decimals: int = 0) -> str:
    """Thousands separators; a missing value as an em dash."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float | int):
        return f"{value:,.{decimals}f}"
    return str(value)


def format_value(value: Any, kind: str = "number", currency: str = "USD") -> str:
    """A KPI value in its unit: currency, a share as a percentage, hours, days, a count."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if not isinstance(value, int | float) or isinstance(value, bool):
        return str(value)
    number = float(value)
    if kind == "currency":
        symbol = CURRENCY_SYMBOLS.get(currency, f"{currency} ")
        sign = "-" if number < 0 else ""
        cents = 2 if abs(number) < 10_000 else 0  # a large amount reads better whole
        return f"{sign}{symbol}{abs(number):,.{cents}f}"
    if kind == "share":
        return f"{number * 100:,.1f} %"
    if kind == "percent":
        return f"{number:,.1f} %"
    if kind == "count":
        return f"{round(number):,}"
    if kind == "hours":
        return f"{number:,.1f} h" if abs(number) < 48 else f"{number / 24:,.1f} days"
    if kind == "seconds":
        return f"{number:,.0f} s" if abs(number) < 120 else f"{number / 60:,.1f} min"
    if kind == "days":
        return f"{number:,.1f} days"
    return f"{number:,.2f}" if abs(number) < 1000 else f"{number:,.0f}"


def format_change(change: Any, change_pct: Any, kind: str = "number", currency: str = "USD") -> str:
    """The change against the previous period in words, with an arrow: never colour alone."""
    if change is None:
        return "no previous period to compare"
    word = "up" if change > 0 else "down" if change < 0 else "unchanged"
    arrow = {"up": "▲", "down": "▼", "unchanged": "■"}[word]
    if word == "unchanged":
        return f"{arrow} unchanged"
    absolute = format_value(abs(change), kind, currency)
    if kind == "share":  # a change of a share is in percentage points
        absolute = f"{abs(change) * 100:,.1f} pts"
    elif kind == "percent":
        absolute = f"{abs(change):,.1f} pts"
    relative = f" ({abs(change_pct) * 100:,.1f} %)" if change_pct is not None else ""
    return f"{arrow} {word} {absolute}{relative}"


def format_day(value: date | datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value:%a %d %b %Y}"


def format_moment(value: datetime | float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value)
    return f"{value:%d %b %Y %H:%M}"


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
