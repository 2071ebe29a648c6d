"""The control panel (``/panel``): runs, schedules, sources and streams, for operator roles.

Every route is for a role with ``operator: true`` (or ``admin: true``); others
get 404. Each makes the same library calls as ``/api/v1/runs`` and
``/api/v1/schedules`` (``project.runs``, ``project.schedules``) and the health
route (``project.sources``, ``project.streams``, ``project.quality``), as the
signed-in user, so every change is audited under their name. Forms post with
the session's CSRF token and answer with a redirect to the page that shows
the outcome (post, redirect, get). The quarantine browser is ``quarantine.py``.

The sources page also tests a source and (admin roles) proposes a contract,
through ``project.sources.test`` and ``project.sources.discover_named`` as
``POST /api/v1/sources/…`` does: htmx posts the form and swaps the answer in
under it; without script the form posts and the page comes back with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from weir.errors import QueryError, WeirError
from weir.ingest.probe import DiscoverOptions, shown_target
from weir.ingest.reconcile import BatchCheck
from weir.ingest.status import SourceStatus
from weir.orchestrate.records import RUN_STATUSES, Run, RunStatus
from weir.quality.freshness import human_age
from weir.serve.web.auth import project_of, require_admin, require_operator
from weir.serve.web.shell import SECURITY_HEADERS, WebUser, page, shell_of
from weir.streams.status import StreamStatus

Operator = Annotated[WebUser, Depends(require_operator)]
Admin = Annotated[WebUser, Depends(require_admin)]
RunId = Annotated[int, Path(ge=1, le=2**62)]
Name = Annotated[str, Path(max_length=63)]
TABS = (
    ("Runs", "/panel"),
    ("Schedules", "/panel/schedules"),
    ("Sources and streams", "/panel/sources"),
    ("Quarantine", "/panel/quarantine"),
)
PAGE = 50


@dataclass(frozen=True)
class SourceRow:
    """A source as the panel shows it: its counts, its last batch, and health's judgement."""

    status: SourceStatus
    state: str  # ok, warn, error (from health)
    detail: str
    facts: dict[str, Any]

    @property
    def freshness(self) -> str:
        age = self.facts.get("event_age")
        if age is None:
            return "no event time" if self.status.totals.accepted else "no records yet"
        return f"{age} ago"

    @property
    def arrival(self) -> str:
        age = self.facts.get("arrival_age")
        return "no batch yet" if age is None else f"{age} ago"


def router() -> APIRouter:
    routes = APIRouter(prefix="/panel", include_in_schema=False)

    @routes.get("")
    def runs(
        request: Request,
        user: Operator,
        status: RunStatus | Literal[""] = "",
        schedule: Annotated[str, Query(max_length=63)] = "",
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> Response:
        project = project_of(request)
        found = project.runs.list(status or None, None, schedule or None, PAGE, offset)
        live = any(not r.finished for r in found)
        return page(
            request,
            user,
            "panel/runs.html",
            "Control panel",
            tabs=TABS,
            runs=found,
            statuses=RUN_STATUSES,
            run_status=status,
            schedule=schedule,
            schedules=[s.name for s in project.schedules.list()],
            models=sorted(project.models.graph().models),
            sources=sorted(project.files.sources),
            counts=[(k, n) for k, n in project.runs.status_counts().items() if n],
            offset=offset,
            next_offset=offset + PAGE if len(found) == PAGE else None,
            live=live,
        )

    @routes.get("/runs/{run_id}")
    def run(request: Request, user: Operator, run_id: RunId) -> Response:
        project = project_of(request)
        found = project.runs.get(run_id)
        return page(
            request,
            user,
            "panel/run.html",
            f"Run {run_id}",
            tabs=TABS,
            run=found,
            logs=project.runs.logs(run_id),
            failed_steps=sum(1 for s in found.steps if s.status != "succeeded"),
            refresh=not found.finished,
        )

    @routes.post("/runs")
    def trigger(
        request: Request,
        user: Operator,
        what: Annotated[Literal["schedule", "models", "sources"], Form()],
        schedule: Annotated[str, Form(max_length=63)] = "",
        models: Annotated[list[str] | None, Form()] = None,
        sources: Annotated[list[str] | None, Form()] = None,
    ) -> Response:
        runs = project_of(request).runs
        by = user.name
        if what == "schedule":
            made = runs.trigger(schedule or None, by=by)
        elif what == "models":
            made = runs.trigger(select=_chosen(models, "a model"), by=by)
        else:
            made = runs.trigger(sources=_chosen(sources, "a source"), by=by)
        return _see(f"/panel/runs/{made.run_id}")

    @routes.post("/runs/backfill")
    def backfill(
        request: Request,
        user: Operator,
        start: Annotated[date, Form()],
        end: Annotated[date, Form()],
        models: Annotated[list[str] | None, Form()] = None,
    ) -> Response:
        made = project_of(request).runs.backfill(_chosen(models, "a model"), start, end, user.name)
        return _see(f"/panel/runs/{made.run_id}")

    @routes.post("/runs/{run_id}/rerun")
    def rerun(
        request: Request,
        user: Operator,
        run_id: RunId,
        steps: Annotated[Literal["all", "failed"], Form()] = "all",
    ) -> Response:
        made = project_of(request).runs.rerun(run_id, steps == "failed", user.name)
        return _see(f"/panel/runs/{made.run_id}")

    @routes.post("/runs/{run_id}/cancel")
    def cancel(request: Request, user: Operator, run_id: RunId) -> Response:
        project_of(request).runs.cancel(run_id, user.name)
        return _see(f"/panel/runs/{run_id}")

    @routes.get("/schedules")
    def schedules(request: Request, user: Operator) -> Response:
        project = project_of(request)
        described = {s.name: s.description for s in project.files.config.schedules}
        latest: dict[str, Run] = {}
        for name in described:
            newest = project.runs.list(schedule=name, limit=1)
            if newest:
                latest[name] = newest[0]
        return page(
            request,
            user,
            "panel/schedules.html",
            "Schedules",
            tabs=TABS,
            schedules=project.schedules.list(),
            described=described,
            latest=latest,
        )

    @routes.post("/schedules/{name}")
    def change_schedule(
        request: Request,
        user: Operator,
        name: Name,
        action: Annotated[Literal["pause", "resume", "set", "reset"], Form()],
        cron: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        schedules = project_of(request).schedules
        if action == "pause":
            schedules.pause(name, user.name)
        elif action == "resume":
            schedules.resume(name, user.name)
        elif action == "reset":
            schedules.reset(name, user.name)
        else:
            if not cron.strip():
                raise QueryError("no cron line was given", 'write one, e.g. "0 2 * * *"')
            schedules.set(name, cron.strip(), user.name)
        return _see(f"/panel/schedules#schedule-{name}")

    @routes.get("/sources")
    def sources(request: Request, user: Operator) -> Response:
        return _sources_page(request, user)

    @routes.post("/sources/{name}/test")
    def test_source(
        request: Request,
        user: Operator,
        name: Name,
        limit: Annotated[int, Form(ge=1, le=100)] = 10,
    ) -> Response:
        project = project_of(request)
        project.files.source(name)  # an unknown source is a 404, as on the API
        try:
            probe, sample = project.sources.test(name, limit, by=user.name)
        except WeirError as failed:  # unreachable, refused, not JSON…: said in place
            return _answer_part(
                request, user, "panel/_source_test.html", test_error=failed, tested_name=name
            )
        tested = SourceTest(
            probe.source,
            probe.reached,
            probe.reads,
            [f for f in sample.column_names if f not in ("at", "_reasons")],
            sample.to_pylist(),
        )
        return _answer_part(
            request, user, "panel/_source_test.html", tested=tested, tested_name=name
        )

    @routes.post("/sources/discover")
    def discover_source(
        request: Request,
        user: Admin,
        target: Annotated[str, Form(max_length=2000)] = "",
        table: Annotated[str, Form(max_length=200)] = "",
        name: Annotated[str, Form(max_length=63)] = "",
        token: Annotated[str, Form(max_length=4000)] = "",
    ) -> Response:
        project = project_of(request)
        given = target.strip()
        url, path = (given, None) if "://" in given else (None, given or None)
        options = DiscoverOptions(
            table=table.strip() or None, name=name.strip() or None, token=token or None
        )
        shown = shown_target(given) if url else given  # the form again, without a password
        try:
            proposal = project.sources.discover_named(url, path, options, user.name)
        except WeirError as failed:
            return _answer_part(
                request, user, "panel/_source_discover.html", discover_error=failed, target=shown
            )
        return _answer_part(
            request, user, "panel/_source_discover.html", proposal=proposal, target=shown
        )

    return routes


@dataclass(frozen=True)
class SourceTest:
    """A source's test as the panel shows it: where it reached and the checked sample."""

    source: str
    reached: str
    reads: str
    columns: list[str]
    records: list[dict[str, Any]]  # each with at, its columns' text and _reasons


def _sources_page(request: Request, user: WebUser, status: int = 200, **shown: Any) -> Response:
    project = project_of(request)
    health = {(i.component, i.name): i for i in project.quality.health().items}
    statuses = project.sources.status()
    reconciled = _reconciled(project.sources.reconcile(), statuses)
    rows = []
    for found in statuses:
        item = health.get(("source", found.source))
        if item is None:
            rows.append(SourceRow(found, "ok", "", {}))
        else:
            rows.append(SourceRow(found, item.state, item.detail, dict(item.facts)))
    return page(
        request,
        user,
        "panel/sources.html",
        "Sources and streams",
        status=status,
        tabs=TABS,
        sources=rows,
        reconciled=reconciled,
        streams=project.streams.status(),
        stream_state=_stream_state,
        now=datetime.now(UTC).timestamp(),
        **shown,
    )


def _answer_part(request: Request, user: WebUser, part: str, **shown: Any) -> Response:
    """htmx asked: the part alone (an error in it, said in place); a plain form post: the page.

    An error is answered 200 to htmx (which swaps only successes into the page)
    and with its own status to a plain post.
    """
    failed = next((v for v in shown.values() if isinstance(v, WeirError)), None)
    if request.headers.get("hx-request") == "true":
        html = shell_of(request).env.get_template(part).render(csrf=user.csrf, user=user, **shown)
        return HTMLResponse(html, headers=dict(SECURITY_HEADERS))
    return _sources_page(request, user, failed.status if failed else 200, **shown)


def _reconciled(checks: list[BatchCheck], statuses: list[SourceStatus]) -> dict[str, Reconciled]:
    """Each source's last batch and quarantine, counted in the lake: ok, or what is off."""
    last = {
        s.source: s.last_batch.batch_id
        for s in statuses
        if s.last_batch is not None and s.last_batch.status == "committed"
    }
    found: dict[str, Reconciled] = {}
    for source, batch in last.items():
        mine = [c for c in checks if c.source == source and c.batch_id in (batch, "(quarantine)")]
        off = [c for c in mine if c.state == "mismatch"]
        if off:
            found[source] = Reconciled("error", "; ".join(f"{c.layer}: {c.message}" for c in off))
        elif any(c.state != "ok" for c in mine):
            found[source] = Reconciled("ok", "ok, part expired by retention")
        else:
            found[source] = Reconciled("ok", "ok" if mine else "not counted")
    return found


@dataclass(frozen=True)
class Reconciled:
    """A source's last batch checked against the lake: a state word and what it says."""

    state: str  # ok, error
    detail: str


def _stream_state(stream: StreamStatus) -> tuple[str, str]:
    """A stream's state and what it means, as health judges it."""
    if stream.running is False:
        return "error", "not running"
    if stream.failing_since is not None:
        return "error", stream.last_error or "its flushes fail"
    if stream.errors:
        return "warn", stream.last_error or f"{stream.errors} error(s)"
    return "ok", "ok"


def _chosen(names: list[str] | None, what: str) -> list[str]:
    chosen = [n for n in names or [] if n]
    if not chosen:
        raise QueryError(f"no {what.split()[-1]} was chosen", f"choose {what} in the form")
    return chosen


def _see(path: str) -> Response:
    """After a form's change: look at its outcome (303: the browser GETs it)."""
    return RedirectResponse(path, status_code=303)


# -- the panel's template filters (added to the shell's by ``install_web``) --------------------
def seconds_text(value: Any) -> str:
    """A run's or step's duration for people: ``4.2 s``, ``3m 5s``, ``2h 10m``."""
    if value is None:
        return "—"
    seconds = float(value)
    return f"{seconds:.1f} s" if seconds < 120 else human_age(seconds)


def moment_text(value: Any) -> str:
    """An ISO time (as JSON rows carry it) for people, in UTC."""
    if not value:
        return "—"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%d %b %Y %H:%M:%S}"


def cell(value: Any) -> str:
    """A number of a query's result: thousands separators, decimals kept but not padded."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    text = f"{value:,.6f}".rstrip("0").rstrip(".")
    return text or "0"


FILTERS = {"seconds": seconds_text, "moment_text": moment_text, "cell": cell}
