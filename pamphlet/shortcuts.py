"""Four shortcuts in WeasyPrint 70's layout that give the same pages with less work.

A balanced 5-column newspaper page is laid out several times over: once per balancing step,
once more for the result, and the whole page again on the second pagination pass. Each
shortcut removes repeated work whose result WeasyPrint then throws away:

* `lean_next_box`: to find how much height the next piece of a column needs, the balancing
  loop lays out *everything* left in the column set at infinite height and reads the height
  of the first block only. At infinite height nothing breaks, so laying out just that block
  (and any floats before it) gives the same height.
* `keep_lines`: each balancing step breaks the same paragraphs into lines again at the same
  width. Pango's answer for one line (text, style, width) is kept for the rest of the render.
  The layouts it returns are already inert (WeasyPrint drops their Pango objects before it
  returns them and rebuilds them to draw), so sharing one is safe.
* `keep_justified`: each justified line gets a second Pango layout, with the word spacing,
  for drawing; it too is made again on every step. It is kept like the lines (one per text,
  style and spacing); the one kept is never drawn from two places at once.
* `no_remake_for_running`: a page on which a running element (`position: running()`) first
  appears is laid out again on a second pass. That pass exists for `position: note()`
  notes, which change the page's own content; plain running elements only fill margin
  boxes, which are made after pagination. The newspaper's running heads made every page
  twice as slow.

tests/test_shortcuts.py lays out every sample with and without them and compares each page's
pixels and words (the bench's 16-page newspaper was compared the same way by hand). Each
shortcut checks the code it changes and
steps aside (leaving WeasyPrint as it is) if that code is not what it expects, as after an
upgrade. PAMPHLET_SHORTCUTS=0 turns them all off.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from math import inf
from typing import Any

WEASYPRINT_MAJOR = "70"
_installed: dict[str, bool] = {}


def wanted() -> bool:
    return os.environ.get("PAMPHLET_SHORTCUTS", "1").strip().lower() not in ("0", "no", "off",
                                                                            "false")


def install() -> dict[str, bool]:
    """Install each shortcut that fits this WeasyPrint (once per process); which ones did."""
    if _installed or not wanted():
        return dict(_installed)
    import weasyprint

    fits = weasyprint.__version__.split(".")[0] == WEASYPRINT_MAJOR
    for name, shortcut in (("lean_next_box", _lean_next_box), ("keep_lines", _keep_lines),
                           ("keep_justified", _keep_justified),
                           ("no_remake_for_running", _no_remake_for_running)):
        _installed[name] = fits and shortcut()
    return dict(_installed)


def installed() -> dict[str, bool]:
    return dict(_installed)


def _lean_next_box() -> bool:
    from weasyprint.layout import block, column

    if "block_box_layout(\n                            context, column_box, inf, column_skip_stack," \
            not in inspect.getsource(column.columns_layout):
        return False
    original: Callable[..., Any] = block.block_box_layout

    def block_box_layout(context: Any, box: Any, bottom_space: float, skip_stack: Any,
                         *args: Any, **kwargs: Any) -> Any:
        if bottom_space == inf and skip_stack and getattr(box, "is_column", False):
            box = _up_to_first_in_flow(box, skip_stack)
        return original(context, box, bottom_space, skip_stack, *args, **kwargs)

    block.block_box_layout = block_box_layout
    return True


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
    from weasyprint.text import line_break

    original = line_break.split_first_line
    if inline.split_first_line is not original or \
            "first_line_metrics(" not in inspect.getsource(original) or \
            "layout.deactivate()" not in inspect.getsource(line_break.first_line_metrics):
        return False

    def split_first_line(text: str, style: Any, context: Any, max_width: float | None,
                         justification_spacing: float, is_line_start: bool = True,
                         minimum: bool = False) -> Any:
        kept = context.__dict__.setdefault("_pamphlet_lines", {})
        key = (text, id(style), max_width, justification_spacing, is_line_start, minimum)
        found = kept.get(key)
        if found is not None and found[0] is style:  # the style is kept alive: ids stay unique
            return found[1]
        result = original(text, style, context, max_width, justification_spacing,
                          is_line_start, minimum)
        kept[key] = (style, result)
        return result

    inline.split_first_line = split_first_line
    return True


def _keep_justified() -> bool:
    from weasyprint.layout import inline
    from weasyprint.text import line_break

    original = line_break.create_layout
    if inline.create_layout is not original or \
            "layout.deactivate()" not in inspect.getsource(inline.add_word_spacing):
        return False

    class KeptLayout(line_break.Layout):  # type: ignore[misc, name-defined]
        def deactivate(self) -> None:
            if "layout" in self.__dict__:  # a kept one is deactivated again by each user
                super().deactivate()

    def create_layout(text: str, style: Any, context: Any, max_width: float | None,
                      justification_spacing: float) -> Any:
        kept = context.__dict__.setdefault("_pamphlet_justified", {})
        key = (text, id(style), max_width, justification_spacing)
        found = kept.get(key)
        if found is not None and found[0] is style:
            return found[1]
        layout = original(text, style, context, max_width, justification_spacing)
        layout.__class__ = KeptLayout
        kept[key] = (style, layout)
        return layout

    inline.create_layout = create_layout
    return True


RUNNING_CHECK = "if previous_runnings is None or len(previous_runnings) > len(runnings):"


def _no_remake_for_running() -> bool:
    from weasyprint.layout import page

    source = inspect.getsource(page.make_page)
    if source.count(RUNNING_CHECK) != 1:
        return False
    notes_only = ("if any(box.is_note() for box in runnings) and (\n"
                  "        previous_runnings is None or len(previous_runnings) > len(runnings)):")
    source = source.replace(RUNNING_CHECK, notes_only)
    # Compiled in WeasyPrint's own module, so it sees the same names as the original.
    exec(compile(source, page.__file__, "exec"), page.__dict__)
    return True
