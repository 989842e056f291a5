"""Checks a YAML mapping against a table of known keys, collecting plain-language problems."""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Problems
from .yamlfile import Mapping

KINDS = {
    "text": "a piece of text",
    "int": "a whole number",
    "date": "a date written as YYYY-MM-DD",
    "list": "a list",
    "mapping": "a set of 'key: value' lines",
    "bool-or-text": "yes/no or a piece of text",
    "bool": "true or false",
    "text-or-list": "a piece of text or a list",
}


@dataclass(frozen=True)
class Field:
    kind: str
    required: bool = False
    help: str = ""


def check_mapping(data: Any, fields: dict[str, Field], file: Path, problems: Problems,
                  what: str, line: int | None = None) -> dict[str, Any]:
    """Return the known keys of `data` with checked values; report the rest to `problems`."""
    if not isinstance(data, dict):
        problems.add(file, line, f"the {what} must be a set of 'key: value' lines",
                     f"found {describe(data)}")
        return {}
    lines = data.lines if isinstance(data, Mapping) else {}
    start = data.line if isinstance(data, Mapping) else line
    clean: dict[str, Any] = {}
    for key, value in data.items():
        key_line = lines.get(key, start)
        field = fields.get(key)
        if field is None:
            problems.add(file, key_line, f"unknown key '{key}' in the {what}", suggest(key, fields))
            continue
        checked = _check_value(value, field, key, file, key_line, problems)
        if checked is not None:
            clean[key] = checked
    for key, field in fields.items():
        if field.required and key not in data:
            problems.add(file, start, f"the {what} has no '{key}'",
                         f"add a line '{key}: ...' ({field.help})" if field.help else
                         f"add a line '{key}: ...'")
    return clean


def suggest(key: str, known: dict[str, Any] | list[str]) -> str:
    names = sorted(known)
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return "known keys: " + ", ".join(names)


def describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"'{str(value).lower()}', which YAML reads as yes/no"
    if isinstance(value, dict):
        return "a set of 'key: value' lines"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dt.date):
        return f"the date {value.isoformat()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    return f"'{value}'"


_ACCEPTS = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    "date": lambda v: isinstance(v, dt.date) and not isinstance(v, dt.datetime),
    "list": lambda v: isinstance(v, list),
    "mapping": lambda v: isinstance(v, dict),
    "bool": lambda v: isinstance(v, bool),
    "text-or-list": lambda v: isinstance(v, str | list) and bool(v),
}


def _check_value(value: Any, field: Field, key: str, file: Path, line: int,
                 problems: Problems) -> Any:
    kind = field.kind
    raw = getattr(value, "raw", None)
    if raw is not None and raw != str(value):
        problems.add(file, line, f"YAML reads '{key}: {raw}' as the number {value}",
                     f"put it in quotes if you mean the text: {key}: \"{raw}\"")
        return None
    if kind == "text" and isinstance(value, str | int | float | dt.date) and not isinstance(value, bool):
        text = value.isoformat() if isinstance(value, dt.date) else str(value)
        if text.strip():
            return text.strip()
    elif kind == "bool-or-text" and isinstance(value, bool | str):
        return value.strip() if isinstance(value, str) else value
    elif kind in _ACCEPTS and _ACCEPTS[kind](value):
        return value
    hint = f"write {KINDS[kind]}"
    if isinstance(value, bool) and kind in ("text", "bool-or-text"):
        hint = "put the text in quotes"
    elif value is None or value == "":
        hint = f"write {KINDS[kind]} after the colon, or remove the line"
    problems.add(file, line, f"'{key}' should be {KINDS[kind]}, not {describe(value)}", hint)
    return None
