"""The example retailer on the golden dataset, with the reference roles of ARCHITECTURE.md, served in-process.

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

# One role per team of the access table, a regional sales role, and the data team.
ROLES = """
roles:
  sales:
    description: the sales mart, over SQL and the API
    grants: [marts.sales_daily, marts.product_daily, marts.stock_daily]
  sales_north:
    description: the sales mart, the North region's stores only
    grants: [marts.sales_daily]
    row_filters:
      marts.sales_daily: "region = 'North'"
  marketing:
    grants: [marts.sessions, marts.active_users_daily, marts.new_product_ctr_daily,
             marts.customer_activity_daily, marts.engagement_daily]
  operations:
    description: ad-hoc SQL on the warehouse, personal data hashed
    grants: [warehouse, marts.product_daily, marts.restocks_daily, marts.stock_daily]
  support:
    grants: [marts.interactions, marts.cases, marts.case_backlog_daily]
  finance:
    grants: [marts.finance_daily]
  data:
    description: the data team
    grants: ["*"]
    pii: true
    admin: true
users:
  sara: {roles: [sales]}
  nils: {roles: [sales_north]}
  mia: {roles: [marketing]}
  otto: {roles: [operations]}
  suki: {roles: [support]}
  fern: {roles: [finance]}
  dana: {roles: [data, operations]}
"""
USER_OF = {
    "sales": "sara",
    "sales_north": "nils",
    "marketing": "mia",
    "operations": "otto",
    "support": "suki",
    "finance": "fern",
    "data": "dana",
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
    config = (root / "weir.yml").read_text(encoding="utf-8")
    cut = config.find("\nroles:")
    (root / "weir.yml").write_text((config if cut < 0 else config[:cut]) + ROLES)
    shutil.copytree(GOLDEN, root / "landing", dirs_exist_ok=True)
    tokens: dict[str, str] = {}
    with weir.Project(root) as project:
        _, result = project.run()
        assert result.ok, [(b.model, b.error) for b in result.builds if b.status == "failed"]
        for role, user in USER_OF.items():
            tokens[role] = project.tokens().create(user, role, note="tests")[1]
    ready.write_text(json.dumps(tokens))
    return Served(root, tokens)
