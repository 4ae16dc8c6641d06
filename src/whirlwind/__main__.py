"""``python -m whirlwind``: the same command line as the ``whirlwind`` script."""

from __future__ import annotations

from whirlwind.cli import main

if __name__ == "__main__":
    main(prog_name="whirlwind")
