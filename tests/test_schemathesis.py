"""Property-based tests of every HTTP route from the server's own OpenAPI document
(schemathesis 4, in-process).

Every operation — the API under ``/api/v1``, the collector's ``/collect/v1/{source}``
and the Segment routes ``/v1/*`` — gets generated requests, valid and invalid, as
three callers: an admin (a token of the admin role; a write key for every collected
source), a team (a token of the marketing role; a key for ``web_traffic`` only) and
someone with no credentials at all. No answer may be a server error, and every
answer must match what the document says (status code, content type, headers,
body schema); the admin's valid requests must also succeed where the schema can
say what is valid.

The operations are listed here and drawn from the schema in the test (not by
``@schema.parametrize()``): the schema comes from an app over a project built
once per session, which a module-level schema could not share, and
schemathesis's lazy fixture schema does not run under pytest 9. The default run
draws ``EXAMPLES`` requests per operation, caller and mode; the run marked slow
draws ``EXAMPLES_SLOW`` for every caller. Each run prints what it tried (``-s``).
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.checks import positive_data_acceptance
from schemathesis.generation import GenerationMode
from schemathesis.schemas import APIOperation, BaseSchema
from served import USER_OF, Served, build_served

import weir
from weir.serve.app import create_app
from weir.serve.segment import CALLS

# Requests per operation, caller and mode: the default run keeps to a few minutes on two
# cores (an admin's requests go deepest; the others are mostly refused at the door)
EXAMPLES = {"admin": 8, "team": 4, "none": 3}
EXAMPLES_SLOW = 150

API = [
    ("POST", "/api/v1/query"),
    ("GET", "/api/v1/kpis"),
    ("GET", "/api/v1/kpis/{name}"),
    ("GET", "/api/v1/experiments/{name}"),
    ("GET", "/api/v1/datasets"),
    ("GET", "/api/v1/datasets/{name}"),
    ("GET", "/api/v1/lineage/{name}"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/flags"),
    ("POST", "/api/v1/flags"),
    ("DELETE", "/api/v1/flags/{day}"),
    ("GET", "/api/v1/alerts"),
    ("POST", "/api/v1/alerts/{rule}/silence"),
    ("GET", "/api/v1/runs"),
    ("POST", "/api/v1/runs"),
    ("GET", "/api/v1/runs/{run_id}"),
    ("GET", "/api/v1/runs/{run_id}/logs"),
    ("POST", "/api/v1/runs/{run_id}/rerun"),
    ("POST", "/api/v1/runs/{run_id}/cancel"),
    ("GET", "/api/v1/schedules"),
    ("GET", "/api/v1/schedules/{name}"),
    ("PATCH", "/api/v1/schedules/{name}"),
    ("GET", "/api/v1/lifecycle/plan"),
    ("GET", "/api/v1/lifecycle/holds"),
    ("POST", "/api/v1/lifecycle/holds"),
    ("POST", "/api/v1/lifecycle/holds/{hold_id}/release"),
    ("GET", "/api/v1/catalog/findings"),
    ("POST", "/api/v1/subjects/find"),
    ("POST", "/api/v1/subjects/export"),
    ("POST", "/api/v1/subjects/erase"),
    ("POST", "/api/v1/sources/{name}/test"),
    ("POST", "/api/v1/sources/discover"),
]
# the subject routes erase people: fuzzed on a project of their own that holds nobody,
# so that no generated id erases a customer of the shared golden project
SUBJECTS = "/api/v1/subjects/"
DOORS = [("POST", "/collect/v1/{source}"), *[("POST", f"/v1/{call}") for call in CALLS]]
OPERATIONS = API + DOORS
CALLERS = ("admin", "team", "none")
# Text the schema cannot constrain (SQL, a KPI's dimension, a source's name, the fields
# of an event) can be well-formed and still name nothing or break a contract: a 4xx
# there is the right answer, not a rejection of valid data.
FREE_TEXT = {
    "/api/v1/query",
    "/api/v1/kpis/{name}",
    "/api/v1/experiments/{name}",  # an experiment's name, a dimension: naming nothing
    "/api/v1/flags",
    "/api/v1/flags/{day}",
    "/collect/v1/{source}",
    # a run's number, a schedule's, model's or source's name, a `since`: valid, naming nothing
    "/api/v1/runs",
    "/api/v1/runs/{run_id}",
    "/api/v1/runs/{run_id}/logs",
    "/api/v1/runs/{run_id}/rerun",
    "/api/v1/runs/{run_id}/cancel",
    "/api/v1/schedules/{name}",
    # a source to hold, a hold to release: well-formed, naming nothing
    "/api/v1/lifecycle/holds",
    "/api/v1/lifecycle/holds/{hold_id}/release",
    # a person by id, e-mail or phone: well-formed, naming nobody
    "/api/v1/subjects/find",
    "/api/v1/subjects/export",
    "/api/v1/subjects/erase",
    # a source's name; a URL or a path to discover: well-formed, naming nothing reachable
    "/api/v1/sources/{name}/test",
    "/api/v1/sources/discover",
}
COLLECTED = ["web_traffic", "crm_interactions"]

TRIED: Counter[str] = Counter()


@schemathesis.serializer("application/x-ndjson")
def _ndjson(_ctx: object, value: object) -> bytes:
    # a body is text; a value of another type (negative data) has no NDJSON form: nothing
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else b""


@dataclass(frozen=True)
class Doors:
    """A fresh example project whose collector the fuzzer posts to (not the shared one)."""

    schema: BaseSchema
    keys: dict[str, str]  # caller → write key

    def headers(self, caller: str, basic: bool) -> dict[str, str]:
        if caller == "none":
            return {}
        if basic:  # as Segment's SDKs send it: the key as the user name, no password
            encoded = base64.b64encode(f"{self.keys[caller]}:".encode()).decode()
            return {"Authorization": f"Basic {encoded}"}
        return {"Authorization": f"Bearer {self.keys[caller]}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return build_served(tmp_path_factory.getbasetemp())


def _schema(app: Any) -> BaseSchema:
    """The API's document; requests carry the caller's credentials, never generated ones.

    The tests send a real token (or write key) with every request, over any the
    document's security schemes would generate: a "negative" case whose only
    fault is a generated credential would reach the server with a valid one.
    """
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    schema.config.generation.update(with_security_parameters=False)
    return schema


@pytest.fixture(scope="module")
def api_schema(served: Served) -> BaseSchema:
    app = create_app(served.project())
    return _schema(app)


@pytest.fixture(scope="module")
def nobody(tmp_path_factory: pytest.TempPathFactory) -> Served:
    """An example project with nothing ingested, and a token per role: nobody to erase."""
    root: Path = weir.init_project(tmp_path_factory.mktemp("nobody") / "shop")
    with weir.Project(root) as project:
        tokens = {r: project.access.tokens().create(u, r)[1] for r, u in USER_OF.items()}
    return Served(root, tokens)


@pytest.fixture(scope="module")
def nobody_schema(nobody: Served) -> BaseSchema:
    return _schema(create_app(nobody.project()))


@pytest.fixture(scope="module")
def doors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Doors]:
    root: Path = weir.init_project(tmp_path_factory.mktemp("doors") / "shop")
    project = weir.Project(root)
    keys = project.access.write_keys()
    found = {
        "admin": keys.create(COLLECTED).key,
        "team": keys.create(["web_traffic"]).key,
    }
    schema = _schema(create_app(project))
    yield Doors(schema, found)
    project.close()


@pytest.fixture(scope="module", autouse=True)
def tally() -> Iterator[None]:
    yield
    cases = sum(TRIED.values())
    print(f"\nschemathesis: {len(TRIED)} (operation, caller, mode) runs, {cases} requests")


def test_every_operation_of_the_document_is_exercised(doors: Doors) -> None:
    found = {
        (result.ok().method.upper(), result.ok().path)
        for result in doors.schema.get_all_operations()
    }
    documented = {op for op in found if op[1].startswith(("/api/", "/collect/", "/v1/"))}
    assert documented == set(OPERATIONS)


def test_the_doors_document_their_bodies_and_credentials(doors: Doors) -> None:
    document = doors.schema.raw_schema
    schemes = document["components"]["securitySchemes"]
    assert schemes["WriteKey"]["scheme"] == "bearer"
    assert schemes["WriteKeyBasic"]["scheme"] == "basic"
    for _method, path in DOORS:
        post = document["paths"][path]["post"]
        assert {"WriteKey", "WriteKeyBasic"} <= {name for s in post["security"] for name in s}
        assert post["requestBody"]["required"] is True
        assert "application/json" in post["requestBody"]["content"]
        assert {"200", "400", "401", "403", "413", "503"} <= set(post["responses"])
    batch = document["paths"]["/v1/batch"]["post"]["requestBody"]["content"]["application/json"]
    assert batch["schema"]["required"] == ["batch"]
    limit = document["components"]["schemas"]["QueryRequest"]["properties"]["limit"]
    assert limit["anyOf"][0]["maximum"] == 100_000  # the query's limit declares its maximum


def _run(
    operation: APIOperation,
    path: str,
    mode: GenerationMode,
    caller: str,
    headers_of: st.SearchStrategy[dict[str, str]],
    examples: int,
) -> None:
    if mode is GenerationMode.NEGATIVE and not _takes_input(operation):
        _refuses_a_parameter_it_does_not_take(operation, caller, headers_of)
        return
    excluded = [positive_data_acceptance] if path in FREE_TEXT or caller != "admin" else []
    strategy = operation.as_strategy(generation_mode=mode)
    if path == "/collect/v1/{source}":
        # most requests name a collected source, so bodies reach the collector itself
        names = st.sampled_from([*COLLECTED, None])
        strategy = st.builds(_with_source, strategy, names)
    label = f"{operation.method.upper()} {path} {caller} {mode.value}"

    @given(case=strategy, headers=headers_of)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Case, headers: dict[str, str]) -> None:
        TRIED[label] += 1
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    check()


def _takes_input(operation: APIOperation) -> bool:
    """Whether the document gives the operation a parameter or a body (credentials aside)."""
    return any(True for _ in operation.iter_parameters()) or bool(list(operation.body))


def _refuses_a_parameter_it_does_not_take(
    operation: APIOperation, caller: str, headers_of: st.SearchStrategy[dict[str, str]]
) -> None:
    """An operation without parameters: the one way to ask it wrongly is a parameter it lacks."""
    label = f"{operation.method.upper()} {operation.path} {caller} negative"

    @given(headers=headers_of)
    @settings(max_examples=2, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(headers: dict[str, str]) -> None:
        TRIED[label] += 1
        response = operation.Case(query={"no_such_parameter": "1"}).call(headers=headers)
        # a caller without a token (or without the role) is refused before its parameters
        refused = {422} if caller == "admin" else {401, 403, 404, 422}
        assert response.status_code in refused, (label, response.status_code, response.text)

    check()


def _with_source(case: Case, source: str | None) -> Case:
    if source is not None and case.path_parameters is not None:
        case.path_parameters["source"] = source
    return case


def _api_headers(served: Served, caller: str) -> st.SearchStrategy[dict[str, str]]:
    role = {"admin": "admin", "team": "marketing"}.get(caller)
    return st.just(served.headers(role) if role else {})


def _door_headers(doors: Doors, caller: str) -> st.SearchStrategy[dict[str, str]]:
    return st.sampled_from([doors.headers(caller, basic=False), doors.headers(caller, basic=True)])


def _cases(slow: bool) -> list[object]:
    return [
        pytest.param(
            method,
            path,
            caller,
            mode,
            EXAMPLES_SLOW if slow else EXAMPLES[caller],
            marks=[pytest.mark.slow] if slow else [],
            id=f"{method} {path} {caller} {mode.value}{' slow' if slow else ''}",
        )
        for method, path in OPERATIONS
        for caller in CALLERS
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]


@pytest.mark.parametrize(
    ("method", "path", "caller", "mode", "examples"), _cases(slow=False) + _cases(slow=True)
)
def test_every_route_keeps_its_document(
    request: pytest.FixtureRequest,
    method: str,
    path: str,
    caller: str,
    mode: GenerationMode,
    examples: int,
) -> None:
    if path.startswith(SUBJECTS):
        served: Served = request.getfixturevalue("nobody")
        schema: BaseSchema = request.getfixturevalue("nobody_schema")
        headers = _api_headers(served, caller)
    elif path.startswith("/api/"):
        served = request.getfixturevalue("served")
        schema = request.getfixturevalue("api_schema")
        headers = _api_headers(served, caller)
    else:
        doors: Doors = request.getfixturevalue("doors")
        schema = doors.schema
        headers = _door_headers(doors, caller)
    _run(schema[path][method], path, mode, caller, headers, examples)
