"""``python -m weir.serve.flush_worker ROOT [INSTANCE]``: a collector's flush process.

It opens the project and runs the flush loop (``weir.streams.flush_process``) over
the logs of collector process ``INSTANCE`` (0, ``weir serve``'s, by default) until
the server closes its end of the pipe on stdin.
"""

from __future__ import annotations

import sys

from weir.streams.flush_process import serve
from weir.workspace import Project


def main() -> None:
    with Project(sys.argv[1]) as project:
        instance = int(sys.argv[2]) if len(sys.argv) > 2 else 0
        serve(project.streams.collector(instance))


if __name__ == "__main__":
    main()
