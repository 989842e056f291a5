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


def test_a_text_parsed_again_is_given_as_a_copy_of_the_first_parse():
    """A rebuild reads the same texts again: their parse is kept, and each caller gets a
    copy of its own (with the lines, dates and numbers as written), so what one caller
    changes is not what the next one reads. A text that fails fails again, each time."""
    text = "title: Busworker\ndate: 2026-11-24\npages: 1:10\narticles:\n  - a.md\n  - b.md\n"
    first = parse_yaml(text, Path("one.yaml"), first_line=3)
    first["articles"].append("c.md")
    first.lines["title"] = 99
    again = parse_yaml(text, Path("two.yaml"), first_line=3)
    assert again == {"title": "Busworker", "date": __import__("datetime").date(2026, 11, 24),
                     "pages": 70, "articles": ["a.md", "b.md"]}
    assert again.lines == {"title": 3, "date": 4, "pages": 5, "articles": 6}
    assert again["articles"].lines == [7, 8] and again["pages"].raw == "1:10"
    assert parse_yaml(text, Path("f.yaml")).lines["title"] == 1, "kept for its first line"
    for _ in range(2):
        with pytest.raises(PamphletError) as error:
            parse_yaml("a: 1\nb: 2\na: 3\n", Path("bad.yaml"))
        assert error.value.problems[0].file == Path("bad.yaml")
