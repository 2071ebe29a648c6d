"""Signing in and out of the web app, and the dependencies that give a page its user.

``require_user`` gives a route the signed-in ``WebUser`` (a page without a
session redirects to ``/signin``), and on every POST, PUT, PATCH and DELETE
checks the session's CSRF token: the form field ``csrf_token`` or the header
``X-CSRF-Token`` (fetch and htmx calls), refusing the request otherwise.
``require_operator`` and ``require_admin`` add the role's privilege; a page a
role may not open answers 404, like a dataset outside its grants.

The session cookie is HttpOnly, SameSite=Lax, and Secure when the request came
over TLS. The sign-in form is protected against login CSRF by a cookie of its
own that the form must repeat.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from weir.errors import AuthError, NotFoundError, RateLimited, WeirError
from weir.governance.signin import LIFETIME, WebSession
from weir.serve.web.shell import SECURITY_HEADERS, WebUser, page
from weir.workspace import Project

SESSION_COOKIE = "weir_session"
SIGNIN_COOKIE = "weir_signin"  # the sign-in form's own CSRF cookie
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SignInNeeded(Exception):
    """A page asked for without a session: answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(WeirError):
    code = "csrf"
    status = 403


def project_of(request: Request) -> Project:
    found: Project = request.app.state.project
    return found


def web_user(project: Project, session: WebSession) -> WebUser:
    policy = project.access.policy()
    role = session.principal.role
    return WebUser(
        session.principal,
        session.csrf,
        policy.is_operator(role),
        policy.is_admin(role),
        session.method,
    )


async def current_user(request: Request) -> WebUser | None:
    """The signed-in user of the request, or None (the CSRF token is not checked here)."""
    cached = getattr(request.state, "web_user", None)
    if isinstance(cached, WebUser):
        return cached
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    project = project_of(request)
    try:
        session = await run_in_threadpool(project.signin.session, session_id)
    except AuthError:
        return None
    user = web_user(project, session)
    request.state.web_user = user
    return user


async def require_user(request: Request) -> WebUser:
    """The signed-in user; on a state-changing request, only with the session's CSRF token."""
    user = await current_user(request)
    if user is None:
        if request.method in UNSAFE:
            raise AuthError("not signed in", "sign in at /signin")
        raise SignInNeeded(_here(request))
    if request.method in UNSAFE:
        sent = request.headers.get("x-csrf-token")
        if sent is None and _is_form(request):
            sent = str((await request.form()).get("csrf_token") or "")
        if not sent or not hmac.compare_digest(sent, user.csrf):
            raise CsrfRefused(
                "the request did not carry this session's CSRF token",
                "reload the page and try again (forms and fetch calls send it)",
            )
    return user


async def require_operator(user: Annotated[WebUser, Depends(require_user)]) -> WebUser:
    """A user whose role may operate runs and schedules; others get 404."""
    if not user.operator:
        raise NotFoundError("no such page", "go back to your dashboards")
    return user


async def require_admin(user: Annotated[WebUser, Depends(require_user)]) -> WebUser:
    """A user whose role is admin; others get 404."""
    if not user.admin:
        raise NotFoundError("no such page", "go back to your dashboards")
    return user


def auth_router() -> APIRouter:
    """``GET/POST /signin`` and ``POST /signout``."""
    router = APIRouter(include_in_schema=False)

    @router.get("/signin")
    async def signin_form(request: Request, next: str = "/") -> Response:
        if await current_user(request) is not None:
            return RedirectResponse(safe_next(next), 303)
        return _form(request, next)

    @router.post("/signin")
    async def signin(
        request: Request,
        csrf_token: Annotated[str, Form(max_length=200)] = "",
        user: Annotated[str, Form(max_length=200)] = "",
        password: Annotated[str, Form(max_length=2000)] = "",
        token: Annotated[str, Form(max_length=400)] = "",
        next: Annotated[str, Form(max_length=2000)] = "/",
    ) -> Response:
        expected = request.cookies.get(SIGNIN_COOKIE, "")
        if not expected or not hmac.compare_digest(csrf_token, expected):
            return _form(request, next, "The form had expired: please sign in again.", 403)
        project = project_of(request)
        client = request.client.host if request.client else "unknown"
        try:
            if token.strip():
                session = await run_in_threadpool(project.signin.with_token, token, client)
            elif user.strip() and password:
                session = await run_in_threadpool(
                    project.signin.with_password, user, password, client
                )
            else:
                return _form(request, next, "Enter your user name and password, or a token.", 400)
        except RateLimited as exc:
            response = _form(request, next, f"{exc.what}: {exc.fix}.", 429, user)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except AuthError as exc:
            return _form(request, next, f"Not signed in: {exc.what}.", 401, user)
        response = RedirectResponse(safe_next(next), 303)
        response.set_cookie(
            SESSION_COOKIE,
            session.session_id,
            max_age=LIFETIME,
            path="/",
            httponly=True,
            secure=request.url.scheme == "https",
            samesite="lax",
        )
        response.delete_cookie(SIGNIN_COOKIE, path="/signin")
        return response

    @router.post("/signout")
    async def signout(
        request: Request, _user: Annotated[WebUser, Depends(require_user)]
    ) -> Response:
        session_id = request.cookies.get(SESSION_COOKIE, "")
        await run_in_threadpool(project_of(request).signin.sign_out, session_id)
        response = RedirectResponse("/signin", 303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return router


def _form(
    request: Request, next_path: str, problem: str | None = None, status: int = 200, name: str = ""
) -> Response:
    token = secrets.token_urlsafe(24)
    response = page(
        request,
        None,
        "signin.html",
        "Sign in",
        status=status,
        signin_csrf=token,
        next=safe_next(next_path),
        problem=problem,
        name=name,
    )
    response.set_cookie(
        SIGNIN_COOKIE,
        token,
        max_age=3600,
        path="/signin",
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",
    )
    return response


def signin_redirect(next_path: str) -> Response:
    return RedirectResponse(f"/signin?next={quote(next_path, safe='/')}", 303, SECURITY_HEADERS)


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def safe_next(target: str) -> str:
    """Only a path of this site: never another host (an open redirect)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    # browsers read a backslash as a slash ("/\\evil.example" is another host) and drop
    # tabs and newlines: a path with any of them is not followed
    if "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return "/"
    return target


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "")
    return kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))
