"""The installed `pamphlet` command. A command that lays out pages starts the layout server
(forkserver.py) before anything else, so that it imports WeasyPrint while Python imports the
command line itself (Typer and the build's own modules: about 0.2 s)."""

from __future__ import annotations

import atexit
import os
import sys
from typing import NoReturn

LAYS_OUT = {"build", "check", "serve"}


def run() -> None:
    if _command(sys.argv[1:]) in LAYS_OUT:
        from .forkserver import start

        start()
    from .cli import run as run_cli

    try:
        run_cli()
    except SystemExit as done:
        code = done.code
    else:
        code = 0
    _leave(code)


def _leave(code: object) -> NoReturn:
    """Exit without tearing the interpreter down (freeing every module and object: 0.05 s
    after a build): the exit handlers run and the output is flushed, then the process ends.
    atexit has no public call for running its handlers early; this private one is what the
    interpreter itself calls on the way out."""
    atexit._run_exitfuncs()
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def _command(arguments: list[str]) -> str | None:
    """The command's name: the first argument that is not an option (the global options,
    such as --debug, take no value)."""
    return next((a for a in arguments if not a.startswith("-")), None)
