"""``python -m weir.serve.flush_worker ROOT``: the collector's flush process of ``weir serve``.

It opens the project and runs the flush loop (``weir.streams.flush_process``)
until the server closes its end of the pipe on stdin.
"""

from __future__ import annotations

import sys

from weir.streams.flush_process import serve
from weir.workspace import Project


def main() -> None:
    with Project(sys.argv[1]) as project:
        serve(project.streams.collector())


if __name__ == "__main__":
    main()
