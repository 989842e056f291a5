"""Small helpers for looking at built PDFs in tests."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image
from typer.testing import CliRunner, Result

from pamphlet import cli
from pamphlet.checks import words


def page_images(pdf: Path, dpi: int = 72) -> list[Image.Image]:
    document = pdfium.PdfDocument(str(pdf))
    try:
        return [page.render(scale=dpi / 72).to_pil() for page in document]
    finally:
        document.close()


def page_words(pdf: Path) -> list[list[str]]:
    document = pdfium.PdfDocument(str(pdf))
    try:
        return [words(page.get_textpage().get_text_bounded()) for page in document]
    finally:
        document.close()


def find_sequence(hay: list[str], needle: list[str]) -> int:
    """Index where `needle` stands in `hay` word for word, or -1."""
    for i in range(len(hay) - len(needle) + 1):
        if hay[i:i + len(needle)] == needle:
            return i
    return -1


def pixels(image: Image.Image) -> list[tuple[int, int, int]]:
    data = image.convert("RGB").tobytes()
    return [tuple(data[i:i + 3]) for i in range(0, len(data), 3)]


def pamphlet(*args: str) -> Result:
    """Run the `pamphlet` command in-process; `output` holds what it wrote to stderr too."""
    return CliRunner().invoke(cli.app, list(args))
