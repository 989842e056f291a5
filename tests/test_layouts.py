"""Layouts on the search path: the publication's own first, built-in ones after."""

from __future__ import annotations

import json

from conftest import write
from helpers import page_images, pixels
from test_cli import pamphlet

from pamphlet.layouts import available_layouts, find_layout


def test_builtin_layouts_are_found(tmp_path):
    assert {"newspaper", "bulletin", "pamphlet"} <= set(available_layouts(tmp_path))


def test_a_publication_layout_extends_a_builtin_one(publication):
    folder = publication.use_layout("green-sheet", {
        "layout.yaml": "extends: bulletin\ndescription: ours\n",
        "style.css": "h2 { color: rgb(0, 128, 0); }\n"})
    layout = find_layout("green-sheet", publication.root)
    assert layout.settings["page_size"] == "210mm 297mm"
    assert layout.settings["description"] == "ours"
    sheets = [p.name for p in layout.stylesheets()]
    assert sheets[0] == "base.css" and sheets[-1] == "style.css" and len(sheets) >= 3
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 0, result.output
    html = publication.pdf.with_suffix(".html").read_text()
    assert (folder / "style.css").as_uri() in html
    colours = pixels(page_images(publication.pdf, dpi=40)[0])
    assert any(g > 100 and r < 40 and b < 40 for r, g, b in colours), "no green headline"


def test_a_publication_layout_overrides_a_builtin_of_the_same_name(publication):
    folder = publication.root / "layouts" / "bulletin"
    write(folder / "layout.yaml", "extends: bulletin\ndescription: our bulletin\n")
    write(folder / "issue.html", """
        {% extends "builtin/bulletin/issue.html" %}
        {% block body %}<p class="ours">Our own body for {{ issue.title }}</p>{{ super() }}{% endblock %}
        """)
    layout = find_layout("bulletin", publication.root)
    assert layout.chain[0] == folder and layout.chain[1].name == "bulletin"
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 0, result.output
    html = publication.pdf.with_suffix(".html").read_text()
    assert '<p class="ours">Our own body for The Test Sheet</p>' in html


def test_a_typo_in_a_template_names_the_template_and_line(publication):
    publication.use_layout("typo", {"layout.yaml": "extends: bulletin\n",
                                    "issue.html": "<html>\n<body>\n{{ issue.titel }}\n</body></html>\n"})
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "layouts/typo/issue.html:3: template error:" in result.output
    assert "titel" in result.output


def test_template_syntax_error(publication):
    publication.use_layout("broken", {"layout.yaml": "extends: bulletin\n",
                                      "issue.html": "<html>\n{% for x in %}\n</html>\n"})
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "layouts/broken/issue.html:2: template error:" in result.output


def test_layout_settings_are_checked(publication):
    publication.use_layout("odd", {"layout.yaml": "extends: bulletin\npad_too: 4\n"})
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "layouts/odd/layout.yaml:2: unknown key 'pad_too' in the layout settings " \
        "(did you mean 'pad_to'?)" in result.output


def test_publication_fonts_add_to_the_bundled_ones(publication):
    from pamphlet.fonts import find_fonts
    from pamphlet.resources import builtin_dir
    source = next((builtin_dir("fonts") / "oswald").glob("Oswald-Bold.ttf"))
    (publication.root / "fonts").mkdir()
    (publication.root / "fonts" / "Oswald-Bold.ttf").write_bytes(source.read_bytes())
    faces = {f.key: f for f in find_fonts(publication.root)}
    assert faces[("oswald", 700, False)].path.parent == publication.root / "fonts"


def test_what_font_files_say_is_kept_until_a_file_changes(publication, monkeypatch):
    """A build reads each font file's family and style once; a file replaced since is read
    again. Looking for fonts before any build makes no folder."""
    from pamphlet import fonts
    from pamphlet.resources import builtin_dir
    bundled = builtin_dir("fonts")
    face_file = publication.root / "fonts" / "Face.ttf"
    face_file.parent.mkdir()
    face_file.write_bytes((bundled / "oswald" / "Oswald-Bold.ttf").read_bytes())
    first = fonts.find_fonts(publication.root)
    assert not (publication.root / "build").exists()
    (publication.root / "build" / ".cache").mkdir(parents=True)
    assert fonts.find_fonts(publication.root) == first
    assert (publication.root / fonts.FACES_FILE).is_file()

    read, reader = [], fonts.read_face.__wrapped__
    monkeypatch.setattr(fonts, "read_face", lambda path, mtime: read.append(path) or
                        reader(path, mtime))
    assert fonts.find_fonts(publication.root) == first
    assert read == []
    face_file.write_bytes((bundled / "pt-serif" / "PTSerif-Italic.ttf").read_bytes())
    faces = {f.key: f for f in fonts.find_fonts(publication.root)}
    assert read == [face_file]
    assert faces[("pt serif", 400, True)].path == face_file
    assert faces[("oswald", 700, False)].path.parent == bundled / "oswald"


def test_the_bundled_fonts_index_says_what_their_files_say():
    """Builds take the bundled faces from fonts/faces.json: it must be what fontTools reads
    in the files (`python fonts/make_static.py --index` writes it again)."""
    from pamphlet.fonts import BUNDLED_INDEX, index_of
    from pamphlet.resources import builtin_dir
    folder = builtin_dir("fonts")
    assert json.loads((folder / BUNDLED_INDEX).read_text(encoding="utf-8")) == index_of(folder)


def test_a_first_build_opens_no_bundled_font(publication, monkeypatch):
    from pamphlet import fonts
    read, reader = [], fonts.read_face.__wrapped__
    monkeypatch.setattr(fonts, "read_face", lambda path, mtime: read.append(path) or
                        reader(path, mtime))
    own = publication.root / "fonts" / "Own.ttf"
    own.parent.mkdir()
    own.write_bytes((fonts.builtin_dir("fonts") / "oswald" / "Oswald-Bold.ttf").read_bytes())
    faces = fonts.find_fonts(publication.root)
    assert read == [own]
    assert len(faces) == len(json.loads((fonts.builtin_dir("fonts") / fonts.BUNDLED_INDEX)
                                        .read_text(encoding="utf-8")))


def test_layouts_command_lists_and_copies(publication):
    result = pamphlet("layouts")
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()] == \
        ["bulletin", "newspaper", "pamphlet"]
    result = pamphlet("layouts", "copy", "bulletin", "my-bulletin")
    assert result.exit_code == 0, result.output
    assert (publication.root / "layouts" / "my-bulletin" / "layout.yaml").is_file()
    assert "my-bulletin" in pamphlet("layouts").output
    publication.use_layout("my-bulletin")
    assert pamphlet("build", "issue-1").exit_code == 0
    again = pamphlet("layouts", "copy", "bulletin", "my-bulletin")
    assert again.exit_code == 1
    assert "layouts/my-bulletin: this layout folder exists already" in again.output
    assert "unknown layout 'tabloid'" in pamphlet("layouts", "copy", "tabloid", "x").output


def test_compiled_templates_are_kept_and_an_edited_one_is_compiled_again(publication,
                                                                         monkeypatch):
    """A fresh command loads the layout's templates as compiled by the last build (from
    build/.cache/templates) instead of compiling them again; an edited template is."""
    import jinja2

    from pamphlet import layouts
    from pamphlet.build import load
    from pamphlet.compose import compose

    folder = publication.use_layout("notes", {
        "layout.yaml": "extends: bulletin\n",
        "footer.html": "<p class=\"extra\">First edition</p>\n",
        "issue.html": "{% extends \"builtin/bulletin/issue.html\" %}"
                      "{% block body %}{{ super() }}{% include \"footer.html\" %}{% endblock %}\n"})
    issue, articles, layout = load(publication.manifest)
    assert "First edition" in compose(issue, articles, layout)
    assert list((publication.root / "build" / ".cache" / "templates").iterdir())

    layouts._environment.cache_clear()  # as a new process would start
    compiled = []
    original = jinja2.Environment.compile

    def compile_and_note(self, source, name=None, filename=None, *args, **kwargs):
        compiled.append(name)
        return original(self, source, name, filename, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", compile_and_note)
    assert "First edition" in compose(issue, articles, layout)
    assert compiled == []
    (folder / "footer.html").write_text("<p class=\"extra\">Second edition</p>\n")
    layouts._environment.cache_clear()
    html = compose(issue, articles, layout)
    assert "Second edition" in html and "First edition" not in html
    assert compiled == ["footer.html"]
