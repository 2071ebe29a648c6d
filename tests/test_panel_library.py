"""The library calls the web control panel stands on: quarantine as a principal, audit
verification, the lineage graph, and who replayed or unflagged what."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from conftest import assert_counts, ingest_one, jsonl, land, web_event
from hypothesis import given
from hypothesis import strategies as st
from served import Served, build_served

import weir
from weir.errors import AccessDenied, NotFoundError
from weir.governance.catalog import LineageGraph, _bridged
from weir.serve.web.lineage_svg import draw


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return build_served(tmp_path_factory.getbasetemp())


def test_quarantine_as_a_principal_goes_through_the_gateway(served: Served) -> None:
    with served.project() as project:
        policy = project.access.policy()
        admin = policy.principal("ada", "admin")
        clear = project.sources.quarantine("pos", 100)
        seen = project.access.quarantine(admin, "pos", limit=100).table
        # admin reads every layer in clear: the same records, in the same order
        assert seen.column("_record_id").to_pylist() == clear.column("_record_id").to_pylist()
        assert seen.column_names[-1] == "_raw" and seen.column_names.count("_raw") == 1
        only = project.access.quarantine(admin, "pos", reason="discount_within_revenue").table
        reasons = only.column("_reasons").to_pylist()
        # the golden POS files hold one record whose discount is over its revenue (store 3, 17 Jan)
        assert reasons == [
            ["rule discount_within_revenue: discount_applied is larger than revenue"]
        ]
        paged = project.access.quarantine(admin, "pos", limit=1, offset=1).table
        assert paged.column("_record_id").to_pylist() == clear.column("_record_id").to_pylist()[1:2]

        record = project.audit.records("query", "ada", limit=1)[0]
        assert record.entry.action == "quarantine pos" and record.entry.allowed
        assert record.entry.datasets == ("quarantine.pos",) and record.entry.rows == 1

        analyst = policy.principal("ana", "analyst")  # warehouse and marts only
        with pytest.raises(AccessDenied):
            project.access.quarantine(analyst, "pos")
        refused = project.audit.records("query", "ana", limit=1)[0]
        assert not refused.entry.allowed and refused.entry.action == "quarantine pos"
        with pytest.raises(NotFoundError, match="pos"):
            project.access.quarantine(admin, "poss")


def test_audit_verification_is_for_admins(served: Served) -> None:
    with served.project() as project:
        policy = project.access.policy()
        found = project.access.verify_audit(policy.principal("ada", "admin"))
        assert found.ok and found.records >= 1 and found.head_seq == found.records
        with pytest.raises(AccessDenied, match="admin: true"):
            project.access.verify_audit(policy.principal("sam", "sales"))


def test_lineage_graph_of_a_column_for_admin_and_for_sales(served: Served) -> None:
    with served.project() as project:
        policy = project.access.policy()
        net = "marts.sales_daily.net_sales"
        graph = project.catalog.lineage_graph(policy.principal("ada", "admin"), net)
        # net_sales = revenue - discount_applied in fact_sales_lines, summed in the mart
        assert graph.focus == net
        assert graph.edges == (
            ("staging.pos.discount_applied", "warehouse.fact_sales_lines.net_sales"),
            ("staging.pos.revenue", "warehouse.fact_sales_lines.net_sales"),
            ("warehouse.fact_sales_lines.net_sales", net),
        )
        # the same closure as the flat lineage the API answers
        flat = project.catalog.lineage(policy.principal("ada", "admin"), net)
        assert set(graph.nodes) == {net, *flat["upstream"], *flat["downstream"]}  # type: ignore[misc]
        # the sales role reads the marts only: nothing upstream is shown
        sales = project.catalog.lineage_graph(policy.principal("sam", "sales"), net)
        assert (sales.nodes, sales.edges) == ((net,), ())
        with pytest.raises(NotFoundError):
            project.catalog.lineage_graph(policy.principal("sam", "sales"), "staging.pos")
        with pytest.raises(NotFoundError, match="no column"):
            project.catalog.lineage_graph(policy.principal("ada", "admin"), f"{net}x")


def test_lineage_graph_of_a_table_leaves_out_what_the_role_cannot_read(served: Served) -> None:
    with served.project() as project:
        policy = project.access.policy()
        analyst = policy.principal("ana", "analyst")  # no staging
        graph = project.catalog.lineage_graph(analyst, "marts.sales_daily")
        # the fact reads staging.pos too, which the analyst cannot see (nothing to bridge to)
        assert graph.edges == (
            ("warehouse.dim_product", "warehouse.fact_sales_lines"),
            ("warehouse.dim_store", "warehouse.fact_sales_lines"),
            ("warehouse.fact_sales_lines", "marts.sales_daily"),
        )
        assert not any(n.startswith("staging.") for n in graph.nodes)


DAGS = st.lists(
    st.tuples(st.integers(0, 7), st.integers(0, 7)).filter(lambda e: e[0] < e[1]), max_size=20
)


@given(DAGS, st.sets(st.integers(0, 7)))
def test_bridging_keeps_exactly_the_paths_between_visible_nodes(
    edges: list[tuple[int, int]], hidden: set[int]
) -> None:
    named = [(f"n{a}", f"n{b}") for a, b in edges]
    focus = "n0"
    visible = {n for edge in named for n in edge if int(n[1:]) not in hidden} | {focus}

    def reach(graph: list[tuple[str, str]], start: str) -> set[str]:
        found: set[str] = set()
        stack = [b for a, b in graph if a == start]
        while stack:
            node = stack.pop()
            if node not in found:
                found.add(node)
                stack += [b for a, b in graph if a == node]
        return found

    nodes, kept = _bridged(focus, named, lambda n: int(n[1:]) not in hidden)
    assert set(nodes) == visible
    for start in visible:
        assert reach(list(kept), start) == reach(named, start) & visible


def test_replay_and_unflag_record_who_and_why(project_root: Path, project: weir.Project) -> None:
    land(
        project_root,
        "web_traffic",
        "web_2025-01-01T10.jsonl",
        jsonl(web_event("e1", device_type="SmartTV"), web_event("e2")),
    )
    assert_counts(
        ingest_one(project, "web_traffic"), received=2, accepted=1, quarantined=1, duplicates=0
    )
    result = project.sources.replay("web_traffic", by="olga")
    assert result.counts.released == 0  # the contract did not change: still held
    record = project.audit.records("ingest", "olga", limit=1)[0]
    assert record.entry.action == "quarantine replay web_traffic"
    assert record.entry.detail == {"batch": result.batch_id, "released": 0, "still_held": 1}

    project.quality.flag(date(2025, 1, 1), "till outage", user="olga")
    project.quality.unflag(date(2025, 1, 1), user="olga", reason="the files arrived late")
    removed = project.audit.records("flag.remove", "olga", limit=1)[0]
    assert removed.entry.detail == {"reason": "the files arrived late"}
    with pytest.raises(NotFoundError, match="web_trafic"):
        project.sources.replay("web_trafic")


def test_lineage_drawing_worked_by_hand() -> None:
    graph = LineageGraph(
        "m.c", ("s.a", "w.b", "m.c"), (("s.a", "m.c"), ("s.a", "w.b"), ("w.b", "m.c"))
    )
    drawing = draw(graph, lambda name: f"/catalog/{name}")
    at = {b.name: (b.x, b.y) for b in drawing.boxes}
    # columns by the longest path from a root: a → b → c; 10 margin, 250 wide, 70 apart
    assert at == {"s.a": (10, 10), "w.b": (330, 10), "m.c": (650, 10)}
    assert (drawing.width, drawing.height) == (10 + 3 * 250 + 2 * 70 + 10, 10 + 40 + 10)
    wire = next(w for w in drawing.wires if (w.source, w.target) == ("s.a", "m.c"))
    # from a's right side (10 + 250, 10 + 20) to c's left side, bent halfway
    assert wire.d == "M260,30 C455,30 455,30 650,30"
    assert [b.focus for b in drawing.boxes if b.focus] == [True]
    assert next(b for b in drawing.boxes if b.focus).name == "m.c"


@given(DAGS)
def test_lineage_drawing_runs_left_to_right_without_overlaps(edges: list[tuple[int, int]]) -> None:
    named = tuple(sorted({(f"l.t{a}", f"l.t{b}") for a, b in edges}))
    nodes = tuple(sorted({"l.t0"} | {n for edge in named for n in edge}))
    drawing = draw(LineageGraph("l.t0", nodes, named), lambda name: name)
    at = {b.name: (b.x, b.y) for b in drawing.boxes}
    assert len(set(at.values())) == len(at)  # one box per place
    for source, target in named:
        assert at[source][0] < at[target][0]  # what is read is left of what it feeds
    assert all(
        x >= 0 and x + drawing.box_w <= drawing.width and y + drawing.box_h <= drawing.height
        for x, y in at.values()
    )
