"""The generator's planted incidents: listed in the manifest, visible in the files, and in the lake.

One 60-day run (long enough for every kind) is generated with incidents and
once without; each incident is then looked for in the files the way a
monitor would, and the run without incidents shows what the incident took
away.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

import weir
from weir.cli.main import cli
from weir.demo.generate import (
    INCIDENT_KINDS,
    GenerateError,
    Incident,
    Manifest,
    default_end,
    generate,
    period_of,
)
from weir.demo.generate.build import _generate
from weir.demo.generate.incidents import (
    BURST_SOURCES,
    FIRST_INCIDENT_DAY,
    MIN_DAYS,
    Outage,
    outage_share,
    plan_incidents,
)
from weir.demo.generate.timeline import Period
from weir.demo.generate.world import build_world

DAYS, SCALE, SEED, END = 60, 0.03, 7, date(2026, 11, 30)
START = END - timedelta(days=DAYS - 1)  # 2026-10-02


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    root = weir.init_project(tmp_path_factory.mktemp("incidents") / "shop")
    return root, generate(root / "landing", days=DAYS, scale=SCALE, seed=SEED, end=END)


@pytest.fixture(scope="module")
def calm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    out = tmp_path_factory.mktemp("calm")
    return out, generate(out, days=DAYS, scale=SCALE, seed=SEED, end=END, incidents=False)


def _one(manifest: Manifest, kind: str) -> Incident:
    [incident] = [i for i in manifest.incidents if i.kind == kind]
    return incident


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _records(path: Path) -> list[dict[str, object]]:
    """The JSON objects of a JSON-lines file (malformed lines left out)."""
    out = []
    for line in _lines(path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


# -- the manifest ---------------------------------------------------------------------------
def test_the_manifest_lists_one_incident_of_each_kind(shop: tuple[Path, Manifest]) -> None:
    root, manifest = shop
    assert (manifest.start, manifest.end) == ("2026-10-02", "2026-11-30")
    assert sorted(i.kind for i in manifest.incidents) == sorted(INCIDENT_KINDS)
    body = json.loads((root / "landing" / "manifest.json").read_text(encoding="utf-8"))
    assert body["end"] == "2026-11-30"
    assert [set(i) for i in body["incidents"]] == [
        {"kind", "day", "source", "subject", "detail"}
    ] * 4
    assert body["incidents"] == sorted(body["incidents"], key=lambda i: i["day"])
    assert Manifest.from_path(root / "landing") == manifest
    first_allowed = START + timedelta(days=FIRST_INCIDENT_DAY)  # five weeks in: 2026-11-06
    assert first_allowed == date(2026, 11, 6)
    for incident in manifest.incidents:
        day = date.fromisoformat(incident.day)
        assert START <= day < END, incident  # never the last day, the one the live demo replays
        if incident.kind != "stockout":
            assert day >= first_allowed, incident
    assert _one(manifest, "tracker_outage").source == "web_traffic"
    assert _one(manifest, "missing_pos_file").source == "pos"
    assert _one(manifest, "stockout").source == "inventory"
    assert _one(manifest, "duplicate_burst").source in {
        "orders",
        "inventory",
        "web_traffic",
        "crm_interactions",
    }


def test_every_source_still_balances(shop: tuple[Path, Manifest]) -> None:
    _, manifest = shop
    for name, counts in manifest.sources.items():
        assert counts.received == counts.accepted + counts.quarantined + counts.duplicates, name


def test_without_incidents_the_manifest_lists_none(calm: tuple[Path, Manifest]) -> None:
    _, manifest = calm
    assert manifest.incidents == ()
    assert json.loads((calm[0] / "manifest.json").read_text())["incidents"] == []


# -- each incident in the files ----------------------------------------------------------------
def test_the_outage_day_loses_most_web_events_and_sessions(shop: tuple[Path, Manifest]) -> None:
    root, manifest = shop
    outage = _one(manifest, "tracker_outage")
    events: Counter[str] = Counter()
    sessions: dict[str, set[object]] = {}
    for path in (root / "landing" / "web_traffic").glob("*.jsonl"):
        stamp = path.stem.removeprefix("web_traffic_")[:10]
        events[stamp] += len(_lines(path))
        sessions.setdefault(stamp, set()).update(r.get("session_id") for r in _records(path))
    day = date.fromisoformat(outage.day)
    week_before = [(day - timedelta(days=k)).isoformat() for k in range(1, 8)]
    usual_events = sum(events[d] for d in week_before) / 7
    usual_sessions = sum(len(sessions[d]) for d in week_before) / 7
    # 81-89 % of the day's sessions start in the outage hours; weekday swings are within ±15 %.
    assert events[outage.day] < 0.3 * usual_events
    assert len(sessions[outage.day]) < 0.35 * usual_sessions
    assert events[(day + timedelta(days=1)).isoformat()] > 0.7 * usual_events  # fixed next day


def test_the_outage_window_share_is_hand_worked() -> None:
    # Sessions by hour weigh 21.3 over the day; 06:00-22:00 weighs
    # 0.4+0.8+1+1+1+1.1+1.4+1.3+1+1+1+1.1+1.3+1.6+1.8+1.7 = 18.5.
    assert outage_share(Outage(0, 6, 22)) == pytest.approx(18.5 / 21.3)


def test_the_missing_pos_file_is_absent(
    shop: tuple[Path, Manifest], calm: tuple[Path, Manifest]
) -> None:
    root, manifest = shop
    missing = _one(manifest, "missing_pos_file")
    store = int(missing.subject.removeprefix("store_id="))
    name = f"pos_{missing.day}_store{store:03d}.csv"
    ours = {p.name for p in (root / "landing" / "pos").glob("*.csv")}
    theirs = {p.name for p in (calm[0] / "pos").glob("*.csv")}
    assert name not in ours and name in theirs
    assert theirs - ours == {name}  # that one file, and no other
    assert manifest.sources["pos"].files == calm[1].sources["pos"].files - 1
    # no line of that store and day anywhere else either (store_id is the second column)
    day_files = (root / "landing" / "pos").glob(f"pos_{missing.day}_*.csv")
    assert all(line.split(",")[1] != str(store) for p in day_files for line in _lines(p)[1:])


def test_the_duplicate_burst_is_counted_as_duplicates_after_ingest(
    shop: tuple[Path, Manifest],
) -> None:
    root, manifest = shop
    burst = _one(manifest, "duplicate_burst")
    source = burst.source
    with weir.Project(root) as project:
        [result] = project.sources.ingest([source])
        expected = manifest.sources[source]
        c = result.counts
        assert (c.received, c.accepted, c.quarantined, c.duplicates) == (
            expected.received,
            expected.accepted,
            expected.quarantined,
            expected.duplicates,
        )
        rows = project.sql(
            f"SELECT _source_file AS file, count(*) AS n, count(*) FILTER (_status = 'duplicate') AS dups "
            f"FROM raw.{source} GROUP BY 1"
        ).to_pylist()
    by_day: dict[str, list[int]] = {}
    for row in rows:
        day = Path(str(row["file"])).stem.removeprefix(f"{source}_")[:10]
        totals = by_day.setdefault(day, [0, 0])
        totals[0] += int(row["n"])
        totals[1] += int(row["dups"])
    share = {day: dups / n for day, (n, dups) in by_day.items() if n}
    # 30-60 % of the day's accepted records re-sent within the day: copies / (records + copies)
    # is then 0.23-0.375 on that day; elsewhere a copy in a few hundred records
    assert share[burst.day] > 0.2
    assert max(s for d, s in share.items() if d != burst.day) < 0.1


def test_the_stockout_shows_at_zero_below_its_threshold(shop: tuple[Path, Manifest]) -> None:
    root, manifest = shop
    stockout = _one(manifest, "stockout")
    fields = dict(part.split("=") for part in stockout.subject.split())
    product, warehouse = int(fields["product_id"]), int(fields["warehouse_id"])
    records = [
        r
        for path in (root / "landing" / "inventory").glob(f"inventory_{stockout.day}T*.jsonl")
        for r in _records(path)
        if r.get("product_id") == product and r.get("warehouse_id") == warehouse
    ]
    empty = [r for r in records if r.get("stock_level") == 0]
    assert empty, records
    thresholds = [r["restock_threshold"] for r in empty]
    assert all(isinstance(t, int) and t >= 0 for t in thresholds), thresholds


# -- where incidents fall -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("days", "each", "stockouts"),
    [(30, 0, 1), (41, 0, 1), (42, 1, 1), (119, 1, 1), (120, 2, 2), (365, 2, 2)],
)
def test_incidents_need_six_weeks_of_history(days: int, each: int, stockouts: int) -> None:
    world = build_world(Period(date(2025, 1, 1), days), 0.02, SEED)
    plan = plan_incidents(world)
    assert (len(plan.outages), len(plan.missing), len(plan.bursts)) == (each, each, each)
    assert len(plan.stockouts) == stockouts
    planted = [
        *(o.day for o in plan.outages),
        *(m.day for m in plan.missing),
        *(b.day for b in plan.bursts),
    ]
    assert len(set(planted)) == len(planted)  # one a day
    assert all(FIRST_INCIDENT_DAY <= d < days - 1 and d != days // 2 for d in planted)
    assert all(0 <= s.day < days for s in plan.stockouts)
    for outage in plan.outages:
        assert 0.8 <= outage_share(outage) <= 0.9


# -- the period ------------------------------------------------------------------------------------
def test_the_default_end_is_yesterday_in_utc() -> None:
    assert default_end(datetime(2026, 3, 1, 0, 30, tzinfo=UTC)) == date(2026, 2, 28)
    # 23:30 in New York on 1 March is 04:30 UTC on 2 March: yesterday is 1 March
    new_york = timezone(timedelta(hours=-5))
    assert default_end(datetime(2026, 3, 1, 23, 30, tzinfo=new_york)) == date(2026, 3, 1)
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    assert period_of(now=now) == Period(date(2026, 11, 6), 30)
    assert period_of(7, now=now) == Period(date(2026, 11, 29), 7)
    assert period_of(7, end=date(2026, 1, 31)) == Period(date(2026, 1, 25), 7)
    assert period_of(7, start=date(2026, 1, 1)) == Period(date(2026, 1, 1), 7)
    assert period_of(None, date(2026, 1, 1), date(2026, 1, 31)) == Period(date(2026, 1, 1), 31)
    with pytest.raises(GenerateError, match="not 7"):
        period_of(7, date(2026, 1, 1), date(2026, 1, 31))
    with pytest.raises(GenerateError, match="after it ends"):
        period_of(None, date(2026, 2, 1), date(2026, 1, 31))


def test_a_run_without_an_end_ends_yesterday(tmp_path: Path) -> None:
    before = default_end()
    manifest = generate(tmp_path, days=2, scale=0.02, seed=1)
    assert manifest.end in {before.isoformat(), default_end().isoformat()}
    assert manifest.days == 2


# -- repeatability -----------------------------------------------------------------------------
def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.*"))}


def test_same_seed_and_end_same_bytes_with_incidents(
    shop: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, manifest = shop
    landing = _files(root / "landing")
    split = tmp_path / "split"
    # the second process plants the same incidents in its sources (web traffic, CRM)
    assert _generate(split, DAYS, SCALE, SEED, START, parallel=True) == manifest
    assert _files(split) == landing


def test_the_cli_takes_an_end_date_and_can_leave_incidents_out(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "landing"
    two_days = ["generate", "--out", str(out), "--days", "2", "--end", "2026-01-31"]
    done = runner.invoke(cli, [*two_days, "--scale", "0.02"])
    assert done.exit_code == 0, done.output
    manifest = Manifest.from_path(out)
    assert (manifest.start, manifest.end) == ("2026-01-30", "2026-01-31")
    assert [i.kind for i in manifest.incidents] == ["stockout"]
    done = runner.invoke(cli, [*two_days, "--scale", "0.02", "--no-incidents"])
    assert done.exit_code == 0, done.output
    assert Manifest.from_path(out).incidents == ()
    week = [*two_days[:3], "--start", "2026-01-01", "--end", "2026-01-07", "--scale", "0.02"]
    done = runner.invoke(cli, week)
    assert done.exit_code == 0, done.output
    assert Manifest.from_path(out).days == 7  # from --start to --end, both included
    clash = runner.invoke(
        cli, [*two_days[:3], "--start", "2026-01-01", "--end", "2026-01-31", "--days", "7"]
    )
    assert clash.exit_code == 1
    assert "2026-01-01 to 2026-01-31 is 31 days, not 7" in clash.output


# -- the KPIs the incidents move --------------------------------------------------------------------
@pytest.mark.slow
def test_the_kpis_show_the_outage_and_the_missing_file(shop: tuple[Path, Manifest]) -> None:
    root, manifest = shop
    outage = date.fromisoformat(_one(manifest, "tracker_outage").day)
    missing = _one(manifest, "missing_pos_file")
    gap = date.fromisoformat(missing.day)
    store = int(missing.subject.removeprefix("store_id="))
    with weir.Project(root) as project:
        _, run = project.run()
        assert run.ok
        sessions = {
            r["period"]: float(r["value"])
            for r in project.kpis.answer(
                "sessions", start=outage - timedelta(days=7), end=outage
            ).to_pylist()
        }
        by_store = project.kpis.answer(
            "net_sales", by=["store_id"], start=gap - timedelta(days=7), end=gap
        ).to_pylist()
    usual = sum(v for d, v in sessions.items() if d != outage) / 7
    assert sessions[outage] < 0.3 * usual  # the day's sessions collapse
    sold = {(r["period"], r["store_id"]) for r in by_store if r["value"]}
    assert (gap, store) not in sold  # no sales of the store that day
    assert all(
        (gap - timedelta(days=k), store) in sold for k in range(1, 8)
    )  # but every day before


def _seed_bursting(source: str, period: Period, scale: float) -> int:
    """The first seed whose run plants its duplicate burst in ``source``."""
    for seed in range(1, 200):
        if plan_incidents(build_world(period, scale, seed)).bursts[0].source == source:
            return seed
    raise AssertionError(f"no seed bursts {source}")


@pytest.mark.slow
@pytest.mark.parametrize("source", BURST_SOURCES)
def test_a_burst_in_any_source_reconciles_after_ingest(source: str, tmp_path: Path) -> None:
    period = Period(date(2026, 5, 1), MIN_DAYS)
    seed = _seed_bursting(source, period, 0.02)
    root = weir.init_project(tmp_path / "shop")
    manifest = generate(root / "landing", days=MIN_DAYS, scale=0.02, seed=seed, start=period.start)
    burst = _one(manifest, "duplicate_burst")
    assert burst.source == source
    with weir.Project(root) as project:
        [result] = project.sources.ingest([source])
        [row] = project.sql(
            f"SELECT count(*) FILTER (_status = 'duplicate') AS dups, count(*) AS n "
            f"FROM raw.{source} WHERE _source_file LIKE '%{burst.day}%'"
        ).to_pylist()
    expected = manifest.sources[source]
    c = result.counts
    assert (c.received, c.accepted, c.quarantined, c.duplicates) == (
        expected.received,
        expected.accepted,
        expected.quarantined,
        expected.duplicates,
    )
    assert row["dups"] > 0.2 * row["n"]  # 30-60 % re-sent: copies are 23-37.5 % of the day
