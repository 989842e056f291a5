"""One error type for everything an editor can fix, turned into plain lines by the CLI."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """Something wrong in the editor's input: where it is, what is wrong, what to do."""

    file: Path | None
    line: int | None
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = display_path(self.file)
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        text = where + self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class PamphletError(Exception):
    """The input cannot be built. Carries every problem found, so all are reported at once."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def display_path(path: Path) -> str:
    """A path as the editor would type it: relative to the current folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class Problems:
    """Collects problems during a stage; `raise_if_any` ends the stage with all of them."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, file: Path | None, line: int | None, message: str, hint: str = "") -> None:
        self.items.append(Problem(file, line, message, hint))

    def extend(self, problems: Iterable[Problem]) -> None:
        self.items.extend(problems)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise PamphletError(self.items)
