"""``python -m weir``: the same as the ``weir`` command."""

from weir.cli.main import main

main()
