"""The data-subject routes of ``/api/v1``: find, export and erase one person (admin roles).

``POST /api/v1/subjects/find``, ``/export`` and ``/erase`` take the person in
the body (an id, or an e-mail or phone declared under ``lookup:``), never in
the URL, so no personal value reaches an access log or a proxy's. Each route
is the CLI's call into ``project.subjects`` (resolve, then find, export or
erase) under the caller's name; the audit records name the person only by the
keyed hash of their identifier. An unknown person is a 404, an e-mail shared
by several a 400, a person under a legal hold a 409: the standard error JSON,
which never repeats the value asked for.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from pydantic import Field, StrictInt, StrictStr

from weir.governance.policy import Principal
from weir.governance.subjects import Subject
from weir.project.base import Strict
from weir.serve.problems import error_responses
from weir.serve.routing import admin_of, api_v1_router
from weir.workspace import Project


class SubjectRequest(Strict):
    """One person: exactly one of id, email, phone."""

    id: StrictStr | StrictInt | None = Field(
        default=None,
        description="the subject's identifier (text or a whole number, not true/false)",
    )
    email: str | None = Field(default=None, max_length=320, description="declared under lookup:")
    phone: str | None = Field(default=None, max_length=64, description="declared under lookup:")
    kind: str | None = Field(
        default=None, max_length=63, description="the kind of subject, when several are declared"
    )


class EraseRequest(SubjectRequest):
    reason: str = Field(min_length=1, max_length=2000, description="the request it answers")


def subjects_router(app: FastAPI) -> APIRouter:
    """Find, export and erase routes over the app's project, for admin roles only."""
    project: Project = app.state.project
    tokens = project.access.tokens()
    admin = admin_of(tokens, project.access.policy, "find, export or erase a data subject")

    Admin = Annotated[Principal, Depends(admin)]
    router = api_v1_router(
        tokens,
        error_responses(
            {
                400: "no person, or more than one, named; an e-mail several people share",
                401: "no token, or a token unknown, revoked or expired",
                403: "the role is not an admin role",
                404: "no such person in this project",
                409: "the person is under a legal hold (erase)",
                413: "the request body is over the limit",
                422: "the request does not match this document",
            }
        ),
        tags=["privacy"],
    )

    def who(body: SubjectRequest) -> Subject:
        return project.subjects.resolve(body.id, email=body.email, phone=body.phone, kind=body.kind)

    @router.post("/subjects/find", summary="Every place a person's data lives, with counts")
    def find(body: SubjectRequest, caller: Admin) -> dict[str, Any]:
        return project.subjects.find(who(body), caller.user).as_dict()

    @router.post("/subjects/export", summary="Everything weir holds about a person, in clear")
    def export(body: SubjectRequest, caller: Admin) -> dict[str, Any]:
        return project.subjects.export(who(body), caller.user)

    @router.post("/subjects/erase", summary="Erase a person everywhere: the erasure certificate")
    def erase(body: EraseRequest, caller: Admin) -> dict[str, Any]:
        return project.subjects.erase(who(body), body.reason, caller.user).as_dict()

    return router
