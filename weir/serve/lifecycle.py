"""The lifecycle routes of ``/api/v1``: retention's plan and legal holds (operator roles).

``GET /api/v1/lifecycle/plan`` says what retention would archive, destroy or
expire now, and why; ``GET``/``POST /api/v1/lifecycle/holds`` list and place
legal holds (on a source, or on one person: their erasure is refused while
it lasts) and ``POST /api/v1/lifecycle/holds/{hold_id}/release`` ends one.
Each route is one call into ``project.lifecycle``; placing and releasing a hold
are audited under the caller's name. Running retention is left to
``weir lifecycle run`` and the schedules, which hold the project's write lock.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query
from pydantic import Field, StrictInt, StrictStr, model_validator

from weir.governance.policy import Principal
from weir.lifecycle import Hold, Step
from weir.project.base import Name, Strict
from weir.serve.problems import error_responses
from weir.serve.routing import api_v1_router, operator_of
from weir.workspace import Project


class PlannedStep(Strict):
    dataset: str = Field(description="layer.name, or wal/<source> for a collector log")
    action: str = Field(description="archive, destroy, expire (snapshots) or log (segments)")
    count: int = Field(description="rows; snapshots for expire; segments for log")
    unit: str
    files: int
    older_than: str = Field(description="the cut-off (ISO time)")
    time_from: str = Field(description="the oldest of them, by the rule's age (ISO time)")
    time_to: str
    rule: str
    held_by: str | None = Field(description="the legal hold that stops it, if any")


class PlanAnswer(Strict):
    steps: list[PlannedStep]


class HoldItem(Strict):
    hold_id: str
    source: str
    subject: str | None = Field(
        default=None, description="a held person: their kind and identifier's keyed hash"
    )
    reason: str
    by: str
    since: str
    released: str | None
    released_by: str | None
    release_reason: str | None


class HoldList(Strict):
    holds: list[HoldItem]


class HoldRequest(Strict):
    """A source, or one person (by id; ``kind`` when weir.yml declares several kinds)."""

    source: Name | None = None
    subject: StrictStr | StrictInt | None = Field(
        default=None, description="a person's identifier (text or a whole number, not true/false)"
    )
    kind: str | None = Field(default=None, max_length=63, description="the kind of subject")
    reason: str = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _one_target(self) -> "HoldRequest":
        if (self.source is None) == (self.subject is None):
            raise ValueError("hold either a source or a subject")
        return self


class ReleaseRequest(Strict):
    reason: str = Field(default="", max_length=2000)


def _planned(step: Step) -> PlannedStep:
    row: dict[str, Any] = step.as_row()
    return PlannedStep(
        dataset=step.dataset,
        action=step.kind,
        count=step.rows,
        unit=row["unit"],
        files=step.files,
        older_than=row["older_than"],
        time_from=row["from"],
        time_to=row["to"],
        rule=step.rule,
        held_by=step.held,
    )


def _hold(hold: Hold) -> HoldItem:
    row = hold.as_row()
    return HoldItem(
        hold_id=hold.hold_id,
        source=hold.source or "",
        subject=hold.held if hold.subject else None,
        reason=hold.reason,
        by=hold.created_by,
        since=str(row["since"]),
        released=str(row["released"]) or None,
        released_by=hold.released_by,
        release_reason=hold.release_reason,
    )


def lifecycle_router(app: FastAPI) -> APIRouter:
    """The retention plan and legal-hold routes of the app's project."""
    project: Project = app.state.project
    tokens = project.access.tokens()
    may_not = "see the retention plan or place and release legal holds"
    Operator = Annotated[Principal, Depends(operator_of(tokens, project.access.policy, may_not))]
    router = api_v1_router(
        tokens,
        error_responses(
            {
                400: "a hold without a reason, or one released already",
                401: "no token, or a token unknown, revoked or expired",
                403: "the role may not manage retention",
                404: "no source or hold of that name",
                413: "the request body is over the limit",
                422: "the request does not match this document",
            }
        ),
        tags=["lifecycle"],
    )

    @router.get("/lifecycle/plan", summary="What retention would archive, destroy or expire now")
    def plan(caller: Operator) -> PlanAnswer:
        del caller
        return PlanAnswer(steps=[_planned(s) for s in project.lifecycle.plan()])

    @router.get("/lifecycle/holds", summary="The legal holds (with all=true, released ones too)")
    def holds(
        caller: Operator,
        released: Annotated[bool, Query(alias="all", description="released holds too")] = False,
    ) -> HoldList:
        del caller
        return HoldList(holds=[_hold(h) for h in project.lifecycle.holds.list(released)])

    @router.post(
        "/lifecycle/holds",
        summary="Hold a source (retention destroys none of its data) or a person (not erased)",
        status_code=201,
    )
    def add_hold(body: HoldRequest, caller: Operator) -> HoldItem:
        holds = project.lifecycle.holds
        if body.subject is not None:
            held = project.subjects.resolve(body.subject, kind=body.kind)
            return _hold(holds.add_subject(held, body.reason, caller.user))
        assert body.source is not None
        return _hold(holds.add(body.source, body.reason, caller.user))

    @router.post("/lifecycle/holds/{hold_id}/release", summary="Release a legal hold")
    def release_hold(
        body: ReleaseRequest,
        caller: Operator,
        hold_id: Annotated[str, Path(max_length=32)],
    ) -> HoldItem:
        return _hold(project.lifecycle.holds.release(hold_id, body.reason, caller.user))

    return router
