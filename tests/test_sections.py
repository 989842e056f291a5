"""Sections laid out on their own, in parallel and cached, then put together: the same pages,
page numbers, text, links and outline as the whole issue laid out in one pass."""

from __future__ import annotations

import functools
import os
from dataclasses import replace
from pathlib import Path

import pypdf
import pytest
from helpers import page_images
from PIL import ImageChops

from pamphlet import sections as sections_module
from pamphlet.build import load, readable_roots
from pamphlet.checks import foreign_fonts, page_texts, pdf_fonts
from pamphlet.compose import compose, group_sections
from pamphlet.errors import PamphletError
from pamphlet.fonts import find_fonts
from pamphlet.isolation import Limits, keep_workers
from pamphlet.preflight import facts_of, part_facts, read_facts
from pamphlet.render import Part, Rendered, pdf_bytes, render
from pamphlet.sections import (
    Cache,
    Plan,
    assemble,
    lay_out_sections,
    placement_hints,
    section_document,
    split,
)

REPO = Path(__file__).resolve().parent.parent


def outline(pdf: bytes) -> list[tuple[int, str, int]]:
    reader = pypdf.PdfReader(__import__("io").BytesIO(pdf))
    out: list[tuple[int, str, int]] = []

    def walk(items: list, depth: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
            else:
                out.append((depth, item.title, reader.get_destination_page_number(item)))

    walk(reader.outline, 0)
    return out


def destinations(pdf: bytes) -> dict[str, int]:
    reader = pypdf.PdfReader(__import__("io").BytesIO(pdf))
    return {name: reader.get_destination_page_number(d)
            for name, d in reader.named_destinations.items()}


def links(pdf: bytes) -> list[tuple[int, str]]:
    reader = pypdf.PdfReader(__import__("io").BytesIO(pdf))
    found = []
    for number, page in enumerate(reader.pages):
        for annotation in page.get("/Annots", []) or []:
            annotation = annotation.get_object()
            target = annotation.get("/Dest") or annotation.get("/A", {}).get("/URI")
            found.append((number, str(target)))
    return found


class Sample:
    def __init__(self, name: str, cache: Path) -> None:
        self.issue, self.articles, self.layout = load(REPO / "issues" / f"{name}.yaml")
        self.html = compose(self.issue, self.articles, self.layout)
        self.roots = readable_roots(self.issue, self.layout)
        self.cache = cache
        self.steps: list[str] = []

    def hints(self) -> list[int | None]:
        return placement_hints(self.articles, 0, self.issue.pages)

    def single(self) -> Rendered:
        return render(self.html, self.issue.root, self.roots)

    def sections(self, html: str | None = None) -> Rendered:
        self.steps = []
        result = lay_out_sections(html or self.html, self.issue.root, self.roots, None, Limits(),
                                  _render_plain, self.hints(), self.cache, self.steps.append)
        assert result is not None
        return result


def _render_plain(html: str, base: Path, roots: list[Path], options: object) -> Rendered:
    return render(html, base, roots)


@pytest.fixture(scope="module")
def paper(tmp_path_factory: pytest.TempPathFactory) -> tuple[Sample, Rendered, Rendered]:
    sample = Sample("issue-42", tmp_path_factory.mktemp("cache") / "sections")
    return sample, sample.single(), sample.sections()


def test_the_newspaper_splits_into_its_runs_of_pages():
    sample = Sample("issue-42", Path("unused"))
    parts = split(sample.html)
    assert parts is not None
    assert len(parts.parts) == len(group_sections(sample.articles))
    assert parts.head + "".join(parts.parts) + parts.tail == sample.html
    assert len(sample.hints()) == len(parts.parts)
    assert sample.hints()[:3] == [1, 2, 3]


def test_documents_that_are_not_made_of_sections_are_left_whole():
    sample = Sample("outsourcing-pamphlet", Path("unused"))
    assert split(sample.html) is None
    assert split("<html><body><p>one</p></body></html>") is None
    nested = ('<html><body>\n<section class="run">\n<section class="run">x</section>\n'
              '</section>\n<section class="run">y</section>\n</body></html>')
    assert split(nested) is None
    counted = ('<html><head><style>p::after { content: counter(pages) }</style></head><body>\n'
               '<section class="run">a</section>\n<section class="run">b</section>\n</body></html>')
    assert split(counted) is None


def test_a_section_document_starts_on_the_right_side_with_its_real_page_number():
    parts = split('<html><head></head><body>\n<section class="run">a <a href="#b">b</a></section>\n'
                  '<section class="run" id="b">b</section>\n</body></html>')
    assert parts is not None
    odd = section_document(parts, Plan(0, 5, {"b": 9}))
    assert odd.count('style="break-after: page"') == 2, "pages 3 and 4 in front of page 5"
    assert "@page :first { counter-set: page 3 }" in odd
    assert '@page pamphlet-at-9 { counter-set: page 9 }' in odd
    assert '<div style="page: pamphlet-at-9"><div id="b"></div></div>' in odd
    even = section_document(parts, Plan(1, 6))
    assert even.count('style="break-after: page"') == 1
    assert "counter-set: page 5" in even
    assert "<style>" not in section_document(parts, Plan(1, 1))
    assert odd.split("<body")[0] == even.split("<body")[0] == parts.head.split("<body")[0], \
        "every section has the issue's head, so a worker parses its stylesheets once"


def test_sections_give_the_same_pages_as_one_pass(paper):
    _, single, sections = paper
    assert sections.page_count == single.page_count == 12
    assert page_texts(sections.pdf) == page_texts(single.pdf), \
        "the same text on every page: breaks, folios with their page numbers, 'See page N'"
    assert sections.start_pages == single.start_pages
    assert sections.messages == single.messages


def test_the_bulletin_is_laid_out_side_by_side_with_the_same_pages(tmp_path: Path):
    sample = Sample("busworker-2026-11-24", tmp_path / "sections")
    parts = split(sample.html)
    assert parts is not None and len(parts.parts) == 2, "side 1 and side 2"
    single, sections = sample.single(), sample.sections()
    assert sections.page_count == single.page_count == 2
    # Letter case aside: a small-caps glyph that stands for both "r" and "R" is given one of
    # them in the font's text map, and each side's fonts have a map of their own.
    assert [text.lower() for text in page_texts(pdf_bytes(sections.pdf))] == \
        [text.lower() for text in page_texts(single.pdf)]
    (tmp_path / "single.pdf").write_bytes(single.pdf)
    (tmp_path / "sections.pdf").write_bytes(pdf_bytes(sections.pdf))
    for a, b in zip(page_images(tmp_path / "single.pdf", dpi=100),
                    page_images(tmp_path / "sections.pdf", dpi=100), strict=True):
        assert ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None


def test_links_bookmarks_and_fonts_survive_the_assembly(paper):
    sample, single, sections = paper
    assert destinations(sections.pdf) == destinations(single.pdf)
    assert links(sections.pdf) == links(single.pdf)
    assert outline(sections.pdf) == outline(single.pdf)
    fonts = pdf_fonts(sections.pdf)
    assert fonts == pdf_fonts(single.pdf)
    assert foreign_fonts(fonts, find_fonts(sample.issue.root)) == []
    reader = pypdf.PdfReader(__import__("io").BytesIO(sections.pdf))
    assert reader.metadata is not None and reader.metadata.title == \
        pypdf.PdfReader(__import__("io").BytesIO(single.pdf)).metadata.title
    assert len(sections.pdf) < 1.6 * len(single.pdf), "fonts are embedded once per section"


def test_the_checks_read_each_section_as_its_pages_are_in_the_assembled_pdf(paper):
    """The preflight reads a sectioned issue section by section (and keeps what it read
    beside each section): page for page it must be what the assembled PDF says."""
    sample, _, sections = paper
    assert [p.pages for p in sections.parts] and \
        sum(p.pages for p in sections.parts) == sections.page_count
    for colour, edge in (("cmyk", 0), ("grey", 15)):
        whole = read_facts(sections.pdf, colour, edge)
        assert facts_of(sections, colour, edge) == whole
        kept = sorted(sample.cache.glob(f"*.facts-*-{colour}*.json"))
        assert len(kept) == len(sections.parts)
        assert facts_of(sections, colour, edge) == whole, "read back from the kept files"
        assert any(page.colours for page in whole), "the plain render is RGB: the check sees it"
        assert all(page.fonts and page.text for page in whole)
    assert any(page.inked_edges for page in whole) and all(p.solid_black < 1 for p in whole), \
        "the columns come within 15 mm of the sides"


def test_the_checks_read_each_section_while_the_others_are_laid_out(tmp_path: Path):
    """`each` gets every section as it comes, before they are put together: the build reads
    its facts then (while the workers go on), and the checks find them kept."""
    sample = Sample("issue-42", tmp_path / "sections")
    seen: list[tuple[bool, int]] = []
    steps: list[str] = []

    def each(part: Part) -> None:
        seen.append(("putting the sections together" in steps, part.pages))
        part_facts(part, "grey", 5)

    laid = lay_out_sections(sample.html, sample.issue.root, sample.roots, None, Limits(),
                            _render_plain, sample.hints(), sample.cache, steps.append, each=each)
    assert laid is not None
    assert len(seen) == len(laid.parts) and not any(together for together, _ in seen)
    assert sorted(pages for _, pages in seen) == sorted(p.pages for p in laid.parts)
    assert len(list(sample.cache.glob("*.facts-*-grey-edge5.json"))) == len(laid.parts)
    assert facts_of(laid, "grey", 5) == read_facts(pdf_bytes(laid.pdf), "grey", 5)


def _facts_noting_who(part: Part, notes: str) -> None:
    part_facts(part, "grey", 5)
    Path(notes, part.pdf.name).write_text(str(os.getpid()))


def test_a_process_that_keeps_its_workers_has_an_idle_one_read_a_new_section(tmp_path: Path):
    """In `pamphlet serve`, a kept worker with nothing to do reads an edited section's pages
    for the checks while the build puts the sections together; what it read is kept beside
    the section by the time the sections are put together, and is what the PDF says."""
    sample = Sample("busworker-2026-11-24", tmp_path / "sections")
    notes = tmp_path / "notes"
    notes.mkdir()
    each = functools.partial(_facts_noting_who, notes=str(notes))

    def lay_out(html: str) -> Rendered:
        laid = lay_out_sections(html, sample.issue.root, sample.roots, None, Limits(),
                                _render_plain, sample.hints(), sample.cache, each=each)
        assert laid is not None
        return laid

    keep_workers()
    try:
        first = lay_out(sample.html)
        edited = sample.html.replace("Seat of the Problem", "Seat of the Trouble", 1)
        assert edited != sample.html
        laid = lay_out(edited)
    finally:
        keep_workers(False)
    [new] = [part for part in laid.parts if part not in first.parts]
    assert int((notes / new.pdf.name).read_text()) != os.getpid()
    assert len(list(notes.iterdir())) == 3, "both sides at first, then the edited one"
    assert len(list(sample.cache.glob("*.facts-*-grey-edge5.json"))) == 3
    assert facts_of(laid, "grey", 5) == read_facts(pdf_bytes(laid.pdf), "grey", 5)


def test_a_file_is_hashed_again_only_when_it_has_changed(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    """A process that builds again and again hashes the fonts and stylesheets a section
    refers to once, and again once a file's size, time or inode changes."""
    font = tmp_path / "face.ttf"
    font.write_bytes(b"first")
    first = Cache(None).digest(font)
    read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} read again"))
    assert Cache(None).digest(font) == first
    monkeypatch.setattr(Path, "read_bytes", read)
    font.write_bytes(b"other")  # the same size
    os.utime(font, ns=(1, 1))
    assert Cache(None).digest(font) not in (first, "missing")
    font.unlink()
    assert Cache(None).digest(font) == "missing"


def test_sections_are_read_from_the_cache_not_held_in_memory(paper, tmp_path: Path):
    """Each section's PDF is read back from its file in the cache when it is needed, so a
    long issue's sections are not all in memory at once; the result is the same as from the
    sections' bytes, and a file gone from under the build is a plain error."""
    sample, _, sections = paper
    files = [part.pdf for part in sections.parts]
    assert all(isinstance(f, Path) and f.parent == sample.cache and f.suffix == ".pdf"
               for f in files)
    cache = Cache(sample.cache)
    kept = [cache.get(f.stem) for f in files]
    assert all(k is not None and isinstance(k.pdf, Path) for k in kept)
    in_memory = [replace(k, pdf=pdf_bytes(k.pdf)) for k in kept if k is not None]
    assert assemble([k for k in kept if k is not None]) == assemble(in_memory) == sections.pdf
    gone = tmp_path / "gone.pdf"
    with pytest.raises(PamphletError) as error:
        assemble([replace(in_memory[0], pdf=gone)])
    assert error.value.problems[0].file == gone
    assert "could not be read back" in str(error.value) and "build again" in str(error.value)


def test_a_process_that_keeps_its_workers_keeps_the_sections_parsed(paper, tmp_path: Path):
    """`pamphlet serve` puts the issue together again after each edit: the sections that did
    not change are not parsed again, and one laid out anew (a new file) is."""
    sample, _, sections = paper
    kept = [Cache(sample.cache).get(part.pdf.stem) for part in sections.parts]
    laid = [k for k in kept if k is not None and isinstance(k.pdf, Path)]
    assert len(laid) == len(kept)
    keep_workers()
    try:
        first = assemble(laid)
        readers = {name: kept[1] for name, kept in sections_module._kept_readers.items()}
        assert set(readers) == {str(k.pdf) for k in laid}
        assert assemble(laid) == first == sections.pdf
        assert all(sections_module._kept_readers[n][1] is readers[n] for n in readers)
        replaced = Path(laid[0].pdf)
        copy = tmp_path / "copy.pdf"
        copy.write_bytes(replaced.read_bytes())
        os.replace(copy, replaced)
        assert assemble(laid) == first
        assert sections_module._kept_readers[str(replaced)][1] is not readers[str(replaced)]
    finally:
        keep_workers(False)
    assert assemble(laid) == first
    assert sections_module._kept_readers == {}, "let go once the process keeps no workers"


def test_an_unchanged_issue_comes_from_the_cache_and_one_edit_lays_out_one_section(paper):
    sample, _, sections = paper
    again = sample.sections()
    assert not [s for s in sample.steps if s.startswith("laying out")], sample.steps
    assert page_texts(again.pdf) == page_texts(sections.pdf)
    edited = sample.html.replace("More than 2,000 people marched", "More than 3,000 people marched", 1)
    assert edited != sample.html
    changed = sample.sections(edited)
    count = len(split(sample.html).parts)
    assert [s for s in sample.steps if s.startswith("laying out")] == \
        [f"laying out 1 of {count} sections"]
    assert changed.page_count == 12


@pytest.mark.parametrize("share", [1, 2])
def test_an_issue_built_beside_others_lays_out_with_its_share_of_the_cores(
        share: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`build --all` builds one issue per core and gives each its share of the cores for
    its sections (build._share_cores), read when the sections are laid out."""
    from pamphlet.build import _share_cores

    monkeypatch.setattr(sections_module, "WORKERS", sections_module.WORKERS)
    _share_cores(share)
    sample = Sample("busworker-2026-11-24", tmp_path / "sections")
    sample.sections()
    laying = [s for s in sample.steps if s.startswith("laying out")]
    assert laying == ["laying out 2 of 2 sections" + (" on 2 cores" if share == 2 else "")]
