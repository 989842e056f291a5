"""Generated newspaper issues for the benchmark: N tabloid pages in the project's newspaper
layout, about 1,000 words and one photo per page, from a seeded word generator (so every run
and every machine gets the same text and pictures).

    python bench/generate.py FOLDER 16 64     # FOLDER/issues/news-16.yaml, news-64.yaml
"""

from __future__ import annotations

import random
import sys
import zlib
from pathlib import Path

from PIL import Image, ImageFilter

ONSETS = ["b", "br", "c", "ch", "cl", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "l", "m", "n",
          "p", "pl", "pr", "r", "s", "sh", "st", "str", "t", "th", "tr", "v", "w", "wh", "y", ""]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ee", "oo", "ou", "ie", "oa"]
CODAS = ["", "", "", "n", "r", "s", "t", "nd", "ng", "rk", "st", "ll", "ck", "ght", "m", "nt", "rd"]
SMALL = ["the", "of", "and", "to", "a", "in", "that", "is", "for", "on", "was", "with", "as", "by",
         "they", "at", "we", "from", "their", "it", "not", "but", "have", "are", "this", "who", "all"]
SECTIONS = ["News", "Industrial", "International", "Environment", "Housing", "Feature", "Reviews",
            "Labour", "Campaigns", "Debate"]


class Writer:
    """Pseudo-English: a fixed vocabulary of made-up words, Zipf-weighted, mixed with the most
    common English words, so that line breaking and hyphenation behave like real copy."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        vocabulary = {self._word() for _ in range(4000)}
        self.words = sorted(vocabulary)
        self.rng.shuffle(self.words)
        self.weights = [1 / (rank + 8) for rank in range(len(self.words))]

    def _word(self) -> str:
        syllables = self.rng.choices([1, 2, 3, 4], weights=[50, 38, 10, 2])[0]
        return "".join(self.rng.choice(ONSETS) + self.rng.choice(VOWELS) + self.rng.choice(CODAS)
                       for _ in range(syllables))

    def sentence(self, low: int = 8, high: int = 24) -> str:
        count = self.rng.randint(low, high)
        out = []
        for i in range(count):
            if self.rng.random() < 0.45:
                word = self.rng.choice(SMALL)
            else:
                word = self.rng.choices(self.words, self.weights)[0]
            if i and self.rng.random() < 0.06:
                word += ","
            out.append(word)
        first = out[0]
        out[0] = first[0].upper() + first[1:]
        return " ".join(out) + self.rng.choice([".", ".", ".", "?"])

    def title(self, low: int = 4, high: int = 8) -> str:
        return self.sentence(low, high).rstrip(".?,").replace(",", "")

    def paragraphs(self, words: int, crossheads: int = 0) -> str:
        """Markdown paragraphs of about `words` words in all."""
        paragraphs: list[str] = []
        count = 0
        while count < words:
            sentences = [self.sentence() for _ in range(self.rng.randint(2, 4))]
            paragraph = " ".join(sentences)
            paragraphs.append(paragraph)
            count += len(paragraph.split())
        for n in range(1, crossheads + 1):
            at = n * len(paragraphs) // (crossheads + 1)
            paragraphs.insert(at, "## " + self.title(2, 4))
        return "\n\n".join(paragraphs) + "\n"


def photo(path: Path, seed: int) -> None:
    """A 1500 x 1000 JPEG (about 200-300 KB at quality 85) with structure a JPEG can't squash."""
    rng = random.Random(seed)
    size = (1500, 1000)
    channels = []
    for _ in range(3):
        gradient = Image.linear_gradient("L").rotate(rng.randint(0, 359)).resize(size)
        noise = Image.effect_noise(size, rng.randint(30, 60)).filter(ImageFilter.GaussianBlur(1.2))
        channels.append(Image.blend(gradient, noise, 0.45))
    Image.merge("RGB", channels).save(path, "JPEG", quality=85)


def article(writer: Writer, folder: Path, name: str, words: int, *, image: bool, place: str = "",
            section: str = "", teaser: bool = False, box: bool = False, pullquote: bool = False,
            crossheads: int = 0) -> str:
    meta = [f"title: \"{writer.title()}\"", f"kicker: \"{writer.title(1, 2)}\"",
            f"standfirst: \"{writer.sentence(14, 26)}\"", f"byline: \"By {writer.title(2, 2)}\""]
    if image:
        photo(folder / "images" / f"{name}.jpg", seed=zlib.crc32(name.encode()))
        meta += [f"image: images/{name}.jpg", f"caption: \"{writer.sentence(8, 16)}\"",
                 f"alt: \"{writer.sentence(6, 10)}\"", "credit: \"Photo: bench\""]
    if pullquote:
        meta.append(f"pullquote: \"{writer.sentence(8, 14)}\"")
    if place:
        meta.append(f"place: {place}")
    if section:
        meta.append(f"section: {section}")
    if teaser:
        meta.append("teaser: true")
    if box:
        meta.append("box: true")
    (folder / f"{name}.md").write_text("---\n" + "\n".join(meta) + "\n---\n"
                                       + writer.paragraphs(words, crossheads), encoding="utf-8")
    return f"{folder.name}/{name}.md"


def newspaper(root: Path, pages: int, seed: int = 42) -> Path:
    """issues/news-PAGES.yaml and its articles and photos under `root`; returns the manifest."""
    writer = Writer(seed + pages)
    folder = root / "issues" / f"news-{pages}"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    centre = pages // 2
    entries = [article(writer, folder, "p01-splash", 170, image=True, place="front",
                       pullquote=True)]
    page = 2
    while page < pages:
        section = SECTIONS[page % len(SECTIONS)]
        if page == centre:
            entries.append(article(writer, folder, f"p{page:02}-spread", 1500, image=True,
                                   place="centre", section="Feature", teaser=True, pullquote=True,
                                   crossheads=3))
            page += 2
            continue
        entries.append(article(writer, folder, f"p{page:02}-lead", 470, image=True,
                               place=f"page {page}", section=section, pullquote=True,
                               teaser=page in (3, 5, pages - 3), crossheads=2))
        entries.append(article(writer, folder, f"p{page:02}-second", 300, image=False,
                               crossheads=1))
        page += 1
    entries.append(article(writer, folder, f"p{pages:02}-back", 620, image=True, place="back",
                           section="Campaigns", crossheads=2))
    entries.append(article(writer, folder, f"p{pages:02}-box", 110, image=False, box=True))
    manifest = root / "issues" / f"news-{pages}.yaml"
    manifest.write_text(
        f"# Generated by bench/generate.py: {pages} tabloid pages, about 1,000 words and one "
        f"photo a page\ntitle: Bench Voice\nsubtitle: A generated paper for the benchmark\n"
        f"strapline: Same text every run\nlayout: newspaper\nnumber: {pages}\ndate: 2026-12-04\n"
        f"price: 50p\nwebsite: www.bench.example.org\nemail: bench@example.org\npages: {pages}\n"
        f"publisher: Bench Publications\nflash: \"Generated copy: seeded, not real news\"\n"
        f"contact: \"**Get in touch.** PO Box 0000, London.\"\n"
        f"imprint: \"Published by Bench Publications. Printed by nobody.\"\narticles:\n"
        + "".join(f"  - {entry}\n" for entry in entries), encoding="utf-8")
    return manifest


def main() -> None:
    root = Path(sys.argv[1])
    for pages in sys.argv[2:] or ["16"]:
        print(newspaper(root, int(pages)))


if __name__ == "__main__":
    main()
