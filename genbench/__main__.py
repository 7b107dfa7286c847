"""``python -m genbench``: the same CLI as the ``genbench`` command."""

from genbench.cli import main

main()
