"""The ``bonepick`` command line: thin Typer commands over the library."""
