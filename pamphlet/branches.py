"""Who gets each issue by email: `branches.yaml` in the publication folder, checked like a
manifest (file:line problems, did-you-mean, bad addresses, duplicates)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.headerregistry import Address
from pathlib import Path
from typing import Any

from .errors import PamphletError, Problem, Problems
from .schema import Field, check_mapping, describe, suggest
from .yamlfile import Mapping, Sequence, parse_yaml, read_text

BRANCHES_FILE = "branches.yaml"

FILE_KEYS = {
    "branches": Field("list", True, "one entry per branch: name, email, and optionally "
                      "contact and copies"),
}

BRANCH_KEYS = {
    "name": Field("text", True, "the branch's name, e.g. Northgate garage"),
    "email": Field("text-or-list", True, "one address, or a list of addresses"),
    "contact": Field("text", help="Markdown for the branch's own contact block in its PDF"),
    "copies": Field("int", help="how many copies the branch prints"),
}

_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
_ADDR_SPEC = re.compile(rf"^({_LOCAL})@({_DOMAIN})$")
_WITH_NAME = re.compile(r"^(?P<name>[^<>]*?)\s*<(?P<addr>[^<>]*)>$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Branch:
    """One branch: where its copy goes, and what its own edition carries."""

    name: str
    addresses: tuple[Address, ...]
    contact: str = ""
    """Markdown for the branch's own contact block ('' = the issue's PDF as it is)."""
    copies: int | None = None
    line: int = 0
    address_lines: tuple[int, ...] = ()

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-") or "branch"


@dataclass
class Branches:
    file: Path
    branches: list[Branch] = field(default_factory=list)

    def named(self, names: list[str]) -> list[Branch]:
        """The branches called `names` (any case), in the file's order; an unknown name is a
        problem with a did-you-mean."""
        known = {b.name.casefold(): b for b in self.branches}
        problems = Problems()
        for name in names:
            if name.casefold() not in known:
                close = suggest(name, [b.name for b in self.branches])
                problems.add(self.file, None, f"there is no branch called '{name}'",
                             close.replace("known keys", "the branches are"))
        problems.raise_if_any()
        wanted = {n.casefold() for n in names}
        return [b for b in self.branches if b.name.casefold() in wanted]


def parse_address(text: str) -> tuple[Address | None, str, str]:
    """(address, '', '') or (None, what is wrong, hint) for `jo@example.org` or
    `Jo Bloggs <jo@example.org>`."""
    text = text.strip()
    if _CONTROL.search(text):
        return None, "this address has a line break or control character in it", \
            "write the address on one line"
    display, spec = "", text
    if match := _WITH_NAME.match(text):
        display, spec = match["name"].strip().strip('"').strip(), match["addr"].strip()
    if spec.lower().startswith("mailto:"):
        return None, f"'{text}' starts with mailto:", "write the address alone: name@example.org"
    if any(sep in spec for sep in (",", ";", " ")) and spec.count("@") > 1:
        return None, f"'{text}' looks like several addresses on one line", \
            "give a list, one address per line, each starting with '- '"
    match = _ADDR_SPEC.match(spec)
    if not match:
        hint = "an address looks like name@example.org"
        if "@" not in spec:
            hint = "it has no @: " + hint
        elif not spec.isascii():
            hint = "pamphlet takes addresses in plain ASCII letters; " + hint
        return None, f"'{text}' is not an email address", hint
    if '"' in display or "\\" in display:
        return None, f"the name in '{text}' has a quote or backslash in it", "leave them out"
    try:
        return Address(display_name=display, username=match[1], domain=match[2]), "", ""
    except (ValueError, IndexError) as error:
        return None, f"'{text}' is not an email address ({error})", "an address looks like " \
            "name@example.org"


def load_branches(root: Path) -> Branches:
    """Read and check `branches.yaml` in the publication folder `root`; raise with every
    problem at once."""
    file = root / BRANCHES_FILE
    if not file.exists():
        raise PamphletError([Problem(file, None, "there is no branches file",
                                     "write one listing each branch's name and email address "
                                     "(the README's 'Sending the issue' has an example)")])
    data = parse_yaml(read_text(file), file)
    problems = Problems()
    top = check_mapping(data if data is not None else Mapping(), FILE_KEYS, file, problems,
                        "branches file")
    entries = top.get("branches", [])
    lines = entries.lines if isinstance(entries, Sequence) else []
    branches: list[Branch] = []
    names: dict[str, int] = {}
    addresses: dict[str, tuple[int, str]] = {}
    for i, entry in enumerate(entries):
        line = lines[i] if i < len(lines) else None
        branch = _branch(entry, file, line, problems)
        if branch is None:
            continue
        key = branch.name.casefold()
        if key in names:
            problems.add(file, branch.line, f"the branch '{branch.name}' is listed twice "
                         f"(first on line {names[key]})", "give each branch one entry, with "
                         "all its addresses under email:")
            continue
        names[key] = branch.line
        for address, address_line in zip(branch.addresses, branch.address_lines, strict=True):
            spec = address.addr_spec.lower()
            if spec in addresses:
                first_line, first_branch = addresses[spec]
                where = "this branch" if first_branch == branch.name else f"'{first_branch}'"
                problems.add(file, address_line, f"{address.addr_spec} is listed twice (first "
                             f"on line {first_line}, for {where})",
                             "each address gets one copy: remove one of them")
            else:
                addresses[spec] = (address_line, branch.name)
        branches.append(branch)
    if "branches" in top and not entries and not problems:
        problems.add(file, data.lines.get("branches") if isinstance(data, Mapping) else None,
                     "the branches file lists no branches", "add one entry per branch")
    problems.raise_if_any()
    return Branches(file, branches)


def _branch(entry: Any, file: Path, line: int | None, problems: Problems) -> Branch | None:
    """The branch, with the addresses that are right (the others are problems), or None
    when it has no name."""
    fields = check_mapping(entry, BRANCH_KEYS, file, problems, "branch", line)
    if not isinstance(entry, Mapping):
        return None
    start = entry.line
    name = fields.get("name", "")
    if name and _CONTROL.search(name):
        problems.add(file, entry.lines.get("name", start), "the branch name has a line break "
                     "or control character in it", "write the name on one line")
    found: list[Address] = []
    found_lines: list[int] = []
    raw = entry.get("email")
    email_line = entry.lines.get("email", start)
    items: list[tuple[Any, int]] = []
    if isinstance(raw, Sequence):
        items = list(zip(raw, raw.lines, strict=True))
    elif isinstance(raw, str) and "email" in fields:
        items = [(raw, email_line)]
    for value, value_line in items:
        if not isinstance(value, str):
            problems.add(file, value_line, f"'{value}' is not an email address"
                         if not isinstance(value, list | dict) else
                         f"an address was expected here, not {describe(value)}",
                         "write name@example.org")
            continue
        address, what, hint = parse_address(value)
        if address is None:
            problems.add(file, value_line, what, hint)
        else:
            found.append(address)
            found_lines.append(value_line)
    if not name:
        return None
    return Branch(name=name, addresses=tuple(found), contact=fields.get("contact", ""),
                  copies=fields.get("copies"), line=start, address_lines=tuple(found_lines))

