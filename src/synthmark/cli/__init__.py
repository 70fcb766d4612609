"""The ``synthmark`` command line: thin Typer faces over the library."""
