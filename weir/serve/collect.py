"""``weir collect``: the event collector alone, in one process or several behind one port.

The parent binds the port once and starts ``processes`` collector processes
that share the listening socket: the kernel hands each new connection to one
of them, so one port takes as many events as the processes can check and log.
Each process is a collector *instance* numbered from 1 (0 is ``weir serve``'s)
with logs of its own (``.weir/wal-N/``: a log has one writer) and a flusher
that moves them into the lake. The lake's write lock orders the flushes of
all the processes, and the batch contract's duplicate check against staging
keeps an event that reached two of them (a client retrying after a lost
answer) once in the lake.

A process that dies (killed, out of memory) is started again with the same
instance number: it opens its log (cutting a torn tail: nothing there was
acknowledged) and flushes what the lake does not yet hold; meanwhile the
other processes take the connections. SIGTERM or Ctrl-C stops them all, each
after a last flush of everything it acknowledged.

The parent runs ``python -m weir.serve.collect ROOT INSTANCE FD [CERT KEY]``
for each process; that module's ``main`` serves on the inherited socket.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from weir.errors import WeirError
from weir.serve.tls import check_tls
from weir.streams.logs import wal_root
from weir.streams.wal import hold_lock_file
from weir.workspace import Project

# a process that exits this soon after its start failed to start: the others are stopped
# (a wrong setting fails the same way every time; restarting it would only spin)
_STARTING_SECONDS = 5.0
_RESTART_PAUSE = 1.0  # between a process's death and its replacement
_STOP_SECONDS = 300.0  # each process's last flush, at most


def collect(
    project: Project,
    host: str = "127.0.0.1",
    port: int = 8081,
    processes: int = 1,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    say: Callable[[str], None] = print,
    stop: threading.Event | None = None,
    first: int = 1,
) -> None:
    """Run ``processes`` collector processes on ``host:port`` until ``stop`` (or SIGTERM/SIGINT).

    They are instances ``first`` … ``first + processes - 1`` (another host sharing
    the project's folder starts after this one's). ``say`` is told each start,
    death and restart. A process that dies is started again; one that fails at
    its start stops the others and raises a WeirError.
    """
    if processes < 1:
        raise WeirError(f"--processes {processes}: at least one", "pass --processes 1 or more")
    if first < 1:
        raise WeirError(
            f"--first {first}: collector processes are numbered from 1 (0 is weir serve's)",
            "pass --first 1 or more",
        )
    check_tls(tls_cert, tls_key)
    listener = _listen(host, port)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    tls = [str(tls_cert), str(tls_key)] if tls_cert and tls_key else []
    children: dict[int, tuple[subprocess.Popen[bytes], float]] = {}

    def start(instance: int) -> None:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "weir.serve.collect",
                str(project.root),
                str(instance),
                str(listener.fileno()),
                *tls,
            ],
            pass_fds=[listener.fileno()],
        )
        children[instance] = (child, time.monotonic())
        say(f"collector process {instance} started (pid {child.pid})")

    try:
        for instance in range(first, first + processes):
            start(instance)
        while not stop.wait(0.2):
            for instance, (child, started) in list(children.items()):
                code = child.poll()
                if code is None:
                    continue
                if time.monotonic() - started < _STARTING_SECONDS and code not in (
                    -signal.SIGKILL,
                    -signal.SIGTERM,
                ):
                    raise WeirError(
                        f"collector process {instance} stopped as it started (exit {code})",
                        "see its message above; fix what it names and run weir collect again",
                    )
                say(
                    f"collector process {instance} (pid {child.pid}) stopped (exit {code}); "
                    "starting it again"
                )
                time.sleep(_RESTART_PAUSE)
                start(instance)
    finally:
        _stop_all([child for child, _ in children.values()])
        listener.close()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise WeirError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            "choose another --port, or stop what listens there",
        ) from None
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


def _stop_all(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each process (it flushes what it acknowledged), then wait for them all."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + _STOP_SECONDS
    for child in children:
        try:
            child.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _hold_instance(state_dir: Path, instance: int) -> int:
    """Lock collector instance ``instance`` of the project for this process's life."""
    root = wal_root(state_dir, instance)
    root.mkdir(parents=True, exist_ok=True)
    return hold_lock_file(
        root / "collector.lock",
        lambda holder: (
            f"collector process {instance} of this project is running already ({holder})"
        ),
        "run one `weir collect` per project and host, or stop the other one first",
    )


def serve_instance(
    project: Project, instance: int, listener: socket.socket, tls: list[str]
) -> None:
    """Serve the collector as instance ``instance`` on ``listener`` until SIGTERM."""
    import uvicorn

    from weir.serve.app import create_collector_app

    _hold_instance(project.files.state_dir, instance)
    config = uvicorn.Config(
        create_collector_app(project, instance),
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
        log_level="warning",
        access_log=False,
    )
    uvicorn.Server(config).run(sockets=[listener])


def main() -> None:
    root, instance, fd, *tls = sys.argv[1:]
    listener = socket.socket(fileno=int(fd))
    try:
        with Project(root) as project:
            serve_instance(project, int(instance), listener, tls)
    except WeirError as exc:
        print(f"error: collector process {instance}: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
