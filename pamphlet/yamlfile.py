"""Safe YAML loading that remembers the line of every key and list item."""

from __future__ import annotations

import copy
import stat
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import yaml

from .errors import PamphletError, Problem


class Mapping(dict[str, Any]):
    """A YAML mapping; `.line` is where it starts, `.lines[key]` where each key stands."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line = 1
        self.lines: dict[str, int] = {}


class Sequence(list[Any]):
    """A YAML list; `.lines[i]` is the line of item i."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.line = 1
        self.lines: list[int] = []


MAX_DEPTH = 40
"""Mappings and lists nested deeper than this are refused (PyYAML itself would recurse until
Python's stack runs out)."""

MAX_BYTES = 1024 * 1024
"""A manifest or article larger than this is refused before it is parsed."""


class RawInt(int):
    """An integer YAML read from a plain scalar, with the text as written (`1:10` is 70)."""

    raw: str


class RawFloat(float):
    """A float YAML read from a plain scalar, with the text as written (`1.10` is 1.1)."""

    raw: str


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses aliases (no 'billion laughs') and very deep nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self.node: yaml.Node | None = None
        """The node being constructed, to name its line if constructing it fails."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        self.node = node
        return super().construct_object(node, deep)

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed: write the value out in full",
                event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"this is nested more than {MAX_DEPTH} levels deep",
                    self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _not_a(kind: str, node: yaml.Node) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(None, None, f"a {kind} was expected here",
                                             node.start_mark)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Mapping:
    if not isinstance(node, yaml.MappingNode):
        raise _not_a("set of 'key: value' lines", node)
    loader.flatten_mapping(node)
    mapping = Mapping()
    mapping.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else repr(key)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key '{key}' appears twice (first on line {mapping.lines[key]})",
                key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = line
    return mapping


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> Sequence:
    if not isinstance(node, yaml.SequenceNode):
        raise _not_a("list", node)
    seq = Sequence(loader.construct_object(child, deep=True) for child in node.value)
    seq.line = node.start_mark.line + 1
    seq.lines = [child.start_mark.line + 1 for child in node.value]
    return seq


def _number_constructor(kind: type[RawInt] | type[RawFloat], read: Any, max_length: int) -> Any:
    """A constructor that keeps the text as written and refuses absurdly long numbers."""

    def construct(loader: _Loader, node: yaml.ScalarNode) -> Any:
        if not isinstance(node, yaml.ScalarNode) or len(str(node.value)) > max_length:
            raise yaml.constructor.ConstructorError(None, None, "this is not a usable number",
                                                    node.start_mark)
        value = kind(read(loader, node))
        value.raw = node.value
        return value

    return construct


_construct_int = _number_constructor(RawInt, yaml.SafeLoader.construct_yaml_int, 30)
_construct_float = _number_constructor(RawFloat, yaml.SafeLoader.construct_yaml_float, 60)


def _construct_timestamp(loader: _Loader, node: yaml.ScalarNode) -> object:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as error:
        raise yaml.constructor.ConstructorError(
            None, None, f"'{node.value}' is not a real date ({error})", node.start_mark) from None


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)

_HINTS = (
    ("'\\t'", "YAML does not allow tabs for indentation: use spaces"),
    ("could not determine a constructor", "tags such as !!python are not allowed"),
    ("aliases", "an alias repeats a value marked with &name"),
    ("nested more than", "flatten the structure"),
    ("not a real date", "write the date as YYYY-MM-DD"),
)


PARSED_KEPT = 256
"""Texts whose parse is kept for the next time the same text is parsed in this process."""
KEPT_TEXT_CHARS = 64 * 1024
"""Only texts up to this long are kept (a manifest or an article's front matter)."""
_parsed: OrderedDict[tuple[str, int], Any] = OrderedDict()
_parsed_lock = threading.Lock()


def parse_yaml(text: str, file: Path, first_line: int = 1) -> Any:
    """Parse YAML text from `file`; `first_line` is where the text starts in that file.
    A process that builds again and again (`pamphlet serve`) reads the same manifest, front
    matter and layout settings at each rebuild: a text parsed before is given again as a
    copy (0.04 ms for a manifest that takes 1.5 ms to parse)."""
    key = (text, first_line)
    with _parsed_lock:
        kept = _parsed.get(key)
        if kept is not None:
            _parsed.move_to_end(key)
    if kept is not None:
        return copy.deepcopy(kept)
    data = _parsed_anew(text, file, first_line)
    if len(text) <= KEPT_TEXT_CHARS:
        with _parsed_lock:
            _parsed[key] = copy.deepcopy(data)
            while len(_parsed) > PARSED_KEPT:
                _parsed.popitem(last=False)
    return data


def _parsed_anew(text: str, file: Path, first_line: int) -> Any:
    loader = None
    try:
        loader = _Loader(text)
        return _shift_lines(loader.get_single_data(), first_line - 1)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + first_line if mark is not None else None
        problem = str(error.problem or error.context)
        hint = next((h for key, h in _HINTS if key in problem),
                    "check the indentation and put text with a ': ' or '#' in quotes")
        raise PamphletError([Problem(file, line, f"this is not valid YAML: {problem}", hint)]) from None
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + first_line
        raise PamphletError([Problem(file, line, f"this has a character YAML does not allow "
                                     f"(#x{error.character:04x})" if isinstance(error.character, int)
                                     else "this has a character YAML does not allow",
                                     "delete it: it may have come from a copy and paste")]) from None
    except yaml.YAMLError as error:
        raise PamphletError([Problem(file, None, f"this is not valid YAML: {error}")]) from None
    except RecursionError:
        raise PamphletError([Problem(file, None, "this YAML is nested too deeply")]) from None
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as error:
        # PyYAML's own constructors fail this way on values such as `!!int abc` or `0x_`.
        node = loader.node if loader is not None else None
        line = node.start_mark.line + first_line if node is not None else None
        raise PamphletError([Problem(file, line, f"YAML cannot read this value ({error})",
                                     "put text in quotes; remove tags such as !!int")]) from None
    finally:
        if loader is not None:
            loader.dispose()


def read_text(file: Path, max_bytes: int = MAX_BYTES) -> str:
    """Read a UTF-8 text file, naming the file and the byte position when it is not UTF-8.
    Only regular files are read (never a FIFO or device), and none larger than `max_bytes`."""
    try:
        info = file.stat()
        if not stat.S_ISREG(info.st_mode):
            raise PamphletError([Problem(file, None, "this is not a regular file",
                                         "give the path of a text file")])
        if info.st_size > max_bytes:
            raise PamphletError([Problem(
                file, None, f"this file is {info.st_size // 1024} KB, more than pamphlet reads "
                f"({max_bytes // 1024} KB)", "split it, or check that it is the right file")])
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
