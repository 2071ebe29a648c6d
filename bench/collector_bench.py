"""The HTTP collector under load, against the floor of an endpoint that stores nothing.

weir: a real ``weir serve`` (Uvicorn) with durability on — each answer comes
after the events are checked against the contract and fsynced to the log —
and its flusher moving the log into the lake meanwhile. The floor: a trivial
ASGI endpoint run by Uvicorn the same way, answering 200 without reading
the events. The load comes from a separate process: asyncio with many
keep-alive connections and hand-written HTTP/1.1, so the generator is not the
bottleneck. Two shapes: batches of 100 events, and single events.
Targets: >= 50,000 events/s batched, >= 5,000 single-event requests/s,
p99 < 50 ms, and >= 50 % of the trivial endpoint's request rate.

Then the collector alone (``weir collect``) in 1 process and in several behind
one port, batched: how events/s grow with processes (each checks, logs and
flushes its own share; they take turns only at the lake's commits).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from report import record
from rich.console import Console
from rich.table import Table

import weir

HERE = Path(__file__).resolve()
SHAPES = {"batched": 100, "single": 1}


# -- the floor: an endpoint that stores nothing ---------------------------------------------
async def trivial_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:  # read the body, as any endpoint must
        message = await receive()
        more = message.get("more_body", False)
    body = b'{"accepted":0}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"14")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _serve_trivial(port: int) -> None:
    import uvicorn

    uvicorn.run(trivial_app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- the load generator (its own process) ------------------------------------------------------
def _request(path: str, key: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _connection(
    port: int, path: str, key: str, events: int, until: float, latencies: list[float], worker: int
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    ok = 0
    # one body template per connection; each request fills in its own ids, so every event
    # is new to the collector and the generator spends almost nothing per request
    batch = [
        {
            "event_id": f"w{worker}-@@-{i}",
            "session_id": f"s{worker}",
            "page": "/cart",
            "device_type": "Mobile",
            "event_type": "View",
            "timestamp": time.time(),
        }
        for i in range(events)
    ]
    template = json.dumps(batch if events > 1 else batch[0])
    try:
        while time.perf_counter() < until:
            body = template.replace("@@", f"{os.getpid()}.{sent}").encode()
            started = time.perf_counter()
            writer.write(_request(path, key, body))
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            sent += 1
            if head.startswith(b"HTTP/1.1 200"):
                ok += 1
    finally:
        writer.close()
    return ok


async def _load(
    port: int, path: str, key: str, events: int, seconds: float, connections: int
) -> dict[str, float]:
    latencies: list[float] = []
    until = time.perf_counter() + seconds
    started = time.perf_counter()
    oks = await asyncio.gather(
        *(_connection(port, path, key, events, until, latencies, n) for n in range(connections))
    )
    elapsed = time.perf_counter() - started
    latencies.sort()
    count = len(latencies)
    return {
        "requests_per_s": count / elapsed,
        "events_per_s": sum(oks) * events / elapsed,
        "ok_share": sum(oks) / max(count, 1),
        "p50_ms": 1000 * latencies[count // 2] if count else float("nan"),
        "p99_ms": 1000 * latencies[min(count - 1, int(count * 0.99))] if count else float("nan"),
    }


def _cpu_seconds(pid: int) -> float:
    """CPU time of process ``pid`` and its descendants (collector and flush processes), from
    /proc (Linux)."""
    parents: dict[str, str] = {}
    ticks: dict[str, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # a process that ended meanwhile
        parents[stat.parent.name] = fields[1]
        ticks[stat.parent.name] = int(fields[11]) + int(fields[12])
    family = {str(pid)}
    grown = True
    while grown:
        more = {child for child, parent in parents.items() if parent in family} - family
        family |= more
        grown = bool(more)
    return sum(ticks.get(p, 0) for p in family) / os.sysconf("SC_CLK_TCK")


def _run_load(
    port: int,
    path: str,
    key: str,
    events: int,
    seconds: float,
    connections: int,
    server: int | None = None,
) -> dict[str, float]:
    """One load run in a separate process, so it does not share the server's interpreter.

    With ``server`` (its pid), also the server's CPU time per request: on a shared
    machine a rate says how much CPU the server got, this what it needed.
    """
    before = _cpu_seconds(server) if server is not None else 0.0
    output = subprocess.run(
        [
            sys.executable,
            str(HERE),
            "--load",
            json.dumps([port, path, key, events, seconds, connections]),
        ],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    figures = dict(json.loads(output.strip().splitlines()[-1]))
    if server is not None:
        requests = figures["requests_per_s"] * seconds
        figures["cpu_ms"] = 1000 * (_cpu_seconds(server) - before) / max(requests, 1)
    return figures


# -- servers -------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start within 30 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()


def _project(work: Path) -> tuple[Path, str]:
    root = work / "collector-project"
    shutil.rmtree(root, ignore_errors=True)
    weir.init_project(root)
    with weir.Project(root) as project:
        key = project.access.write_keys().create(["web_traffic"]).key
    return root, key


def run_collector_bench(work: Path, seconds: float = 10.0, connections: int = 64) -> None:
    """Print weir's collector and the trivial endpoint side by side, for both shapes."""
    work.mkdir(parents=True, exist_ok=True)
    console = Console(width=160)
    root, key = _project(work)
    figures: dict[tuple[str, str], dict[str, float]] = {}
    weir_port, floor_port = _free_port(), _free_port()
    servers = {
        "weir": subprocess.Popen(
            [
                sys.executable,
                "-m",
                "weir",
                "--project",
                str(root),
                "serve",
                "--port",
                str(weir_port),
            ],
            stdout=subprocess.DEVNULL,
        ),
        "trivial": subprocess.Popen([sys.executable, str(HERE), "--trivial", str(floor_port)]),
    }
    ports = {"weir": weir_port, "trivial": floor_port}
    try:
        for name, process in servers.items():
            _wait_ready(ports[name], process)
        for shape, events in SHAPES.items():
            for name in servers:
                _run_load(
                    ports[name], "/collect/v1/web_traffic", key, events, 2.0, connections
                )  # warm up
                figures[(name, shape)] = _run_load(
                    ports[name],
                    "/collect/v1/web_traffic",
                    key,
                    events,
                    seconds,
                    connections,
                    servers[name].pid,
                )
    finally:
        for process in servers.values():
            _stop(process)
    with weir.Project(root) as project:
        stored = project.sql("SELECT count(*) AS n FROM staging.web_traffic").to_pylist()[0]["n"]
    table = Table(
        title=f"HTTP collector, {connections} connections, {seconds:.0f} s per run (fsync on)"
    )
    table.add_column("shape")
    for column in (
        "weir req/s",
        "floor req/s",
        "weir/floor",
        "weir events/s",
        "p50 ms",
        "p99 ms",
        "floor p99 ms",
        "weir CPU ms/req",
        "floor CPU ms/req",
    ):
        table.add_column(column, justify="right")
    for shape in SHAPES:
        ours, floor = figures[("weir", shape)], figures[("trivial", shape)]
        table.add_row(
            f"{shape} ({SHAPES[shape]}/request)",
            f"{ours['requests_per_s']:,.0f}",
            f"{floor['requests_per_s']:,.0f}",
            f"{ours['requests_per_s'] / floor['requests_per_s']:.0%}",
            f"{ours['events_per_s']:,.0f}",
            f"{ours['p50_ms']:.1f}",
            f"{ours['p99_ms']:.1f}",
            f"{floor['p99_ms']:.1f}",
            f"{ours.get('cpu_ms', math.nan):.2f}",
            f"{floor.get('cpu_ms', math.nan):.2f}",
        )
    console.print(table)
    ours, floor = figures[("weir", "batched")], figures[("trivial", "batched")]
    share = ours["requests_per_s"] / floor["requests_per_s"]  # the same bodies: bytes/s alike
    record(
        "collector, batched (100 events/request), durable",
        f"{ours['events_per_s']:,.0f} events/s",
        f"trivial endpoint: {floor['events_per_s']:,.0f} events/s",
        f"{share:.0%} of its bytes/s",
        ">= 50,000 events/s and >= 50 %",
        ours["events_per_s"] >= 50_000 and share >= 0.5,
    )
    ours, floor = figures[("weir", "single")], figures[("trivial", "single")]
    share = ours["requests_per_s"] / floor["requests_per_s"]
    record(
        "collector, one event per request, durable",
        f"{ours['requests_per_s']:,.0f} req/s, p99 {ours['p99_ms']:.0f} ms",
        f"trivial endpoint: {floor['requests_per_s']:,.0f} req/s",
        f"{share:.0%} of its req/s",
        ">= 50 % and p99 < 50 ms",
        share >= 0.5 and ours["p99_ms"] < 50,
    )
    console.print(
        f"{stored:,} events in staging.web_traffic after the runs; targets: >= 50,000 events/s batched, "
        ">= 5,000 single-event requests/s, p99 < 50 ms, >= 50 % of the floor's request rate"
    )
    run_processes_bench(work, seconds, connections)


def run_processes_bench(
    work: Path, seconds: float = 10.0, connections: int = 64, processes: tuple[int, ...] = (1, 2, 4)
) -> dict[int, dict[str, float]]:
    """``weir collect --processes N`` for each N, batched: events/s, latency, CPU per request."""
    console = Console(width=160)
    figures: dict[int, dict[str, float]] = {}
    stored: dict[int, int] = {}
    for count in processes:
        root, key = _project(work)
        port = _free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "weir",
                "--project",
                str(root),
                "collect",
                "--port",
                str(port),
                "--processes",
                str(count),
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            _wait_ready(port, server)
            _wait_healthy(port)
            path = "/collect/v1/web_traffic"
            _run_load(port, path, key, SHAPES["batched"], 2.0, connections)  # warm up
            figures[count] = _run_load(
                port, path, key, SHAPES["batched"], seconds, connections, server.pid
            )
        finally:
            _stop(server)
        with weir.Project(root) as project:
            stored[count] = int(
                project.sql("SELECT count(*) AS n FROM staging.web_traffic").to_pylist()[0]["n"]
            )
    table = Table(
        title=f"weir collect --processes N, batched (100/request), {connections} connections,"
        f" {seconds:.0f} s per run, {os.cpu_count()} cores (fsync on)"
    )
    for column in ("processes", "events/s", "x 1 process", "p50 ms", "p99 ms", "CPU ms/req"):
        table.add_column(column, justify="right")
    one = figures[processes[0]]["events_per_s"]
    for count, row in figures.items():
        table.add_row(
            str(count),
            f"{row['events_per_s']:,.0f}",
            f"{row['events_per_s'] / one:.2f}",
            f"{row['p50_ms']:.1f}",
            f"{row['p99_ms']:.1f}",
            f"{row.get('cpu_ms', math.nan):.2f}",
        )
    console.print(table)
    console.print(
        "events in staging.web_traffic after each run (all flushed at the stop): "
        + ", ".join(f"{n} process(es): {stored[n]:,}" for n in processes)
    )
    return figures


def _wait_healthy(port: int) -> None:
    """Until the collector processes answer (each opens the project after the port is bound)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as probe:
                probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                if probe.recv(12).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("weir collect did not answer within 120 s")


if __name__ == "__main__":
    if sys.argv[1] == "--trivial":
        _serve_trivial(int(sys.argv[2]))
    elif sys.argv[1] == "--load":
        port, path, key, events, seconds, connections = json.loads(sys.argv[2])
        result = asyncio.run(_load(port, path, key, events, seconds, connections))
        print(json.dumps(result))
    elif sys.argv[1:2] == ["--processes"]:
        run_processes_bench(
            Path(os.environ.get("WEIR_BENCH_WORK", HERE.parent / ".work")),
            processes=tuple(int(n) for n in sys.argv[2].split(",")),
        )
    else:
        run_collector_bench(Path(os.environ.get("WEIR_BENCH_WORK", HERE.parent / ".work")))
