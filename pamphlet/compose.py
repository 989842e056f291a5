"""Stage 3: the issue, its articles and a layout's templates become one HTML document."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from markupsafe import Markup

from . import __version__
from .errors import PamphletError, Problem
from .fonts import find_fonts, font_face_css
from .layouts import Layout, template_environment
from .markup import render_inline, render_markdown
from .model import Article, Issue
from .targets import Target, colour_profile_css, target_stylesheets

POSITIONED = ("front", "page", "centre", "back")


@dataclass
class Section:
    """A run of articles that starts where the first one is placed (front, page N, centre,
    back); the articles after it that are placed the same way, or not at all, join it."""

    kind: str
    page: int | None
    articles: list[Article] = field(default_factory=list)

    @property
    def label(self) -> str:
        return next((a.section for a in self.articles if a.section), "")


def group_sections(articles: list[Article]) -> list[Section]:
    sections: list[Section] = []
    for article in articles:
        place = article.place
        same_run = sections and (sections[-1].kind, sections[-1].page) == (place.kind, place.page)
        if not sections or (place.kind in POSITIONED and not same_run):
            kind = place.kind if place.kind in POSITIONED else "flow"
            sections.append(Section(kind, place.page))
        sections[-1].articles.append(article)
    if sections and not any(s.kind == "front" for s in sections) and sections[0].kind == "flow":
        sections[0].kind = "front"
    return sections


def front_articles(articles: list[Article]) -> list[Article]:
    """The articles placed on the front (the first article when none is)."""
    front = [a for a in articles if a.place.kind == "front"]
    return front or articles[:1]


def compose(issue: Issue, articles: list[Article], layout: Layout, padding: int = 0,
            target: Target | None = None) -> str:
    """Render the layout's main template; `padding` blank pages go before the back page;
    the target's stylesheets come after the layout's."""
    env = template_environment(layout, issue.root)
    env.filters["markdown"] = lambda text: Markup(render_markdown(text or "").html)
    env.filters["inline"] = lambda text: Markup(render_inline(text or ""))
    sections = group_sections(articles)
    context = {
        "issue": issue,
        "articles": articles,
        "sections": sections,
        "front": front_articles(articles),
        "teasers": [a for a in articles if a.teaser and a.place.kind != "front"],
        "layout": layout,
        "settings": layout.settings,
        "padding": padding,
        "branch_contact": issue.branch_contact,
        "fonts_css": Markup(font_face_css(find_fonts(issue.root))
                            + (colour_profile_css(target, layout) if target else "")),
        "stylesheets": [p.as_uri() for p in layout.stylesheets()
                        + (target_stylesheets(target, layout) if target else [])],
        "target": target.name if target else "",
        "generator": f"pamphlet {__version__}",
    }
    try:
        template = env.get_template(layout.template)
        return template.render(context)
    except jinja2.TemplateSyntaxError as error:
        raise PamphletError([Problem(_template_path(error.filename, error.name), error.lineno,
                                     f"template error: {error.message}")]) from None
    except jinja2.UndefinedError as error:
        file, line = _template_frame(error)
        raise PamphletError([Problem(file, line, f"template error: {error.message}",
                                     "check the spelling of the variable in the template")]) from None
    except jinja2.TemplateNotFound as error:
        raise PamphletError([Problem(layout.folder, None, f"template not found: {error.name}")]) from None


def _template_path(filename: str | None, name: str | None) -> Path | None:
    return Path(filename) if filename else (Path(name) if name else None)


def _template_frame(error: Exception) -> tuple[Path | None, int | None]:
    """The innermost template file and line in the traceback of a rendering error."""
    tb = error.__traceback__
    found: tuple[Path | None, int | None] = (None, None)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith((".html", ".j2", ".jinja")):
            found = (Path(filename), tb.tb_lineno)
        tb = tb.tb_next
    return found
