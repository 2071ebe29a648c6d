"""The example retailer on the golden dataset, with its reference roles, served in-process.

Built once per test session under pytest's base temp folder (the API, token
and schemathesis tests share it): ingested, models run, one token per user.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

import weir

GOLDEN = Path(__file__).resolve().parent / "golden" / "landing"

# The reference roles of the example's weir.yml, each with one of its users.
USER_OF = {
    "sales": "sam",
    "sales_north": "nina",
    "marketing": "mia",
    "operations": "oscar",
    "support": "sue",
    "finance": "fay",
    "analyst": "ana",
    "admin": "ada",
}


@dataclass(frozen=True)
class Served:
    root: Path
    tokens: dict[str, str]  # role → a bearer token of its user

    def project(self) -> weir.Project:
        return weir.Project(self.root)

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@contextmanager
def serving(project: weir.Project, services: bool = True, port: int = 0) -> Iterator[str]:
    """``weir serve``'s app on 127.0.0.1 in a thread (its background services too, unless
    ``services`` is False): yields its base URL; stopping it flushes what the collector holds."""
    from weir.serve.app import create_app
    from weir.serve.server import project_services

    app = create_app(project, project_services(project)) if services else create_app(project)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        server.should_exit = True
        thread.join(30)


def build_served(base: Path) -> Served:
    root = base / "served" / "shop"
    ready = base / "served.json"
    if ready.exists():
        return Served(root, json.loads(ready.read_text()))
    shutil.rmtree(root.parent, ignore_errors=True)
    weir.init_project(root)
    shutil.copytree(GOLDEN, root / "landing", dirs_exist_ok=True)
    tokens: dict[str, str] = {}
    with weir.Project(root) as project:
        _, result = project.run()
        assert result.ok, [(b.model, b.error) for b in result.builds if b.status == "failed"]
        for role, user in USER_OF.items():
            tokens[role] = project.access.tokens().create(user, role, note="tests")[1]
    ready.write_text(json.dumps(tokens))
    return Served(root, tokens)
