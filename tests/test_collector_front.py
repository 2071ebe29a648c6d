"""The collector's route answered by its middleware: the same answers, metrics and document.

``POST /collect/v1/{source}`` is handled by ``CollectFront`` before FastAPI's
router; what a client and an operator see must be what the routed request
gave: the receipt, the error shape with its status, the request counted under
the route's template, the route in the OpenAPI document.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from conftest import web_event

import weir
from weir.serve.app import create_app


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.AsyncClient, str]]:
    root = weir.init_project(tmp_path_factory.mktemp("front") / "shop")
    project = weir.Project(root)
    app = create_app(project)
    key = project.access.write_keys().create(["web_traffic"]).key
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://weir")
    yield client, key
    asyncio.run(client.aclose())
    app.state.collector.close()
    project.close()


def test_answers_errors_and_metrics_are_those_of_the_route(
    served: tuple[httpx.AsyncClient, str],
) -> None:
    client, key = served
    auth = {"Authorization": f"Bearer {key}"}

    async def scenario() -> None:
        posted = await client.post("/collect/v1/web_traffic", json=web_event("f1"), headers=auth)
        assert posted.status_code == 200
        assert posted.json() == {"accepted": 1, "quarantined": 0, "duplicates": 0, "rejected": []}
        assert posted.headers["content-type"] == "application/json"

        unknown = await client.post("/collect/v1/web_trafic", json=web_event("f2"), headers=auth)
        assert unknown.status_code == 404
        error = unknown.json()["error"]
        assert (error["status"], error["code"]) == (404, "not_found")
        assert "web_traffic" in error["message"] + error["fix"]  # the closest name

        no_key = await client.post("/collect/v1/web_traffic", json=web_event("f3"))
        assert no_key.status_code == 401
        assert no_key.headers["www-authenticate"] == "Bearer"

        # not a collector request: FastAPI's router answers as before
        assert (await client.get("/collect/v1/web_traffic", headers=auth)).status_code == 405
        assert (await client.post("/collect/v1/web_traffic/x", headers=auth)).status_code == 404

        metrics = (await client.get("/metrics")).text
        for status in ("200", "404", "401"):
            counted = (
                f'weir_http_requests_total{{method="POST",route="/collect/v1/{{source}}",'
                f'status="{status}"}} 1.0'
            )
            assert counted in metrics, status

        document = (await client.get("/api/v1/openapi.json")).json()
        assert "post" in document["paths"]["/collect/v1/{source}"]

    asyncio.run(scenario())


def test_the_path_of_another_route_is_left_to_the_router() -> None:
    from weir.serve.collector import _source_of

    def scope(method: str, path: str, root: str = "") -> dict[str, object]:
        return {"type": "http", "method": method, "path": path, "root_path": root}

    assert _source_of(scope("POST", "/collect/v1/web_traffic")) == "web_traffic"
    assert _source_of(scope("POST", "/shop/collect/v1/orders", "/shop")) == "orders"
    assert _source_of(scope("POST", "/collect/v1/")) is None
    assert _source_of(scope("POST", "/collect/v1/a/b")) is None
    assert _source_of(scope("PUT", "/collect/v1/web_traffic")) is None
    assert _source_of(scope("POST", "/collect/v2/web_traffic")) is None
    assert _source_of({"type": "websocket", "path": "/collect/v1/x"}) is None
