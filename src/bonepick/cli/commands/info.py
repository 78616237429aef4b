"""bonepick version."""

from __future__ import annotations

from bonepick.cli.app import command


@command("info")
def version() -> None:
    """Print the bonepick version."""
    from bonepick import __version__
    from bonepick.cli import output

    output.out.print(__version__)
