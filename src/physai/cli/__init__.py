"""The `physai` command line (Typer). Thin: parse, call the library, print."""
