"""The process-wide speed settings: the stack-chunk cache (CPython 3.11's gh-142183) installs,
is used, keeps programs correct, and steps aside cleanly when it cannot be built."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pamphlet import speed

PROGRAM = r"""
import sys, threading
from pamphlet import speed

def deep(n):
    return 0 if n == 0 else 1 + deep(n - 1)

def frames(n):          # a generator that keeps its frame (and chunk) alive while suspended
    if n:
        yield from frames(n - 1)
    else:
        yield "bottom"

early = frames(400)     # chunks allocated before the cache is installed...
assert next(early) == "bottom"
installed = speed.install_stack_cache()
assert speed.install_stack_cache() == installed   # a second call changes nothing
assert list(early) == []                          # ...are freed through it
results = [deep(600) for _ in range(3000)]
assert results == [600] * 3000
errors = []
def work():
    try:
        assert all(deep(500) == 500 for _ in range(300))
    except BaseException as error:
        errors.append(error)
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
assert not errors, errors
print(installed, speed.stack_cache_counts())
"""


def run(tmp_path: Path, **env: str) -> str:
    environment = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), **env}
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                          env=environment, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(not speed.affected(), reason="only CPython 3.11 to 3.13 needs the cache")
def test_the_chunk_cache_is_built_installed_and_used(tmp_path: Path):
    if not any(Path(d, "cc").exists() or Path(d, "gcc").exists()
               for d in os.environ.get("PATH", "").split(os.pathsep)):
        pytest.skip("no C compiler")
    output = run(tmp_path, PAMPHLET_STACK_CACHE="1")
    installed, counts = output.split(" ", 1)
    assert installed == "True"
    hits, misses = ast.literal_eval(counts)
    assert hits > 3000 > misses, "calls that cross a chunk boundary reuse a cached chunk"
    assert len(list((tmp_path / "cache" / "pamphlet").glob("stackcache-*.so"))) == 1
    assert run(tmp_path, PAMPHLET_STACK_CACHE="1").startswith("True"), \
        "the second process loads the compiled library"


def test_without_a_compiler_nothing_changes(tmp_path: Path):
    assert run(tmp_path, PAMPHLET_STACK_CACHE="1", CC=str(tmp_path / "no-such-compiler")) == \
        "False None"


def test_it_is_off_unless_asked_for(tmp_path: Path):
    assert run(tmp_path) == "False None"
    assert run(tmp_path, PAMPHLET_STACK_CACHE="0") == "False None"
    assert not (tmp_path / "cache").exists(), "no compiler ran, nothing was written"


def test_a_cache_folder_others_can_write_to_is_not_used(tmp_path: Path):
    folder = tmp_path / "cache" / "pamphlet"
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    (folder / "planted.so").write_bytes(b"not a library")
    output = run(tmp_path, PAMPHLET_STACK_CACHE="1")
    assert output.split()[0] in ("True", "False")  # compiled privately, or not at all
    assert not list(folder.glob("stackcache-*.so")), "nothing is written to a shared folder"


PDF_PROGRAM = r"""
import io, zlib, pydyf, pypdf
from pamphlet import speed
assert speed.fast_pdf_writing() and speed.fast_pdf_writing()
calls = []
shim, compressobj = pydyf.zlib, pydyf.zlib.compressobj
shim.compressobj = lambda *a, **k: (calls.append(a), compressobj(*a, **k))[1]
text = b"BT /F1 9 Tf 10 10 Td (a line of a newspaper page) Tj ET\n" * 5000
pdf = pydyf.PDF()
content = pydyf.Stream([text], compress=True)
pdf.add_object(content)
page = pydyf.Dictionary({"Type": "/Page", "Parent": pdf.pages.reference,
                         "MediaBox": pydyf.Array([0, 0, 200, 200]),
                         "Contents": content.reference})
pdf.add_page(page)
out = io.BytesIO()
pdf.write(out, identifier=True, compress=True)
reader = pypdf.PdfReader(io.BytesIO(out.getvalue()))
assert reader.pages[0].get_contents().get_data() == text
assert reader.trailer["/ID"]
print(len(calls))
"""


def test_pdf_streams_are_compressed_once_each():
    done = subprocess.run([sys.executable, "-c", PDF_PROGRAM], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3", "the page, the object stream and the xref: once each"


KEPT_STREAM_PROGRAM = r"""
import io, random, zlib, pydyf, pypdf
from pamphlet import speed
assert speed.fast_pdf_writing()
compressed = []
real = zlib.compress
speed.zlib.compress = lambda data, level: (compressed.append(len(data)), real(data, level))[1]
profile = random.Random(1).randbytes(40_000) * 3  # a large stream, the same in every PDF
pdfs = []
for text in (b"first", b"second", b"third", b"fourth"):
    pdf = pydyf.PDF()
    stream = pydyf.Stream([profile], compress=True)
    pdf.add_object(stream)
    content = pydyf.Stream([b"BT (" + text + b") Tj ET"], compress=True)
    pdf.add_object(content)
    pdf.add_page(pydyf.Dictionary({"Type": "/Page", "Parent": pdf.pages.reference,
                                   "MediaBox": pydyf.Array([0, 0, 200, 200]),
                                   "Contents": content.reference,
                                   "Profile": stream.reference}))
    out = io.BytesIO()
    pdf.write(out, compress=True)
    pdfs.append(out.getvalue())
    reader = pypdf.PdfReader(io.BytesIO(out.getvalue()))
    assert reader.pages[0]["/Profile"].get_object().get_data() == profile
    assert reader.pages[0].get_contents().get_data().endswith(text + b") Tj ET")
assert real(profile, speed.PDF_ZLIB_LEVEL) in pdfs[3], "as zlib compresses it"
print(compressed.count(len(profile)))
"""


def test_a_large_stream_written_again_is_compressed_only_twice():
    done = subprocess.run([sys.executable, "-c", KEPT_STREAM_PROGRAM], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2", "seen once, then kept: the third and fourth PDF reuse it"


def test_converted_pictures_are_kept_between_builds_and_pruned(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch):
    import io

    from PIL import Image

    from pamphlet import render

    picture = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(picture, "JPEG")
    grey, mime = render._converted(picture.getvalue(), "image/jpeg", "grey", None, tmp_path)
    assert mime == "image/jpeg" and Image.open(io.BytesIO(grey)).mode == "L"
    monkeypatch.setattr(render, "in_greys", lambda *args: pytest.fail("converted again"))
    assert render._converted(picture.getvalue(), "image/jpeg", "grey", None, tmp_path) == \
        (grey, mime)
    render.prune_pictures(tmp_path, keep=0)
    assert not list(tmp_path.iterdir())


IMPORT_PROGRAM = r"""
import ctypes.util, sys
searched = []
search = ctypes.util.find_library
ctypes.util.find_library = lambda name: (searched.append(name), search(name))[1]
BREAK = sys.argv[1] == "break"
if BREAK:  # the libraries do not load by their file names: only the search finds them
    import cffi
    dlopen = cffi.FFI.dlopen
    def by_search_only(self, name, flags=0):
        if ctypes.util.find_library.__name__ == "_no_search":
            raise OSError("not found")
        return dlopen(self, name, flags)
    cffi.FFI.dlopen = by_search_only
from pamphlet import speed
if sys.argv[1] == "plain":
    import weasyprint
else:
    speed.import_weasyprint()
from weasyprint.text import ffi
assert ctypes.util.find_library.__name__ == "<lambda>", "the search is put back"
libraries = sorted({line.split()[-1] for line in open("/proc/self/maps")
                    if any(n in line for n in ("libpango", "libharfbuzz", "libgobject",
                                               "libfontconfig"))})
print(len(searched), ffi.harfbuzz_subset is not None, *libraries)
"""


def _imported(how: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", IMPORT_PROGRAM, how], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "could not import" not in done.stdout
    return done.stdout.split()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the search is Linux's")
def test_weasyprint_is_imported_without_searching_for_its_libraries():
    plain, fast, broken = _imported("plain"), _imported("fast"), _imported("break")
    assert int(plain[0]) > 0 and int(fast[0]) == 0, "the fast import searches nothing"
    assert fast[1:] == plain[1:], "and loads the same library files"
    assert any("libpango-1.0" in name for name in fast)
    assert int(broken[0]) > 0 and broken[1:] == plain[1:], \
        "where the file names do not load, the usual import (with the search) is done"


LATE_PROGRAM = r"""
import glob, json, sys
from pathlib import Path
from pamphlet import speed
speed.setup()
late = {name: type(sys.modules[name]).__name__ for name in speed.LATE_MODULES}
from weasyprint.pdf import fonts
from pamphlet.render import render
fonts.harfbuzz_subset = None  # as where HarfBuzz cannot subset: fontTools does it
html = '<p style="font-family: serif">Subset by fontTools</p>'
rendered = render(html, Path(sys.argv[1]), [Path(sys.argv[1])])
Path(sys.argv[1], "out.pdf").write_bytes(rendered.pdf)
from fontTools.ttLib import TTFont
try:  # a static font: the real instancer's own answer shows that it was reached
    fonts.instantiateVariableFont(TTFont(sys.argv[2]), {"wght": 400})
except ValueError as error:
    instancer = str(error)
print(json.dumps([late, type(sys.modules["fontTools.subset"]).__name__, instancer]))
"""


def test_fonttools_subsetter_and_instancer_are_imported_when_first_used(tmp_path: Path):
    from helpers import page_words

    font = next((Path(speed.__file__).parent.parent / "fonts" / "pt-serif").glob("*.ttf"))
    done = subprocess.run([sys.executable, "-c", LATE_PROGRAM, str(tmp_path), str(font)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    late, subset_after, instancer = json.loads(done.stdout.splitlines()[-1])
    assert set(late.values()) == {"_LateModule"}, "not imported with WeasyPrint"
    assert subset_after == "module", "imported for real once a font is subset with it"
    assert "fvar" in instancer
    assert page_words(tmp_path / "out.pdf") == [["subset", "by", "fonttools"]]


def test_memory_is_given_back_after_a_large_pdf_only(monkeypatch):
    """A full collection and a trim after reading a PDF of some MB; after a small one (a
    bulletin of 100 KB) neither: it would cost more time than it gives back."""
    collected: list[int] = []
    monkeypatch.setattr(speed.gc, "collect", lambda *generation: collected.append(1) or 0)
    speed.give_back_memory(100_000)
    assert collected == []
    speed.give_back_memory(speed.SMALL_PDF)
    speed.give_back_memory()
    assert collected == [1, 1]
