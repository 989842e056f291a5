"""The `pamphlet` command: a thin layer over the library that turns errors into plain lines.

The modules of the commands that do not build (page images, sending, the live preview) are
imported by those commands: a build, the command run most, does not wait for them."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import __version__
from .build import BuildResult, build_many, build_targets, check_targets
from .build import build as build_issue
from .checks import page_count
from .errors import PamphletError, Problem, display_path
from .impose import PAPER, booklet_order, creep_shifts, impose, proof_order, two_up_order
from .isolation import Limits
from .layouts import available_layouts, copy_layout, find_layout
from .output import write_atomically
from .publication import find_root, resolve_manifest, root_of_manifest
from .resources import builtin_dir
from .workspace import built_pdf, init_publication, issue_manifests, list_issues, new_issue, pdf_state

if TYPE_CHECKING:
    from .serve import BuildState

app = typer.Typer(help="Turn an issue manifest and Markdown articles into print-ready PDFs.",
                  no_args_is_help=True, add_completion=True, pretty_exceptions_enable=False)

state = {"debug": False, "quiet": False, "verbose": False}

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only problems.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Say what each step does.")]


def say(message: str) -> None:
    if not state["quiet"]:
        typer.echo(message)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pamphlet {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of "
                                        "unexpected errors.")] = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and stop.")] = False,
) -> None:
    state.update(debug=debug, quiet=quiet, verbose=verbose)


@app.command()
def build(
    issue: Annotated[str | None, typer.Argument(help="An issue name such as issue-42 (found in "
                                                "issues/), or the path to a manifest .yaml "
                                                "file.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Build every issue in issues/, several "
                                        "at once (one per core).")] = False,
    target: Annotated[list[str] | None, typer.Option("--target", "-t", help="What the PDF is "
                                                     "for: office, printshop, email or archive; "
                                                     "repeat for several (default: the manifest's "
                                                     "'targets', else the layout's).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Where to write the PDF "
                                             "(default: build/NAME.TARGET.pdf).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors: "
                                         "write nothing if any.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Stop a layout that takes "
                                           "longer than this many seconds.")] = 300,
    memory: Annotated[int, typer.Option("--memory", min=64, help="Stop a layout that needs "
                                        "more than this many MB of memory.")] = 4096,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Build an issue: one PDF per target (and its composed HTML page) in build/, each
    checked before it is written."""
    state["quiet"] = state["quiet"] or quiet
    state["verbose"] = state["verbose"] or verbose

    if every or issue is None:
        build_every_issue(issue, every, target, out, strict, Limits(timeout, memory))
        return
    with reported_errors(), StatusLine() as progress:
        results = build_targets(resolve_manifest(issue, Path.cwd()), target or None, out=out,
                                strict=strict, progress=progress, limits=Limits(timeout, memory))
    for result in results:
        report_build(result)


def build_every_issue(issue: str | None, every: bool, target: list[str] | None,
                      out: Path | None, strict: bool, limits: Limits) -> None:
    with reported_errors(after=""):
        if not every or issue is not None or out is not None:
            raise PamphletError([Problem(None, None, "give one issue to build, or --all "
                                         "(without an issue name or --out)",
                                         "e.g. pamphlet build issue-42")])
        manifests = issue_manifests(publication_root())
        if not manifests:
            raise PamphletError([Problem(None, None, "there are no issues in issues/",
                                         "start one with 'pamphlet new'")])
        outcomes = build_many(manifests, target or None, strict, limits)
    for outcome in outcomes:
        for result in outcome.results:
            report_build(result)
        for problem in outcome.problems:
            typer.echo(f"error: {problem}", err=True)
    failed = [o.manifest.stem for o in outcomes if o.problems]
    say(f"{len(outcomes) - len(failed)} of {len(outcomes)} issues built"
        + (f"; not built: {', '.join(failed)}" if failed else ""))
    if failed:
        raise typer.Exit(1)


@app.command()
def check(
    issue: Annotated[str, typer.Argument(help="An issue name, or the path to a manifest.")],
    target: Annotated[list[str] | None, typer.Option("--target", "-t", help="Check the PDF for "
                                                     "this target (repeatable; default: what "
                                                     "build makes).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
) -> None:
    """Preflight: lay the issue out and report, in plain words, whatever would spoil the print
    run (exit status 1) or just look wrong. Writes nothing."""
    with reported_errors(after=""), StatusLine() as progress:
        results = check_targets(resolve_manifest(issue, Path.cwd()), target or None,
                                progress=progress)
    failed = False
    for result in results:
        typer.echo(f"{result.target}: {result.pages} pages, {result.size / 1024:.0f} KB")
        for finding in result.findings:
            typer.echo(f"  {'ERROR' if finding.fatal else 'warning'}: {finding}")
        if not result.findings:
            typer.echo("  no problems found")
        failed = failed or bool(result.fatal) or (strict and bool(result.findings))
    if failed:
        typer.echo("Fix the errors above before printing; 'pamphlet build' will not write a PDF "
                   "that has them.", err=True)
        raise typer.Exit(1)


def report_build(result: BuildResult) -> None:
    """One line per PDF written, its warnings before it."""
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    say(f"{display_path(result.pdf)}: {result.pages} pages, {result.size / 1024:.0f} KB, "
        f"{result.seconds:.1f} s" + (f", {len(result.warnings)} warning(s)" if result.warnings
                                     else ", checked: no problems"))


def publication_root() -> Path:
    """The publication folder for commands that work on one (see publication.find_root)."""
    root = find_root(Path.cwd())
    if root is None:
        raise PamphletError([Problem(None, None, "no issues/ folder here or in any folder above",
                                     "run pamphlet inside your publication folder, or make one "
                                     "with 'pamphlet init'")])
    return root


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="Where to make the publication "
                                           "(default: here).")] = Path("."),
) -> None:
    """Start a new publication folder with a sample issue that builds straight away."""
    with reported_errors(after=""):
        written = init_publication(folder)
    say(f"{display_path(folder.resolve())}: {len(written)} files written. Next: "
        f"{'cd ' + str(folder) + ' && ' if str(folder) != '.' else ''}pamphlet build first-issue")


@app.command()
def new(
    name: Annotated[str, typer.Argument(help="The new issue's name, e.g. issue-43.")],
    source: Annotated[str | None, typer.Option("--from", help="The issue to start from "
                                               "(default: the latest by date).")] = None,
) -> None:
    """Start the next issue from the last one, with empty articles to write."""
    with reported_errors(after="Nothing was written."):
        written = new_issue(publication_root(), name, source)
    say(f"{display_path(written[0])}: new issue with {len(written) - 1} empty article file(s)")
    for path in written[1:]:
        say(f"  {display_path(path)}")


def up_to_date_pdf(issue: str, progress: StatusLine, target: str | None = None) -> tuple[Path, Path, Path]:
    """(manifest, publication folder, PDF) of an issue for `target` (default: its newest
    PDF, or the main target), built first if missing or older than its sources."""
    manifest = resolve_manifest(issue, Path.cwd())
    root = root_of_manifest(manifest)
    pdf = built_pdf(root, manifest.stem, target)
    if pdf is None or pdf_state(manifest, root, target) != "current":
        result = build_issue(manifest, progress=progress, target=target)
        for warning in result.warnings:
            typer.echo(f"warning: {warning}", err=True)
        pdf = result.pdf
    return manifest, root, pdf


@app.command("impose")
def impose_command(
    issue: Annotated[str, typer.Argument(help="An issue name, or the path to a manifest.")],
    kind: Annotated[str, typer.Option("--as", help="booklet (saddle-stitch, short-edge duplex), "
                                      "2up (two copies a side, cut in half) or proof (each page "
                                      "scaled onto its own sheet).")] = "booklet",
    signature: Annotated[int | None, typer.Option("--signature", help="Booklet signatures of "
                                                  "this many pages (8 or 16).")] = None,
    creep: Annotated[float, typer.Option("--creep", min=0, max=5, help="Booklet: move the "
                                         "innermost sheet's pages this many mm toward the "
                                         "spine (about 0.1 mm per sheet of 80 g paper).")] = 0,
    paper: Annotated[str, typer.Option("--paper", help="Proof: a4 or a3 sheets.")] = "a4",
) -> None:
    """The office PDF's pages on sheets for an office printer: a booklet, two-up, or a proof
    of big pages on A4 or A3."""
    with reported_errors(after=""), StatusLine() as progress:
        if kind not in ("booklet", "2up", "proof") or paper not in PAPER:
            raise PamphletError([Problem(None, None, f"'--as {kind} --paper {paper}' is not a way "
                                         "pamphlet imposes", "use --as booklet, 2up or proof, "
                                         "and --paper a4 or a3")])
        _, _, pdf = up_to_date_pdf(issue, progress, target="office")
        pages = page_count(pdf.read_bytes())
        try:
            sides = (booklet_order(pages, signature) if kind == "booklet" else
                     two_up_order(pages) if kind == "2up" else proof_order(pages))
        except ValueError as error:
            raise PamphletError([Problem(None, None, str(error), "use 8 or 16")]) from None
        if kind == "proof":
            out = pdf.with_suffix(f".proof-{paper}.pdf")
            data = impose(pdf, out, sides, sheet=PAPER[paper])
        else:
            out = pdf.with_suffix(f".{kind}.pdf")
            shifts = creep_shifts(sides, creep, signature) if kind == "booklet" else None
            data = impose(pdf, out, sides, shifts=shifts)
        write_atomically(out, data)
    how = {"booklet": "print on both sides, flip on the short edge, fold and staple",
           "2up": "print on both sides, then cut in half",
           "proof": f"print at actual size on {paper.upper()}"}[kind]
    sheets = len(sides) if kind == "proof" else len(sides) // 2
    say(f"{display_path(out)}: {sheets} sheet(s), {how}")


@app.command("send")
def send_command(
    issue: Annotated[str, typer.Argument(help="An issue name, or the path to a manifest.")],
    really: Annotated[bool, typer.Option("--send", help="Really send. Without it, a dry run "
                                         "shows who would get what and sends nothing.")] = False,
    only: Annotated[list[str] | None, typer.Option("--only", help="Only this branch (repeat "
                                                   "for more).")] = None,
    eml: Annotated[Path | None, typer.Option("--eml", help="Write the messages as .eml files "
                                             "in this folder instead of sending them.")] = None,
    target: Annotated[str | None, typer.Option("--target", "-t", help="Which target's PDF to "
                                               "send (default: email).")] = None,
    resend: Annotated[list[str] | None, typer.Option("--resend", help="Send to this branch even "
                                                     "if the log says it has, or may have, this "
                                                     "issue (repeat; 'all' for every "
                                                     "branch).")] = None,
) -> None:
    """Email the issue's PDF to each branch in branches.yaml, once: a dry run unless --send."""
    from .send import all_well, deliver, describe_plan, describe_results, plan_send, write_eml
    from .sendsettings import require_password

    with reported_errors(after="Nothing was sent."), StatusLine() as progress:
        if really and eml is not None:
            raise PamphletError([Problem(None, None, "--send and --eml do not go together",
                                         "--eml writes the messages to files instead of sending")])
        plan = plan_send(resolve_manifest(issue, Path.cwd()), only=only, target=target,
                         resend=resend, progress=progress,
                         warn=lambda warning: typer.echo(f"warning: {warning}", err=True))
        if eml is not None:
            for path in write_eml(plan, eml):
                say(f"{display_path(path)}")
            return
        if not really:
            settings = plan.settings
            via = settings.server_text if settings.server else "no server set yet"
            say(f"{plan.issue.name}: {len(plan.messages)} branch(es), from {settings.sender}, "
                f"via {via}")
            for line in describe_plan(plan):
                say(line)
            say(f"Dry run: nothing was sent. --send sends the {len(plan.due)} message(s) "
                "marked 'to send'.")
            return
        secret = require_password(plan.settings) if plan.due else None
        results = deliver(plan, secret, progress=progress)
    for line in describe_results(plan, results):
        say(line)
    if not all_well(results):
        raise typer.Exit(1)


PDF_STATES = {"missing": "not built yet", "stale": "PDF older than its sources",
              "current": "PDF up to date"}


@app.command("list")
def list_command() -> None:
    """Every issue in the folder, and whether its PDF is missing or older than its sources."""
    with reported_errors(after=""):
        summaries = list_issues(publication_root())
    for s in summaries:
        number = f"No {s.number}" if s.number is not None else ""
        date = s.date.isoformat() if s.date else "?"
        state = f"cannot be read: {s.problem}" if s.problem else PDF_STATES[s.pdf_state]
        typer.echo(f"{s.name:<28} {number:<7} {date:<10} {s.layout or '?':<10} "
                   f"{s.articles:>3} articles  {state}")


@app.command()
def preview(
    issue: Annotated[str, typer.Argument(help="An issue name, or the path to a manifest.")],
    page: Annotated[int | None, typer.Option("--page", "-p", help="Only this page, "
                                             "at full size.")] = None,
    dpi: Annotated[int, typer.Option("--dpi", min=20, max=600, help="Resolution of the page "
                                     "images.")] = 110,
) -> None:
    """Page images (PNG) and a contact sheet of all pages; builds first if needed."""
    from .preview import contact_sheet, page_images

    with reported_errors(after=""), StatusLine() as progress:
        manifest, root, pdf = up_to_date_pdf(issue, progress)
        folder = root / "build" / f"{manifest.stem}-pages"
        if page is not None:
            images = page_images(pdf, folder, dpi=max(dpi, 150), pages=[page])
            say(f"{display_path(images[0])}")
            return
        images = page_images(pdf, folder, dpi=dpi)
        sheet = contact_sheet(pdf, root / "build" / f"{manifest.stem}-sheet.png")
    say(f"{display_path(sheet)}: all {len(images)} pages; one image per page in "
        f"{display_path(folder)}/")


@app.command("serve")
def serve_command(
    issue: Annotated[str, typer.Argument(help="An issue name, or the path to a manifest.")],
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="The port to listen "
                                      "on (0: any free one).")] = 8042,
    host: Annotated[str, typer.Option("--host", help="The address to listen on; anything but "
                                      "127.0.0.1 or localhost lets other machines see the "
                                      "issue.")] = "127.0.0.1",
) -> None:
    """A live preview in the browser: the pages side by side as spreads, built again each time
    a file of the issue is saved. Ctrl-C stops it."""
    from .serve import serve as serve_preview

    with reported_errors(after=""):
        manifest = resolve_manifest(issue, Path.cwd())
        try:
            serve_preview(manifest, host, port, say=say, notify=_report_build)
        except KeyboardInterrupt:
            say("Stopped.")


def _report_build(done: BuildState) -> None:
    """One line on the terminal for each build the preview makes; problems in full."""
    if done.state == "ok":
        warned = f", {len(done.warnings)} warning(s) (shown on the page)" if done.warnings else ""
        say(f"build {done.number}: {len(done.images)} pages in {done.seconds:.1f} s{warned}")
        return
    for problem in done.problems:
        typer.echo(f"error: {problem}", err=True)
    typer.echo(f"build {done.number} failed; fix the files and save, the preview is watching",
               err=True)


class StatusLine:
    """What a long command is doing: every step with --verbose; otherwise, on a terminal and
    once a second has passed, one line that keeps being rewritten."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.shown = False

    def __enter__(self) -> StatusLine:
        return self

    def __call__(self, step: str) -> None:
        if state["verbose"]:
            typer.echo(f"  {step}…")
        elif (not state["quiet"] and sys.stderr.isatty()
              and time.monotonic() - self.started > 1):
            sys.stderr.write(f"\r\033[K{step}…")
            sys.stderr.flush()
            self.shown = True

    def __exit__(self, *exc: object) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


layouts_app = typer.Typer(help="The layouts on the search path, and copying one to change it.",
                          invoke_without_command=True)
app.add_typer(layouts_app, name="layouts")


@layouts_app.callback()
def layouts_list(context: typer.Context) -> None:
    """List the layouts: the publication's own first, then the built-in ones."""
    if context.invoked_subcommand is not None:
        return
    root = find_root(Path.cwd()) or Path.cwd()
    with reported_errors(after=""):
        for name, folder in sorted(available_layouts(root).items()):
            where = "built-in" if folder.is_relative_to(builtin_dir("layouts")) else \
                display_path(folder)
            description = find_layout(name, root).settings.get("description", "")
            typer.echo(f"{name:<16} {description}  [{where}]")


@layouts_app.command("copy")
def layouts_copy(
    source: Annotated[str, typer.Argument(help="The layout to copy, e.g. bulletin.")],
    name: Annotated[str, typer.Argument(help="The new layout's name, e.g. my-bulletin.")],
) -> None:
    """Copy a layout into the publication's layouts/ folder, to change it there."""
    root = find_root(Path.cwd()) or Path.cwd()
    with reported_errors(after=""):
        target = copy_layout(root, source, name)
    say(f"{display_path(target)}: a copy of {source}; set 'layout: {name}' in a manifest to use it")


@contextmanager
def reported_errors(after: str = "Nothing was written; the last PDF is unchanged.") -> Iterator[None]:
    """Every editor-fixable problem becomes one line on stderr and exit status 1; a bug
    becomes one line and status 2, with the traceback only under --debug."""
    try:
        yield
    except PamphletError as error:
        if state["debug"] and error.__cause__ is not None:
            cause = error.__cause__
            typer.echo(getattr(cause, "details", None) or "".join(
                traceback.format_exception(cause)), err=True)
        for problem in error.problems:
            typer.echo(f"error: {problem}", err=True)
        if after:
            typer.echo(after, err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("Stopped; the last PDF is unchanged.", err=True)
        raise typer.Exit(130) from None
    except Exception as error:
        if state["debug"]:
            raise
        typer.echo(f"pamphlet failed unexpectedly: {type(error).__name__}: {error}\n"
                   "Run the same command with --debug for the details, and report it.", err=True)
        raise typer.Exit(2) from None


def run() -> None:
    app()
