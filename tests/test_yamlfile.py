from __future__ import annotations

from pathlib import Path

import pytest

from pamphlet.errors import PamphletError
from pamphlet.yamlfile import parse_yaml


def test_lines_of_keys_and_list_items():
    data = parse_yaml("a: 1\nlist:\n  - x\n  - y: 2\n    z: 3\n", Path("f.yaml"))
    assert data.lines == {"a": 1, "list": 2}
    assert data["list"].lines == [3, 4]
    assert data["list"][1].lines == {"y": 4, "z": 5}


def test_first_line_offset():
    data = parse_yaml("\ntitle: x\nbyline: y\n", Path("f.md"), first_line=1)
    assert data.lines == {"title": 2, "byline": 3}


def test_duplicate_key():
    with pytest.raises(PamphletError) as error:
        parse_yaml("a: 1\nb: 2\na: 3\n", Path("f.yaml"))
    problem = error.value.problems[0]
    assert problem.line == 3
    assert "the key 'a' appears twice (first on line 1)" in problem.message


def test_python_tags_are_refused():
    with pytest.raises(PamphletError) as error:
        parse_yaml("a: !!python/object/apply:os.system ['true']\n", Path("f.yaml"))
    assert error.value.problems[0].line == 1
