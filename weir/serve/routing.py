"""What every ``/api/v1`` router shares: the caller from a bearer token, authenticated
before any body is read, bodies read to a limit, and unknown (or repeated single-valued) query parameters refused.

``api_v1_router`` makes a router with all of it; ``caller_of`` is the dependency
that gives a route its ``Principal``, ``operator_of`` one that also requires an
operator (or admin) role, ``admin_of`` one that requires an admin role.
"""

from __future__ import annotations

from collections import abc
from collections.abc import Callable, Coroutine, Mapping
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import APIRouter, Depends, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from weir.errors import AccessDenied, TooLarge
from weir.governance.policy import Policy, Principal
from weir.governance.tokens import Tokens
from weir.serve.collector import read_body

MAX_BODY = 1 << 20  # bytes of a request body

BEARER = HTTPBearer(
    auto_error=False, description="a token from `weir token create --user NAME --role ROLE`"
)


def api_v1_router(
    tokens: Tokens, responses: Mapping[int | str, dict[str, Any]], tags: list[str] | None = None
) -> APIRouter:
    """A router under ``/api/v1`` whose routes authenticate before reading a body."""
    return APIRouter(
        prefix="/api/v1",
        tags=list(tags or []),
        responses=dict(responses),
        dependencies=[Depends(known_parameters)],
        route_class=guarded_route(tokens),
    )


def caller_of(tokens: Tokens) -> Callable[..., Principal]:
    """The dependency giving a route its caller: the principal of the request's bearer token."""

    def principal(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    ) -> Principal:
        known = getattr(request.state, "principal", None)
        if isinstance(known, Principal):  # authenticated before the body was read
            return known
        return tokens.authenticate(credentials.credentials if credentials else None)

    return principal


def operator_of(
    tokens: Tokens, policy: Callable[[], Policy], may_not: str
) -> Callable[..., Principal]:
    """The caller, who must hold an operator or admin role (403 saying what it may not do)."""
    caller = caller_of(tokens)

    def operator(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    ) -> Principal:
        found = caller(request, credentials)
        if not policy().is_operator(found.role):
            raise AccessDenied(
                f"the role {found.role} may not {may_not}",
                "ask for a token of a role with operator: true (or admin: true) in weir.yml",
            )
        return found

    return operator


def admin_of(
    tokens: Tokens, policy: Callable[[], Policy], may_not: str
) -> Callable[..., Principal]:
    """The caller, who must hold an admin role (403 saying what it may not do)."""
    caller = caller_of(tokens)

    def admin(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    ) -> Principal:
        found = caller(request, credentials)
        if not policy().is_admin(found.role):
            raise AccessDenied(
                f"the role {found.role} may not {may_not}",
                "ask for a token of a role with admin: true in weir.yml",
            )
        return found

    return admin


def guarded_route(tokens: Tokens) -> type[APIRoute]:
    """Routes that authenticate before they read a body, and read at most ``MAX_BODY`` bytes.

    FastAPI reads a body before it runs a route's dependencies: without this, a
    request without a token could make the server read (and hold) any size of body.
    """

    class GuardedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                if request.method not in ("POST", "PUT", "PATCH"):
                    return await handler(request)
                request.state.principal = await run_in_threadpool(
                    tokens.authenticate, bearer_token(request)
                )
                body = await read_body(request, MAX_BODY, body_too_large)

                async def replay() -> dict[str, Any]:
                    return {"type": "http.request", "body": body, "more_body": False}

                return await handler(Request(request.scope, replay))

            return guarded

    return GuardedRoute


def bearer_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def body_too_large(limit: int, size: int | None = None) -> TooLarge:
    told = f"{size:,} bytes" if size is not None else f"more than {limit:,} bytes"
    return TooLarge(
        f"the request body is {told}; the limit is {limit:,}",
        "send a shorter query, or build a model",
    )


def _takes_many(annotation: Any) -> bool:
    """Whether a query parameter's type takes a value per repeat (``list[str]``, optional or not)."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        return any(_takes_many(arg) for arg in get_args(annotation))
    if origin is Annotated:
        return _takes_many(get_args(annotation)[0])
    return origin in (list, set, frozenset, tuple, abc.Sequence)


def known_parameters(request: Request) -> None:
    """A query parameter the route does not take is an error (a typo must not be ignored)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known: set[str] = set()
    repeatable: set[str] = set()
    stack = [dependant]
    while stack:  # the route's own parameters and those of its dependencies
        current = stack.pop()
        known.update(field.alias for field in current.query_params)
        repeatable.update(
            field.alias
            for field in current.query_params
            if _takes_many(field.field_info.annotation)
        )
        stack.extend(current.dependencies)
    unknown = sorted(set(request.query_params) - known)
    # one value, given twice, must not be read as either of them
    repeated = sorted(
        name
        for name in set(request.query_params) & known - repeatable
        if len(request.query_params.getlist(name)) > 1
    )
    errors = [
        {
            "loc": ("query", name),
            "msg": f"unknown parameter; this route takes: {', '.join(sorted(known)) or 'none'}",
            "type": "extra_forbidden",
        }
        for name in unknown
    ] + [
        {
            "loc": ("query", name),
            "msg": f"given {len(request.query_params.getlist(name))} times; it takes one value",
            "type": "too_many_values",
        }
        for name in repeated
    ]
    if errors:
        raise RequestValidationError(errors)
