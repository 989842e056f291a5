"""The installed `pamphlet` command. A command that lays out pages starts the layout server
(forkserver.py) before anything else, so that it imports WeasyPrint while Python imports the
command line itself (Typer, pydantic: about 0.35 s)."""

from __future__ import annotations

import sys

LAYS_OUT = {"build", "check", "serve"}


def run() -> None:
    if _command(sys.argv[1:]) in LAYS_OUT:
        from .forkserver import start

        start()
    from .cli import run as run_cli

    run_cli()


def _command(arguments: list[str]) -> str | None:
    """The command's name: the first argument that is not an option (the global options,
    such as --debug, take no value)."""
    return next((a for a in arguments if not a.startswith("-")), None)
