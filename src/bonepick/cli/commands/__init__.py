"""One module per group of commands. Each module registers its commands on import through
:func:`bonepick.cli.app.command` and sets ``ORDER`` (its place in ``--help``)."""
