"""Safe YAML loading that remembers the line of every key and list item."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import PamphletError, Problem


class Mapping(dict[str, Any]):
    """A YAML mapping; `.line` is where it starts, `.lines[key]` where each key stands."""

    line: int = 1
    lines: dict[str, int]


class Sequence(list[Any]):
    """A YAML list; `.lines[i]` is the line of item i."""

    line: int = 1
    lines: list[int]


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Mapping:
    loader.flatten_mapping(node)
    mapping = Mapping()
    mapping.line = node.start_mark.line + 1
    mapping.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            key = str(key)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key '{key}' appears twice (first on line {mapping.lines[key]})",
                key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = line
    return mapping


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> Sequence:
    seq = Sequence(loader.construct_object(child, deep=True) for child in node.value)
    seq.line = node.start_mark.line + 1
    seq.lines = [child.start_mark.line + 1 for child in node.value]
    return seq


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def parse_yaml(text: str, file: Path, first_line: int = 1) -> Any:
    """Parse YAML text from `file`; `first_line` is where the text starts in that file."""
    try:
        return _shift_lines(yaml.load(text, Loader=_Loader), first_line - 1)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + first_line if mark is not None else None
        raise PamphletError([Problem(
            file, line, f"this is not valid YAML: {error.problem or error.context}",
            "check the indentation and put text with a ': ' or '#' in quotes")]) from None
    except yaml.YAMLError as error:
        raise PamphletError([Problem(file, None, f"this is not valid YAML: {error}")]) from None


def read_text(file: Path) -> str:
    """Read a UTF-8 text file, naming the file and the byte position when it is not UTF-8."""
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise PamphletError([Problem(file, None, "file not found")]) from None
    except OSError as error:
        raise PamphletError([Problem(file, None, f"cannot read this file: {error.strerror}")]) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise PamphletError([Problem(
            file, line, f"this file is not UTF-8 text (bad byte at position {error.start})",
            "save it again as UTF-8 in your editor")]) from None


def _shift_lines(value: Any, offset: int) -> Any:
    if offset and isinstance(value, Mapping):
        value.line += offset
        value.lines = {k: v + offset for k, v in value.lines.items()}
        for item in value.values():
            _shift_lines(item, offset)
    elif offset and isinstance(value, Sequence):
        value.line += offset
        value.lines = [v + offset for v in value.lines]
        for item in value:
            _shift_lines(item, offset)
    return value
