"""The example retailer on the golden dataset, with its reference roles, served in-process.

Built once per test session under pytest's base temp folder (the API, token
and schemathesis tests share it): ingested, models run, one token per user.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

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
