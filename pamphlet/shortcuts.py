"""Shortcuts in WeasyPrint 70 (two in cffi, under it, one in pyphen) that give the same pages with less work.

A balanced 5-column newspaper page is laid out several times over: once per balancing step,
once more for the result, and the whole page again on the second pagination pass. Each
shortcut removes repeated work whose result WeasyPrint then throws away:

* `lean_next_box`: to find how much height the next piece of a column needs, the balancing
  loop lays out *everything* left in the column set at infinite height and reads the height
  of the first block only. At infinite height nothing breaks, so laying out just that block
  (and any floats before it) gives the same height.
* `kept_columns`: each balancing step lays out every column again at a foot a little lower
  (a bulletin's back page: ten steps). A column's layout hangs on its foot only through
  WeasyPrint's `overflows_page(bottom_space, position_y)` questions, and through the height
  of a block split at the foot, which is stretched to it. So the questions a column was asked
  are kept with it, and a later step that starts a column at the same place is given that
  column again if every question would have the same answer at the new foot (by more than
  1e-6 px), with the split block's stretch moved to the new foot; the look at the next box
  is given again too, and so are the last step's columns as the result's columns (moved
  sideways to their places) where no split block would be stretched differently. A column
  that held a float, an absolute, a table, flex or grid boxes, columns of its own or a
  footnote is never kept: those hang on more than the foot.
* `keep_lines`: each balancing step breaks the same paragraphs into lines again at the same
  width, and the next render of an edited section breaks its unchanged paragraphs again.
  Pango's answer for one line (text, width, and the values of every style property that
  WeasyPrint's line breaking reads, found in its source) is kept with the font
  configuration, which `keep_stylesheets` keeps for every render of the same document head.
  The layouts it returns are already inert (WeasyPrint drops their Pango objects and their
  style before it returns them, and rebuilds them with the box's own style to draw), so
  sharing one is safe.
* `kept_line_boxes`: even with Pango's answers kept, making a line box is WeasyPrint's
  Python work (about 0.2 ms a line), and a balancing step makes again the lines of every
  column it lays out again. Where no float is in the way, a line of a paragraph that holds
  only text and inline boxes hangs on where it starts in the paragraph, the width, the
  indent and the direction, not on its height on the page or its column: so each line made
  on a page is kept, and given again as a copy moved to its new place when the same
  paragraph is broken again from the same point (a bulletin's back page: 133 lines made
  for 718 asked). A paragraph's content may change between two layouts of a page (a link
  that says the page it points to), so the lines are kept for one layout of a page only.
* `keep_used_lengths`: every time a box is laid out, WeasyPrint works out its margins,
  paddings, borders, width and height from its computed style and its containing block's
  size (`resolve_percentages`), and a balancing step lays out every box of its columns
  again: a bulletin's back page asks 1,265 times for some 140 answers. The answer hangs on
  nothing else, so it is kept for the page and given again, only while the style still holds
  the very values it was worked out from, and never for a `calc()` value or a table whose
  borders collapse (those read more than the style).
* `lean_flow_test`: whether a box is in the normal flow (not floated, positioned, running,
  a footnote or a note) is asked some 8,000 times in a layout of a bulletin's back page, and
  each answer called five other methods that read the same two style values again. The
  same test now reads them once.
* `keep_computed_styles`: WeasyPrint works out each element's computed values (inheritance,
  em and ex lengths, var(), calc()) on first use, a quarter of a warm render of the
  bulletin's back page, and again in every render. An element whose declarations are the
  same as another's, under a parent of the same class, has the same computed values: each
  value worked out for one element of such a class is given to the others, in this render
  and the next ones with the same head. Its position, float, display and anchor are worked
  out for each element itself; a value that warns, or any value of a class whose var() has
  failed (WeasyPrint warns for it only once), is worked out every time, and only plain
  values (strings, numbers and tuples of them) are shared, as WeasyPrint changes some
  others in place.
* `keep_justified`: each justified line gets a second Pango layout, with the word spacing,
  for drawing; it too is made again on every step. It is kept like the lines (one per text,
  look and spacing); the one kept is never drawn from two places at once.
* `keep_drawn_lines`: to draw each line, WeasyPrint has Pango lay its text out again and
  writes its glyphs one by one in Python (the bulletin's back page: 33 ms of a 0.18 s
  render). A kept layout (above) drawn a second time notes what it wrote: per font, the
  glyph string and the glyphs with the widths it counted them at. Drawn again, in this or a
  later render, the line is written from that note, giving the PDF's font the glyphs' texts
  and widths as WeasyPrint would; WeasyPrint draws it itself where the font is not in the
  PDF yet or holds a glyph's width counted at another size. Lines with raised, missing or
  colour glyphs, an ellipsis or a decoration are always WeasyPrint's.
* `no_remake_for_running`: a page on which a running element (`position: running()`) first
  appears is laid out again on a second pass. That pass exists for `position: note()`
  notes, which change the page's own content; plain running elements only fill margin
  boxes, which are made after pagination. The newspaper's running heads made every page
  twice as slow.
* `keep_pictures`: for a target that makes pictures smaller (office, email), every render
  decodes each JPEG picture and encodes it again for the PDF (optimised, at the target's
  quality): 40-60 ms for a newspaper page's photo, on every edit of that page. The bytes
  it makes are kept per process (16 MB at most), named by the picture's own bytes and the
  options that shape them, and given to the next render, with
  the facts about the picture WeasyPrint noted on the way (size, mode, format); so is a
  picture scaled down to the target's resolution as the PDF is written (12 ms for the
  bulletin's photo).
* `keep_stylesheets`: every render parses the document's stylesheets again and copies its
  fonts into a new font configuration, about 0.08 s for the newspaper; a layout worker lays
  out many sections with the same head. The font configuration is kept per head (with the
  size and time of each file it refers to, so an edited stylesheet or font is read again),
  and with it each stylesheet as parsed, what parsing it added to the document's page rules
  and counter styles, and the warnings it logged, all given again to the next render; its
  var() values are told to warn again, as freshly parsed ones would.
* `patterns_parsed_once` (pyphen, beside WeasyPrint): each process that first hyphenates
  parsed the dictionary's 11,000 patterns in Python, 67 ms for English, paid by every new
  layout worker of a cold build. pyphen's own parse of the English dictionary ships with
  pamphlet (hyphenation/, made by `write_parsed_patterns`) and is read in 11 ms instead, only
  for a dictionary file with the very bytes it was made from and the same parsing code.
* `array_types_unparsed` (cffi): WeasyPrint asks for a `hb_codepoint_t[N]` of each new
  length N as it subsets a font, and cffi parsed each declaration with pycparser; it is
  built from the element's pointer type instead, the very object parsing ends in.
* `types_parsed_alone` (cffi): any other C type cffi meets for the first time was parsed
  after all 64 typedef names of WeasyPrint's declarations; only the names it uses are
  handed to pycparser now, which gives the same type.

tests/test_shortcuts.py lays out every sample with and without them and compares each page's
pixels and words (the bench's 16-page newspaper was compared the same way by hand). Each
shortcut checks the code it changes and steps aside (leaving WeasyPrint as it is) if that
code is not what it expects, as after an upgrade. PAMPHLET_SHORTCUTS=0 turns them all off.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import inspect
import json
import linecache
import logging
import os
import re
import shutil
import types
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from math import inf, isfinite
from pathlib import Path
from typing import Any

from .paths import referenced_files

WEASYPRINT_MAJOR = "70"
_installed: dict[str, bool] = {}


def wanted() -> bool:
    return os.environ.get("PAMPHLET_SHORTCUTS", "1").strip().lower() not in ("0", "no", "off",
                                                                            "false")


def _source(obj: Any) -> str:
    """The source of a function (or module) that a shortcut checks before it replaces it, as
    `inspect.getsource` gives it but without tokenizing the file, which took 31 ms of the
    35 ms that installing the shortcuts takes at the start of every layout server: a
    function's lines run from its first to the last line of code in it or in anything
    defined inside it (so a comment after its last line is left out)."""
    function = inspect.unwrap(obj)
    code = getattr(function, "__code__", None)
    lines = linecache.getlines(code.co_filename) if code is not None else []
    if not lines:
        return inspect.getsource(obj)
    return "".join(lines[code.co_firstlineno - 1:_last_line(code)])


def _last_line(code: types.CodeType) -> int:
    inner = [_last_line(c) for c in code.co_consts if isinstance(c, types.CodeType)]
    return max([end for _, end, _, _ in code.co_positions() if end is not None] + inner)


def install() -> dict[str, bool]:
    """Install each shortcut that fits this WeasyPrint (once per process); which ones did."""
    if _installed or not wanted():
        return dict(_installed)
    import weasyprint

    fits = weasyprint.__version__.split(".")[0] == WEASYPRINT_MAJOR
    for name, shortcut in (("lean_next_box", _lean_next_box), ("kept_columns", _kept_columns),
                           ("keep_lines", _keep_lines),
                           ("keep_justified", _keep_justified),
                           ("keep_drawn_lines", _keep_drawn_lines),
                           ("no_remake_for_running", _no_remake_for_running),
                           ("kept_line_boxes", _kept_line_boxes),
                           ("keep_used_lengths", _keep_used_lengths),
                           ("lean_flow_test", _lean_flow_test),
                           ("keep_computed_styles", _keep_computed_styles),
                           ("keep_stylesheets", _keep_stylesheets),
                           ("array_types_unparsed", _array_types_unparsed),
                           ("types_parsed_alone", _types_parsed_alone),
                           ("keep_pictures", _keep_pictures),
                           ("patterns_parsed_once", _patterns_parsed_once)):
        _installed[name] = fits and shortcut()
    return dict(_installed)


def installed() -> dict[str, bool]:
    return dict(_installed)


_ARRAY_TYPE = re.compile(r"([A-Za-z_]\w*)\[(\d+)\]")


def _array_types_unparsed() -> bool:
    from cffi import model
    from weasyprint.text.ffi import ffi

    parse = ffi._typeof_locked
    if not {"_parsed_types", "_typecache", "_backend"} <= set(vars(ffi)) or \
            "global_cache(self, ffi, 'new_array_type', BPtrItem, self.length)" \
            not in _source(model.ArrayType.build_backend_type):
        return False

    def typeof_locked(cdecl: Any) -> Any:
        match = _ARRAY_TYPE.fullmatch(cdecl) if isinstance(cdecl, str) else None
        if match is None or cdecl in ffi._parsed_types:
            return parse(cdecl)
        pointer, is_function = parse(f"{match[1]} *")
        if is_function:
            return parse(cdecl)
        # What parsing the declaration ends in: the same cached type object.
        array = model.global_cache("?", ffi, "new_array_type", pointer, int(match[2]))
        ffi._parsed_types[cdecl] = (array, False)
        return array, False

    ffi._typeof_locked = typeof_locked
    return True


_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def _types_parsed_alone() -> bool:
    """cffi parses a C type it has not seen (`ffi.new("PangoRectangle *")`, some ten in a
    process's first layout) by handing pycparser every typedef name of WeasyPrint's
    declarations (64) before it, since a typedef name changes how C parses: 3.3 ms a type.
    Only the names that occur in the source being parsed can change it, so only those are
    handed over: 0.4 ms, the same types."""
    from cffi import cparser
    from weasyprint.text.ffi import ffi

    parser = ffi._parser
    source = _source(cparser.Parser._parse)
    if not isinstance(getattr(parser, "_declarations", None), dict) or \
            "for name in sorted(self._declarations):" not in source or \
            source.count("self._declarations") != 1:
        return False
    parse = parser._parse

    def parse_with_the_names_used(csource: str) -> Any:
        declared = parser._declarations
        used = set(_IDENTIFIER.findall(csource))
        parser._declarations = {name: declaration for name, declaration in declared.items()
                                if not name.startswith("typedef ") or name[8:] in used}
        try:
            return parse(csource)
        finally:
            parser._declarations = declared

    parser._parse = parse_with_the_names_used
    return True


def _lean_next_box() -> bool:
    from weasyprint.layout import block, column

    if "block_box_layout(\n                            context, column_box, inf, column_skip_stack," \
            not in _source(column.columns_layout):
        return False
    original: Callable[..., Any] = block.block_box_layout

    def block_box_layout(context: Any, box: Any, bottom_space: float, skip_stack: Any,
                         *args: Any, **kwargs: Any) -> Any:
        if bottom_space == inf and skip_stack and getattr(box, "is_column", False):
            box = _up_to_first_in_flow(box, skip_stack)
        return original(context, box, bottom_space, skip_stack, *args, **kwargs)

    block.block_box_layout = block_box_layout
    return True


SLACK = 1e-6
"""How far (in px) a recorded position must be from a new column foot for the answer to
`overflows_page` to be taken as settled; WeasyPrint's own fudge is 1e-9 of the position."""
LOOP_CALL = "page_is_empty or not balancing, [], [], [], first_letter_style,"
KEPT_COLUMN_BOXES = 4
"""Column sets whose steps are kept at once (more than one only for columns in columns)."""
_recording: list[list[tuple[float, float, bool]]] = []
"""The `overflows_page` questions asked while a column is being laid out, innermost last."""
_unusual = [0]
"""Layouts of floats, absolutes, tables, flex and grid boxes, nested columns and footnotes:
what a column holds them, its result may hang on more than where its foot is."""
kept_column_count = [0, 0]
"""Columns given again instead of laid out (for tests and the bench): in a balancing step,
and as the result's columns that end inside a split block."""


@dataclass
class _KeptColumn:
    """One column of a balancing step as laid out: what it was asked, and what it gave."""

    bottom_space: float
    page_bottom: float
    position_x: float
    questions: list[tuple[float, float, bool]]
    result: tuple[Any, Any, Any]
    stretched: int | None
    """The index of the last in-flow child if it was split and so stretched to the foot."""


def _kept_columns() -> bool:
    from weasyprint.layout import LayoutContext, block, column, inline

    if LOOP_CALL not in _source(column.columns_layout) or \
            "return self.overflows(self.page_bottom - bottom_space, position_y)" \
            not in _source(LayoutContext.overflows_page):
        return False
    asked = LayoutContext.overflows_page

    def overflows_page(self: Any, bottom_space: float, position_y: float) -> bool:
        answer: bool = asked(self, bottom_space, position_y)
        if _recording:
            _recording[-1].append((position_y, bottom_space, answer))
        return answer

    LayoutContext.overflows_page = overflows_page
    for module, names in ((block, ("float_layout", "absolute_layout", "flex_layout",
                                   "grid_layout", "table_layout", "columns_layout")),
                          (inline, ("float_layout", "absolute_layout", "flex_layout",
                                    "grid_layout"))):
        for name in names:
            setattr(module, name, _counted(getattr(module, name)))
    LayoutContext.layout_footnote = _counted(LayoutContext.layout_footnote)
    original: Callable[..., Any] = block.block_box_layout

    def block_box_layout(context: Any, box: Any, bottom_space: float, skip_stack: Any,
                         containing_block: Any, page_is_empty: bool, absolute_boxes: Any,
                         fixed_boxes: Any, adjoining_margins: Any, *args: Any,
                         **kwargs: Any) -> Any:
        def lay_out() -> Any:
            return original(context, box, bottom_space, skip_stack, containing_block,
                            page_is_empty, absolute_boxes, fixed_boxes, adjoining_margins,
                            *args, **kwargs)

        if not getattr(box, "is_column", False) or bottom_space == -inf:
            return lay_out()
        final = adjoining_margins is None  # the columns as they will be: balancing is over
        if not final and not (adjoining_margins == [] and absolute_boxes == []
                              and fixed_boxes == []):
            return lay_out()
        kept = _kept_for(context, box, (_skip_key(skip_stack), page_is_empty,
                                         bottom_space == inf, id(containing_block)))
        for entry in kept:
            if entry.page_bottom == context.page_bottom and \
                    _same_answers(entry, bottom_space, context.page_bottom):
                if not final:
                    kept_column_count[0] += 1
                    return _given_again(entry, bottom_space)
                if entry.stretched is None or entry.bottom_space == bottom_space:
                    kept_column_count[entry.stretched is not None] += 1
                    kept.clear()  # each column of the result is laid out once
                    return _placed(entry, box)
        if final:
            kept.clear()
            return lay_out()
        unusual, footnotes = _unusual[0], len(context.current_page_footnotes)
        _recording.append([])
        try:
            result = lay_out()
        finally:
            questions = _recording.pop()
        if _unusual[0] == unusual and footnotes == len(context.current_page_footnotes) \
                and absolute_boxes == [] and fixed_boxes == [] and result[0] is not None:
            entry = _kept_column(context, box, bottom_space, questions, result)
            if entry is not None:
                kept.append(entry)
        return result

    block.block_box_layout = block_box_layout
    return True


def _counted(function: Callable[..., Any]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        _unusual[0] += 1
        return function(*args, **kwargs)
    return counted


def _skip_key(skip_stack: Any) -> Any:
    if skip_stack is None:
        return None
    return tuple((index, _skip_key(rest)) for index, rest in sorted(skip_stack.items()))


def _kept_for(context: Any, column_box: Any, key: tuple[Any, ...]) -> list[_KeptColumn]:
    """What this render keeps for `key` of the column set `column_box` is a column of: its
    balancing loop lays out one column box at each step, then a box per column of the
    result, all with the same children."""
    sets: dict[tuple[int, int], tuple[Any, dict[Any, list[_KeptColumn]]]] = \
        context.__dict__.setdefault("_pamphlet_columns", {})
    children = column_box.children
    name = (id(children[0]) if children else 0, len(children))
    found = sets.get(name)
    if found is None or len(found[0]) != len(children) or \
            any(a is not b for a, b in zip(found[0], children, strict=True)):
        found = sets[name] = (children, {})
        while len(sets) > KEPT_COLUMN_BOXES:
            del sets[next(iter(sets))]
    return found[1].setdefault(key, [])


def _kept_column(context: Any, column_box: Any, bottom_space: float,
                 questions: list[tuple[float, float, bool]], result: tuple[Any, ...]
                 ) -> _KeptColumn | None:
    new_box, resume_at, next_page = result[:3]
    in_flow = [i for i, child in enumerate(new_box.children) if child.is_in_normal_flow()]
    stretched = None
    if bottom_space != inf and resume_at is not None and \
            any(rest is not None for rest in resume_at.values()):
        if not in_flow:
            return None
        # The column broke inside its last child, which WeasyPrint then stretched to the
        # column's foot: at another foot, it has another height.
        last = new_box.children[in_flow[-1]]
        foot = context.page_bottom - bottom_space
        if abs(last.position_y + last.margin_height() - foot) > SLACK:
            return None
        stretched = in_flow[-1]
    return _KeptColumn(bottom_space, context.page_bottom, column_box.position_x, questions,
                       (new_box, resume_at, next_page), stretched)


def _same_answers(entry: _KeptColumn, bottom_space: float, page_bottom: float) -> bool:
    """Whether every question the column was asked has the same answer with its foot moved
    by the change in `bottom_space` (WeasyPrint only adds to the bottom space it passes
    down, so each question's own bottom space moves by as much). At the same foot they are
    the very questions it was asked: a position within SLACK of the foot (the block split at
    the foot ends there) is no doubt then, and the result's columns are taken from the last
    step, which has the same foot."""
    shift = bottom_space - entry.bottom_space
    if shift == 0:
        return True
    for position_y, asked_space, answer in entry.questions:
        if not isfinite(asked_space):
            continue
        foot = (page_bottom - (asked_space + shift)) * (1 + 1e-9)
        if abs(position_y - foot) < SLACK or (position_y > foot) != answer:
            return False
    return True


def _placed(entry: _KeptColumn, column_box: Any) -> tuple[Any, ...]:
    """A kept column as the result's column: the last step laid each column out where the
    first one goes, with the same foot; the result has it at its own place."""
    new_box, resume_at, next_page = entry.result
    new_box.translate(column_box.position_x - entry.position_x, 0)
    return new_box, resume_at, dict(next_page), [], False, None


def _given_again(entry: _KeptColumn, bottom_space: float) -> tuple[Any, ...]:
    new_box, resume_at, next_page = entry.result
    if entry.stretched is not None and bottom_space != entry.bottom_space:
        children = list(new_box.children)
        last = children[entry.stretched].copy()
        last.height += entry.bottom_space - bottom_space
        children[entry.stretched] = last
        new_box = new_box.copy_with_children(children)
    return new_box, resume_at, dict(next_page), [], False, None


def _up_to_first_in_flow(column_box: Any, skip_stack: dict[int, Any]) -> Any:
    """The column box with its children cut after the first in-flow one to be laid out."""
    if len(skip_stack) != 1:
        return column_box
    (start,) = skip_stack
    children = column_box.children
    end = start
    while end < len(children) - 1 and not children[end].is_in_normal_flow():
        end += 1
    if end + 1 >= len(children):
        return column_box
    return column_box.copy_with_children(children[:end + 1])


def _keep_lines() -> bool:
    from weasyprint.layout import inline
    from weasyprint.text import fonts, line_break

    original = line_break.split_first_line
    if inline.split_first_line is not original or \
            "first_line_metrics(" not in _source(original) or \
            "layout.deactivate()" not in _source(line_break.first_line_metrics):
        return False
    _line_properties[:] = _read_properties(line_break, fonts)
    if "font_size" not in _line_properties:
        return False

    def split_first_line(text: str, style: Any, context: Any, max_width: float | None,
                         justification_spacing: float, is_line_start: bool = True,
                         minimum: bool = False) -> Any:
        kept, look = _kept_lines(style, context, "lines")
        key = (text, look, max_width, justification_spacing, is_line_start, minimum)
        found = kept.get(key)
        if found is None:
            found = kept[key] = original(text, style, context, max_width,
                                         justification_spacing, is_line_start, minimum)
        return found

    inline.split_first_line = split_first_line
    return True


def _kept_line_boxes() -> bool:
    from weasyprint.formatting_structure import boxes
    from weasyprint.layout import inline

    source = _source(inline.get_next_linebox)
    if "line, resume_at = get_next_linebox(" not in _source(inline.iter_line_boxes) or not all(
            line in source for line in (
                "if context.excluded_shapes:", "linebox.position_y = position_y",
                "position_x, position_y, available_width = avoid_collisions(",
                "line.position_y = position_y", "return line, resume_at")) or \
            not _made_page_by_page():
        return False
    original: Callable[..., Any] = inline.get_next_linebox

    def get_next_linebox(context: Any, linebox: Any, position_y: float, bottom_space: float,
                         skip_stack: Any, containing_block: Any, absolute_boxes: list[Any],
                         fixed_boxes: list[Any], first_letter_style: Any,
                         first_line_style: Any) -> Any:
        def lay_out() -> Any:
            return original(context, linebox, position_y, bottom_space, skip_stack,
                            containing_block, absolute_boxes, fixed_boxes, first_letter_style,
                            first_line_style)

        if context.excluded_shapes or first_letter_style is not None or \
                first_line_style is not None:
            return lay_out()
        kept: dict[int, tuple[Any, bool, dict[Any, Any]]] = \
            context.__dict__.setdefault("_pamphlet_line_boxes", {})
        found = kept.get(id(linebox))
        if found is None or found[0] is not linebox:
            found = kept[id(linebox)] = (linebox, _only_text(linebox, boxes), {})
        if not found[1]:
            return lay_out()
        key = (_skip_key(skip_stack), containing_block.width, linebox.text_indent,
               containing_block.style["direction"])
        x = containing_block.content_box_x()
        entry = found[2].get(key)
        if entry is None:
            line, resume_at = lay_out()
            if line is not None and not context.excluded_shapes:
                found[2][key] = (line.deepcopy(), resume_at, x, position_y,
                                 (linebox.position_x, linebox.width, linebox.height))
            return line, _copied_skip(resume_at)
        line, resume_at, at_x, at_y, (box_x, width, height) = entry
        kept_line_box_count[0] += 1
        line = line.deepcopy()
        line.translate(x - at_x, position_y - at_y)
        line.position_y = position_y
        linebox.position_x, linebox.position_y = box_x + (x - at_x), position_y
        linebox.width, linebox.height = width, height
        return line, _copied_skip(resume_at)

    inline.get_next_linebox = get_next_linebox
    # A page's content may change between two layouts of it.
    _forget_at_each_page(lambda context: context.__dict__.pop("_pamphlet_line_boxes", None))
    return True


def _made_page_by_page() -> bool:
    """Whether WeasyPrint makes each page through `make_page`, as the shortcuts that keep
    what they learn for one page's layout expect."""
    from weasyprint.layout import page

    return "page, resume_at, next_page = make_page(" in _source(page.remake_page)


def _forget_at_each_page(forget: Callable[[Any], object]) -> None:
    """Call `forget(context)` before WeasyPrint makes each page and once it is made."""
    from weasyprint.layout import page

    made: Callable[..., Any] = page.make_page

    def make_page(context: Any, *args: Any, **kwargs: Any) -> Any:
        forget(context)
        try:
            return made(context, *args, **kwargs)
        finally:
            forget(context)

    page.make_page = make_page


kept_line_box_count = [0]
"""Lines given again instead of laid out (for tests and the bench)."""


def _only_text(linebox: Any, boxes: Any) -> bool:
    """Whether a paragraph's line box holds nothing but text and inline boxes (no floats,
    pictures, inline blocks, leaders, running or out-of-flow elements)."""
    plain = (boxes.LineBox, boxes.TextBox, boxes.InlineBox)
    return all(type(box) in plain and not getattr(box, "is_leader", False)
               and box.style["position"] in ("static", "relative")
               and box.style["float"] == "none" for box in linebox.descendants(True))


def _copied_skip(skip_stack: Any) -> Any:
    if skip_stack is None:
        return None
    return {index: _copied_skip(rest) for index, rest in skip_stack.items()}


_line_properties: list[str] = []
"""The style properties that WeasyPrint's line breaking reads (all that its text modules
ask a style for): two styles equal in these break a text into the same lines."""
KEPT_LINES = 40_000
"""Lines kept per font configuration across renders; past this, they start again."""
_lines: weakref.WeakKeyDictionary[Any, dict[str, dict[Any, Any]]] = \
    weakref.WeakKeyDictionary()


def _read_properties(*modules: Any) -> list[str]:
    source = "".join(_source(module) for module in modules)
    return sorted(set(re.findall(r"""style\[['"](\w+)['"]\]""", source)))


def _kept_lines(style: Any, context: Any, kind: str) -> tuple[dict[Any, Any], Any]:
    """Where lines of this style are kept, and how the style is named there: by the values
    of its line properties, in the store of its font configuration (the same for every
    render of a document head, see `keep_stylesheets`), so that an unchanged paragraph of
    the next render of a section is not broken into lines again; by the style itself, for
    this render only, where a value cannot be compared."""
    looks = context.__dict__.setdefault("_pamphlet_looks", {})
    found = looks.get(id(style))
    if found is None or found[0] is not style:  # the style is kept alive: ids stay unique
        look = tuple(style[name] for name in _line_properties)
        try:
            hash(look)
        except TypeError:
            look = None
        found = looks[id(style)] = (style, look)
    look = found[1]
    if look is None:
        return context.__dict__.setdefault(f"_pamphlet_{kind}", {}), id(style)
    stores = _lines.setdefault(style.font_config, {})
    kept = stores.setdefault(kind, {})
    if len(kept) > KEPT_LINES:
        kept.clear()
    return kept, look


USED_LENGTHS_SOURCE = "a574590443cb3ba45cde501614d52a270611192316b72f04ffb2a2dc109c54a3"
"""SHA-256 of WeasyPrint 70's `resolve_percentages` and the three functions it calls: the
shortcut knows what they read and set only for that code."""
_LENGTHS_READ = ("margin_left", "margin_right", "margin_top", "margin_bottom", "padding_left",
                 "padding_right", "padding_top", "padding_bottom", "width", "min_width",
                 "max_width", "height", "min_height", "max_height", "border_top_width",
                 "border_right_width", "border_bottom_width", "border_left_width",
                 "border_collapse", "box_sizing")
_LENGTHS_SET = _LENGTHS_READ[:-2]
kept_lengths_count = [0]
"""Boxes given their used lengths again instead of working them out (for tests)."""


def _keep_used_lengths() -> bool:
    from weasyprint.css.properties import Dimension
    from weasyprint.formatting_structure import boxes
    from weasyprint.layout import block, column, inline, percent
    from weasyprint.layout import float as floats

    original: Callable[..., Any] = percent.resolve_percentages
    users = (block, column, floats, inline)
    source = "".join(_source(f) for f in (original, percent.resolve_one_percentage,
                                         percent.percentage, percent.adjust_box_sizing))
    if hashlib.sha256(source.encode()).hexdigest() != USED_LENGTHS_SOURCE or \
            any(getattr(m, "resolve_percentages", None) is not original for m in users) or \
            not _made_page_by_page():
        return False
    kept: dict[tuple[Any, ...], tuple[Any, tuple[Any, ...], dict[str, Any]]] = {}

    def plain(value: Any) -> bool:
        return value is None or type(value) in (str, int, float) or \
            (type(value) is Dimension and type(value.value) in (int, float))

    def resolve_percentages(box: Any, containing_block: Any) -> None:
        style = box.style
        if isinstance(containing_block, boxes.Box):
            size = (containing_block.width, containing_block.height)
        else:
            size = tuple(containing_block)
        key = (id(style), isinstance(box, boxes.PageBox), *size)
        entry = kept.get(key)
        if entry is not None and entry[0] is style and \
                all(style[name] is value
                    for name, value in zip(_LENGTHS_READ, entry[1], strict=True)):
            kept_lengths_count[0] += 1
            box.__dict__.update(entry[2])
            return
        original(box, containing_block)
        read = tuple(style[name] for name in _LENGTHS_READ)
        if style["border_collapse"] != "collapse" and all(plain(v) for v in read) and \
                all(plain(v) for v in size):
            # The style is kept with its answer, so its id names no other style meanwhile.
            kept[key] = (style, read, {name: box.__dict__[name] for name in _LENGTHS_SET})

    for module in users:
        module.resolve_percentages = resolve_percentages
    _forget_at_each_page(lambda context: kept.clear())  # one page's styles at a time
    return True


FLOW_TEST_SOURCE = "be44cfff8dbc90fc67ce46e1e34104076d1c5728242ece26858bc6a674a720cd"
"""SHA-256 of WeasyPrint 70's `Box.is_in_normal_flow` and the five tests it asks."""
_FLOW_TESTS = ("is_in_normal_flow", "is_floated", "is_absolutely_positioned", "is_running",
               "is_footnote", "is_note")
_FLOATED = ("left", "right", "inline-start", "inline-end")


def _lean_flow_test() -> bool:
    from weasyprint.formatting_structure import boxes

    source = "".join(_source(getattr(boxes.Box, name)) for name in _FLOW_TESTS)
    if hashlib.sha256(source.encode()).hexdigest() != FLOW_TEST_SOURCE or \
            any(name in vars(kind) for kind in _subclasses(boxes.Box) for name in _FLOW_TESTS):
        return False

    def is_in_normal_flow(self: Any) -> bool:
        style = self.style
        position, floating = style["position"], style["float"]
        return not (floating in _FLOATED or position in ("absolute", "fixed")
                    or position[0] == "running()" or floating == "footnote"
                    or position[0] == "note()")

    boxes.Box.is_in_normal_flow = is_in_normal_flow
    return True


COMPUTED_STYLES_SOURCE = "0989ac34341fa12037bf57263e760bde071cfcd715c1b899427cacfd0f727f44"
"""SHA-256 of WeasyPrint 70's `StyleFor.set_computed_styles`, `ComputedStyle.__init__` and
`ComputedStyle.__missing__`."""
KEPT_STYLE_CLASSES = 50_000
_OWN_VALUES = frozenset(("position", "float", "display", "anchor"))
"""Worked out for each element itself: the first three note their specified values on the
way, and `anchor` (an element's id) is left out of its class."""
_PLAIN = (str, int, float, bool, type(None))
_style_classes: dict[tuple[Any, ...], _StyleClass] = {}
_warnings_given = [0]


class _StyleClass:
    """The computed values shared by every element whose style comes out the same: the same
    cascaded declarations under a parent of the same class (and, at the root, the same
    font configuration, base URL and page sizes)."""

    __slots__ = ("held", "pending", "values")

    def __init__(self, held: list[Any], pending: list[Any]) -> None:
        self.values: dict[str, Any] = {}
        self.held = held  # the declarations' values, alive while their ids name this class
        self.pending = pending  # those with var(), which warn once if they are invalid


def _keep_computed_styles() -> bool:
    from weasyprint import css
    from weasyprint.css import tokens
    from weasyprint.layout.page import PageType
    from weasyprint.logger import LOGGER

    style_for, computed = css.StyleFor, css.ComputedStyle
    source = "".join(_source(f) for f in (style_for.set_computed_styles, computed.__init__,
                                          computed.__missing__))
    if hashlib.sha256(source.encode()).hexdigest() != COMPUTED_STYLES_SOURCE or \
            computed.__subclasses__() or \
            _source(tokens.Pending.solve).count("self._reported_error") != 2:
        return False
    set_computed_styles, work_out = style_for.set_computed_styles, computed.__missing__

    def classed(self: Any, element: Any, parent: Any, root: Any = None,
                pseudo_type: Any = None, base_url: Any = None,
                target_collector: Any = None) -> None:
        set_computed_styles(self, element, parent, root, pseudo_type, base_url,
                            target_collector)
        if isinstance(element, PageType):
            return
        style = self._computed_styles[element, pseudo_type]
        if parent is None:
            token = self.font_config.__dict__.setdefault("_pamphlet_styles", object())
            parent_class: Any = (token, base_url, repr(self.initial_page_sizes))
        else:
            parent_class = self._computed_styles[parent, None].__dict__.get("_pamphlet_class")
            if parent_class is None:
                return
        declarations = style.cascaded
        key = (parent_class, pseudo_type,
               tuple(sorted((name, _frozen(value), weight)
                            for name, (value, weight) in declarations.items()
                            if name != "anchor")))
        found = _style_classes.get(key)
        if found is None:
            if len(_style_classes) >= KEPT_STYLE_CLASSES:
                _style_classes.clear()
            held = [value for value, _ in declarations.values()]
            found = _style_classes[key] = _StyleClass(
                held, [value for value in held if isinstance(value, tokens.Pending)])
        style._pamphlet_class = found

    def missing(self: Any, key: str) -> Any:
        found = self.__dict__.get("_pamphlet_class")
        if found is None or key in _OWN_VALUES:
            return work_out(self, key)
        values = found.values
        if key in values:
            value = self[key] = values[key]
            return value
        warned = _warnings_given[0]
        value = work_out(self, key)
        # One that warns is worked out (and warns) each time; so is every value of a class
        # with an invalid var(), which warns only the first time it is worked out.
        if warned == _warnings_given[0] and _immutable(value) and \
                not any(pending._reported_error for pending in found.pending):
            values[key] = value
        return value

    LOGGER.addFilter(_count_warning)
    style_for.set_computed_styles = classed
    computed.__missing__ = missing
    return True


def _count_warning(record: logging.LogRecord) -> bool:
    _warnings_given[0] += 1
    return True


def _frozen(value: Any) -> Any:
    """A declaration's value as a key: plain values and tuples by what they hold, anything
    else by its identity (kept alive by the class it names)."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, tuple):
        return (type(value), tuple(_frozen(v) for v in value))
    return ("id", id(value))


def _immutable(value: Any) -> bool:
    """Safe to share between elements and renders: WeasyPrint changes some values in place
    (a colour's alpha), never a string, a number or a tuple of them."""
    if isinstance(value, _PLAIN):
        return True
    return (type(value) is tuple or (isinstance(value, tuple) and hasattr(value, "_fields"))) \
        and all(_immutable(v) for v in value)


def _subclasses(kind: type) -> list[type]:
    return [sub for direct in kind.__subclasses__() for sub in (direct, *_subclasses(direct))]


def _keep_justified() -> bool:
    from weasyprint.layout import inline
    from weasyprint.text import line_break

    original = line_break.create_layout
    if inline.create_layout is not original or not _line_properties or \
            "layout.deactivate()" not in _source(inline.add_word_spacing):
        return False

    class KeptLayout(line_break.Layout):  # type: ignore[misc, name-defined]
        def deactivate(self) -> None:
            if "layout" in self.__dict__:  # a kept one is deactivated again by each user
                super().deactivate()

    def create_layout(text: str, style: Any, context: Any, max_width: float | None,
                      justification_spacing: float) -> Any:
        kept, look = _kept_lines(style, context, "justified")
        key = (text, look, max_width, justification_spacing)
        found = kept.get(key)
        if found is None:
            found = kept[key] = original(text, style, context, max_width,
                                         justification_spacing)
            found.__class__ = KeptLayout
        return found

    inline.create_layout = create_layout
    return True


LINE_DRAWING_SOURCE = "0ddeccad4b39379115ca55bc164ce9526a9ee4a037f5734ee54a66f2473eca70"
"""SHA-256 of WeasyPrint 70's `draw_text`, `draw_first_line` and `Stream.add_font`:
`keep_drawn_lines` writes what they write, for that code only."""
KEPT_DRAWINGS = 20_000
"""Lines whose drawing is kept, per process (about 1 KB each); past this, no more are kept."""
kept_drawings_count = [0, 0]
"""Lines drawn from what was kept, and drawings kept (for tests and the bound above)."""


@dataclass
class _Drawing:
    """How a line was drawn, enough to draw it again without Pango: per run of one font, the
    font (its key in the PDF's fonts), the size, the glyph string, and which glyphs it uses
    with the widths it counted them at."""

    text: str
    spacing: float
    look: tuple[Any, ...]
    groups: list[tuple[int, float, str, Any, Any, dict[int, tuple[str | None, bool]]]]
    """(font key, size, string, glyphs, widths, {glyph new to the PDF's font: (its text if
    the font had none, whether its width was counted here)})."""

    def fits(self, layout: Any, style: Any) -> bool:
        return layout.text == self.text and layout.justification_spacing == self.spacing \
            and tuple(style[name] for name in _line_properties) == self.look

    def ready(self, fonts: dict[int, Any]) -> list[tuple[str, float, str]] | None:
        """The font names, sizes and strings to write, having given the PDF's fonts what
        WeasyPrint would have (texts and widths of glyphs new to them); None where a font
        is not in the PDF yet or a width differs from the one the string was made with."""
        shown = []
        for key, size, string, glyphs, widths, new in self.groups:
            font = fonts.get(key)
            if font is None:
                return None
            to_unicode, known_widths = font.to_unicode, font.widths
            for glyph, width in zip(glyphs, widths, strict=True):
                text, counted = new.get(glyph, (None, False))
                if glyph not in to_unicode:
                    if text is None:
                        return None
                    to_unicode[glyph] = text
                known = known_widths.get(glyph)
                if known is None and counted:
                    known_widths[glyph] = known = width
                if known != width:
                    return None
            shown.append((font.hash, size, string))
        return shown


def _keep_drawn_lines() -> bool:
    from array import array

    from weasyprint import draw
    from weasyprint.draw import text
    from weasyprint.matrix import Matrix
    from weasyprint.pdf.stream import Stream
    from weasyprint.text.ffi import FROM_UNITS, ffi, pango
    from weasyprint.text.fonts import get_pango_font_key

    draw_text, draw_first_line = text.draw_text, text.draw_first_line
    source = "".join(_source(f) for f in (draw_text, draw_first_line, Stream.add_font))
    if hashlib.sha256(source.encode()).hexdigest() != LINE_DRAWING_SOURCE or \
            not _line_properties or draw.draw_text is not draw_text or \
            (ffi.sizeof("PangoGlyphInfo"), ffi.offsetof("PangoGlyphInfo", "geometry"),
             ffi.sizeof("PangoGlyphGeometry"), ffi.sizeof("gint")) != (20, 4, 12, 4):
        return False
    old_pango = pango.pango_version() < 14802
    empty, unknown = pango.PANGO_GLYPH_EMPTY, pango.PANGO_GLYPH_UNKNOWN_FLAG

    def runs_of(stream: Any, first_line: Any) -> list[tuple[Any, ...]] | None:
        """Each glyph run of the line as plain numbers with its font, or None where the line
        needs WeasyPrint's own loop (a raised or missing glyph, a colour or bitmap font)."""
        runs: list[tuple[Any, ...]] = []
        run = first_line.runs[0]
        while run != ffi.NULL:
            item, glyphs = run.data.item, run.data.glyphs
            run = run.next
            count = glyphs.num_glyphs
            info = memoryview(ffi.buffer(glyphs.glyphs, 20 * count)).cast("i")
            ids = info[0::5].tolist()
            if any(info[3::5]) or any(glyph & unknown for glyph in ids):
                return None
            pango_font = item.analysis.font
            if not runs or pango_font != runs[-1][0]:
                font, font_size = stream.add_font(pango_font)
            if font.png or font.svg or font.colr or font.bitmap:
                return None
            clusters = memoryview(ffi.buffer(glyphs.log_clusters, 4 * count)).cast("i")
            runs.append((pango_font, font, font_size, ids, info[1::5].tolist(),
                         info[2::5].tolist(), clusters.tolist(), item.offset, item.length,
                         item.analysis.level % 2))
        return runs

    def quick_first_line(stream: Any, textbox: Any, text_overflow: str, block_ellipsis: Any,
                         matrix: Any) -> list[Any]:
        """WeasyPrint's `draw_first_line` for a line of plain glyphs, noting how it drew
        the line the second time its (kept) layout is drawn."""
        style, layout = textbox.style, textbox.pango_layout
        if text_overflow == "ellipsis" or block_ellipsis != "none" or \
                not textbox.text.strip() or style["font_size"] < 1e-6:
            return draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix)
        pango.pango_layout_set_single_paragraph_mode(layout.layout, True)
        first_line, _ = layout.get_first_line()
        runs = runs_of(stream, first_line)
        if runs is None:
            return draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix)
        note = "_pamphlet_drawing" in layout.__dict__ and \
            kept_drawings_count[1] < KEPT_DRAWINGS
        layout._pamphlet_drawing = None  # drawn once: the next drawing is noted
        stream.set_text_matrix(*matrix.values)
        groups: list[tuple[Any, ...]] = []
        previous = None
        string = ""
        utf8 = b""
        for pango_font, font, font_size, ids, widths, x_offsets, clusters, start, length, \
                right_to_left in runs:
            if old_pango:
                font_size = style["font_size"]
            if pango_font != previous:
                previous = pango_font
                if string:
                    stream.show_text(string)
                    groups[-1][2] = string
                string = ""
                stream.set_font_size(font.hash, font_size)
                groups.append([pango_font, font_size, "", {}, {}])
            used, new = groups[-1][3], groups[-1][4]
            to_unicode, known_widths = font.to_unicode, font.widths
            last = len(ids) - 1
            parts = ["<"]
            for i, glyph_id in enumerate(ids):
                width = widths[i]
                if glyph_id == empty:
                    parts.append(f">{-width / font_size}<")
                    continue
                glyph_text = None
                if glyph_id not in to_unicode:
                    if right_to_left:
                        end = length if i == 0 else clusters[i - 1]
                    else:
                        end = length if i == last else clusters[i + 1]
                    utf8 = utf8 or layout.text.encode()
                    glyph_text = to_unicode[glyph_id] = \
                        utf8[start + clusters[i]:start + end].decode()
                offset = x_offsets[i] / font_size
                if offset:
                    parts.append(f">{-offset}<")
                parts.append(f"{glyph_id:04x}")
                logical_width = known_widths.get(glyph_id)
                counted = logical_width is None
                if counted:
                    pango.pango_font_get_glyph_extents(
                        pango_font, glyph_id, stream.ink_rect, stream.logical_rect)
                    logical_width = known_widths[glyph_id] = round(
                        stream.logical_rect.width * 1000 * FROM_UNITS / font_size)
                if note and glyph_id not in used:
                    used[glyph_id] = logical_width
                    if glyph_text is not None or counted:
                        new[glyph_id] = (glyph_text, counted)
                kerning = logical_width + offset - width * 1000 * FROM_UNITS / font_size
                if kerning:
                    parts.append(f">{int(kerning)}<")
            string += "".join(parts)
            string = string[:-1] if string[-1] == "<" else string + ">"
        stream.show_text(string)
        if note:
            groups[-1][2] = string
            kept_drawings_count[1] += 1
            layout._pamphlet_drawing = _Drawing(
                layout.text, layout.justification_spacing,
                tuple(style[name] for name in _line_properties),
                [(get_pango_font_key(pango_font)[0], size, shown, array("I", used),
                  array("i", used.values()), new)
                 for pango_font, size, shown, used, new in groups])
        return []

    def kept_draw_text(stream: Any, textbox: Any, offset_x: float, text_overflow: str,
                       block_ellipsis: Any) -> None:
        drawing = textbox.pango_layout.__dict__.get("_pamphlet_drawing")
        style = textbox.style
        if drawing is not None and text_overflow != "ellipsis" and block_ellipsis == "none" \
                and style["visibility"] == "visible" and \
                style["text_decoration_line"] == "none" and textbox.text.strip() and \
                drawing.fits(textbox.pango_layout, style):
            shown = drawing.ready(stream._fonts)
            if shown is not None:
                kept_drawings_count[0] += 1
                stream.set_color(style["color"])
                stream.begin_text()
                stream.set_text_matrix(*Matrix(
                    d=-1, e=textbox.position_x, f=textbox.position_y + textbox.baseline).values)
                for name, size, string in shown:
                    stream.set_font_size(name, size)
                    stream.show_text(string)
                stream.end_text()
                return
        draw_text(stream, textbox, offset_x, text_overflow, block_ellipsis)

    text.draw_first_line = quick_first_line
    draw.draw_text = kept_draw_text  # the name draw_inline_level calls it by
    return True


RUNNING_CHECK = "if previous_runnings is None or len(previous_runnings) > len(runnings):"


def _no_remake_for_running() -> bool:
    from weasyprint.layout import page

    source = _source(page.make_page)
    if source.count(RUNNING_CHECK) != 1:
        return False
    notes_only = ("if any(box.is_note() for box in runnings) and (\n"
                  "        previous_runnings is None or len(previous_runnings) > len(runnings)):")
    source = source.replace(RUNNING_CHECK, notes_only)
    # Compiled in WeasyPrint's own module, so it sees the same names as the original.
    exec(compile(source, page.__file__, "exec"), page.__dict__)
    return True


KEPT_PICTURE_BYTES = 16 * 1024 * 1024
"""Pictures as re-encoded for the PDF, kept per process (the oldest go first)."""
_pictures: OrderedDict[tuple[Any, ...], tuple[dict[str, Any], bytes]] = OrderedDict()
_PICTURE_PER_RENDER = ("id", "_cache", "image_data")


def _keep_pictures() -> bool:
    from weasyprint import images

    original = images.RasterImage.__init__
    source = _source(original)
    if "pillow_image.save(image_file, **options)" not in source or \
            "self.image_data = self.cache_image_data(image_data, filename)" not in source or \
            "class LazyImage" not in _source(images) or \
            "thumbnail.thumbnail((width, height))" not in \
            _source(images.RasterImage.get_x_object):
        return False

    def __init__(self: Any, pillow_image: Any, image_id: str, image_data: Any,
                 filename: Any = None, cache: Any = None, orientation: str = "none",
                 options: Any = None) -> None:
        options = images.DEFAULT_OPTIONS if options is None else options
        if not isinstance(image_data, bytes):
            original(self, pillow_image, image_id, image_data, filename, cache, orientation,
                     options)
            return
        key = (hashlib.sha256(image_data).digest(), str(orientation), options["jpeg_quality"],
               options["optimize_images"], options["dpi"])
        found = _pictures.get(key)
        if found is None:
            original(self, pillow_image, image_id, image_data, filename, cache, orientation,
                     options)
            if isinstance(self.image_data, images.LazyImage):  # re-encoded: worth keeping
                _keep_picture(key, {name: value for name, value in vars(self).items()
                                    if name not in _PICTURE_PER_RENDER}, self.image_data.data)
            return
        _pictures.move_to_end(key)
        made, data = found
        vars(self).update(made)
        self.id = image_id
        self._cache = {} if cache is None else cache
        self.image_data = self.cache_image_data(data)

    images.RasterImage.__init__ = __init__
    images.RasterImage.get_x_object = _kept_thumbnails(images)
    return True


def _kept_thumbnails(images: Any) -> Callable[..., Any]:
    """A picture printed finer than the target's `dpi` is scaled down and encoded again as
    each render writes it: kept the same way, and given to WeasyPrint's own code as if it
    were the picture at that size."""
    original = images.RasterImage.get_x_object

    def get_x_object(self: Any, interpolate: bool, dpi_ratio: float) -> Any:
        if dpi_ratio == 1 or not isinstance(self.image_data, images.LazyImage):
            return original(self, interpolate, dpi_ratio)
        key = ("thumbnail", hashlib.sha256(self.image_data.data).digest(), self.width,
               self.height, dpi_ratio, self.optimize, self.format)
        found = _pictures.get(key)
        if found is None:
            made = original(self, interpolate, dpi_ratio)
            _keep_picture(key, {"width": made.extra["Width"], "height": made.extra["Height"]},
                          self.image_data.data)
            return made
        _pictures.move_to_end(key)
        size, data = found
        self.image_data = self.cache_image_data(data)
        full = self.width, self.height
        self.width, self.height = size["width"], size["height"]
        try:
            return original(self, interpolate, 1)
        finally:
            self.width, self.height = full

    return get_x_object


def _keep_picture(key: tuple[Any, ...], made: dict[str, Any], data: bytes) -> None:
    _pictures[key] = (made, data)
    while sum(len(kept) for _, kept in _pictures.values()) > KEPT_PICTURE_BYTES:
        _pictures.popitem(last=False)


PARSED_PATTERNS = Path(__file__).parent / "hyphenation"
"""Hyphenation dictionaries as pyphen parses them, one JSON file per dictionary, made by
`write_parsed_patterns`."""
PATTERNS_SAMPLE = "self.patterns[''.join(tags)] = start, values[start:end]"


def _patterns_parsed_once() -> bool:
    import pyphen

    original = pyphen.HyphDict.__init__
    source = _source(original)
    if PATTERNS_SAMPLE not in source or "self.cache = {}" not in source:
        return False
    parser = _parser_digest(pyphen)

    @functools.wraps(original)
    def __init__(self: Any, path: Any) -> None:
        parsed = _parsed_patterns(Path(path), parser)
        if parsed is None:
            original(self, path)
            return
        self.patterns, self.maxlen = parsed
        self.cache = {}

    pyphen.HyphDict.__init__ = __init__
    return True


def _parser_digest(pyphen: types.ModuleType) -> str:
    """Names pyphen's parsing code: its whole module (the parse goes through its helpers)."""
    return hashlib.sha256("".join(linecache.getlines(pyphen.__file__)).encode()).hexdigest()


def _parsed_patterns(path: Path, parser: str, folder: Path | None = None
                     ) -> tuple[dict[str, tuple[int, tuple[int, ...]]], int] | None:
    """The patterns and longest pattern of the dictionary at `path` as kept in `folder`, if
    they were made from a file with its very bytes by the same parsing code; else None."""
    kept = (folder or PARSED_PATTERNS) / f"{path.name}.json"
    try:
        data = json.loads(kept.read_text(encoding="utf-8"))
        if data["source"] != hashlib.sha256(path.read_bytes()).hexdigest() or \
                data["parser"] != parser:
            return None
        return {tag: (start, tuple(values)) for tag, (start, values)
                in data["patterns"].items()}, data["maxlen"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_parsed_patterns(language: str, folder: Path | None = None) -> Path:
    """Keep pyphen's own parse of the dictionary for `language` where `_patterns_parsed_once`
    finds it (`python -c "from pamphlet.shortcuts import write_parsed_patterns;
    write_parsed_patterns('en_US')"` after a pyphen upgrade). A dictionary with nonstandard
    hyphenation (its values carry data) is not kept: JSON would lose the data."""
    import pyphen

    path = pyphen.LANGUAGES[language]
    original = inspect.unwrap(pyphen.HyphDict.__init__)
    parsed = pyphen.HyphDict.__new__(pyphen.HyphDict)
    original(parsed, path)
    if any(isinstance(v, pyphen.DataInt) for _, values in parsed.patterns.values()
           for v in values):
        raise ValueError(f"{path.name} has nonstandard hyphenation")
    data = {"source": hashlib.sha256(path.read_bytes()).hexdigest(),
            "parser": _parser_digest(pyphen),
            "maxlen": parsed.maxlen, "patterns": parsed.patterns}
    kept = (folder or PARSED_PATTERNS) / f"{path.name}.json"
    kept.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    return kept


KEPT_HEADS = 2
"""Font configurations kept per process: the issue being edited and one more."""
_font_configs: OrderedDict[tuple[int, str], Any] = OrderedDict()
_ACCUMULATORS = ("page_rules", "layers", "counter_style", "color_profiles")


@dataclass
class _Parsed:
    """One stylesheet as parsed for a font configuration, and what parsing it did."""

    sheet: Any
    page_rules: list[Any]
    counter_styles: dict[str, Any]
    colour_profiles: dict[str, Any]
    logged: list[logging.LogRecord]
    pending: list[Any]


_parsed: weakref.WeakKeyDictionary[Any, dict[Any, _Parsed]] = weakref.WeakKeyDictionary()


def font_config_for(html: str, base_url: str) -> Any:
    """A font configuration for rendering `html`: with `keep_stylesheets`, the one kept for
    this document's head, whose stylesheets are parsed already; otherwise a new one."""
    from weasyprint.text.fonts import FontConfiguration

    if not _installed.get("keep_stylesheets"):
        return FontConfiguration()
    head = html[:html.find("<body")]
    digest = hashlib.sha256(f"{base_url}\0{head}".encode("utf-8", "surrogatepass"))
    for url, path in referenced_files(head, base_url):
        try:
            found = path.stat()
            digest.update(f"\0{url} {found.st_size} {found.st_mtime_ns}".encode())
        except OSError:
            digest.update(f"\0{url} missing".encode())
    key = (os.getpid(), digest.hexdigest())
    if key in _font_configs:
        _font_configs.move_to_end(key)
        return _font_configs[key]
    if not _font_configs:
        atexit.register(forget_font_configs)  # while rmtree is still there to call
    font_config = _font_configs[key] = FontConfiguration()
    mine = [k for k in _font_configs if k[0] == key[0]]
    for old in mine[:-KEPT_HEADS]:
        _let_go(old)
    return font_config


def forget_font_configs() -> None:
    """Let this process's kept font configurations go; a forked child calls this before it
    exits without Python's clean-up."""
    for key in [k for k in _font_configs if k[0] == os.getpid()]:
        _let_go(key)


def _let_go(key: tuple[int, str]) -> None:
    """Drop a kept font configuration and remove its temporary font folder here, not in its
    `__del__`: a laid-out document's reference cycles may still hold it, and a forked child
    leaves without collecting them."""
    folder = getattr(_font_configs.pop(key), "_folder", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def _keep_stylesheets() -> bool:
    from weasyprint import css as cascade
    from weasyprint.css import tokens
    from weasyprint.logger import LOGGER

    original = cascade.CSS
    parameters = inspect.signature(original.__init__).parameters
    if not {"font_config", "matcher", "layer", *_ACCUMULATORS} <= set(parameters) or \
            _source(cascade.find_stylesheets).count("CSS(") != 2 or \
            _source(tokens.Pending.solve).count("self._reported_error") != 2:
        return False
    # A value with var() (a Pending) warns once that it is invalid, the first time it is
    # worked out, and then remembers that it did: each one a kept sheet holds is told to
    # forget, so that every render warns as a freshly parsed sheet would.
    made: list[list[Any]] = []
    pending_init = tokens.Pending.__init__

    def noted(self: Any, *args: Any, **kwargs: Any) -> None:
        pending_init(self, *args, **kwargs)
        if made:
            made[-1].append(self)

    tokens.Pending.__init__ = noted

    def stylesheet(*args: Any, **kwargs: Any) -> Any:
        font_config = kwargs.get("font_config")
        accumulators = [kwargs.get(name) for name in _ACCUMULATORS]
        # An @import (matcher given) adds to its parent's matcher: only whole sheets are kept.
        if args or font_config is None or any(a is None for a in accumulators) or \
                kwargs.get("matcher") is not None or kwargs.get("layer") is not None:
            return original(*args, **kwargs)
        page_rules, layers, counter_style, colour_profiles = accumulators
        try:
            key = tuple(sorted((name, value) for name, value in kwargs.items()
                               if name not in ("font_config", "url_fetcher", *_ACCUMULATORS)))
            kept = _parsed.setdefault(font_config, {})
            found = kept.get(key)
        except TypeError:  # an unhashable argument: not one of find_stylesheets' own calls
            return original(*args, **kwargs)
        if found is None:
            rules, before = len(page_rules), len(layers)
            styles, profiles = dict(counter_style), dict(colour_profiles)
            logged: list[logging.LogRecord] = []
            catcher = _Catch(logged)
            LOGGER.addHandler(catcher)
            made.append([])
            try:
                sheet = original(**kwargs)
            finally:
                LOGGER.removeHandler(catcher)
                pending = made.pop()
            if len(layers) != before:  # cascade layers are counted by position: not kept
                return sheet
            kept[key] = _Parsed(sheet, page_rules[rules:],
                                _added(styles, counter_style), _added(profiles, colour_profiles),
                                logged, pending)
            return sheet
        for value in found.pending:
            value._reported_error = False
        page_rules.extend(found.page_rules)
        counter_style.update(found.counter_styles)
        colour_profiles.update(found.colour_profiles)
        for record in found.logged:
            LOGGER.handle(record)
        sheet = object.__new__(type(found.sheet))
        sheet.__dict__.update(found.sheet.__dict__)
        # A sheet's page rules and layers are the lists of the document it was parsed for.
        sheet.page_rules, sheet.layers = page_rules, layers
        return sheet

    cascade.CSS = stylesheet
    return True


def _added(before: dict[Any, Any], after: dict[Any, Any]) -> dict[Any, Any]:
    return {key: value for key, value in after.items()
            if key not in before or before[key] is not value}


class _Catch(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
