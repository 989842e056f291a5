"""Process-wide speed settings, applied once before the first layout: a cache against CPython
3.11's data-stack chunk thrash, the layout shortcuts of `shortcuts.py`, PDF streams compressed
once (not twice at zlib's slowest level), and garbage-collector settings for long documents.

The chunk thrash (python/cpython#142183, fixed upstream only in later releases): the
interpreter keeps its frames in 16 KiB chunks and frees a chunk as soon as the last frame in
it returns, so a hot loop whose calls cross a chunk boundary maps and unmaps memory on every
call. `_stackcache.c` puts a small cache in front of the arena allocator that those chunks come
from. It is compiled once with the system's C compiler (no Python headers or libc needed) into
the user's cache folder and installed through ctypes, but only when asked for with
PAMPHLET_STACK_CACHE=1: pamphlet's own builds measured no gain from it (their layout runs at
a depth that does not thrash), and a build should not run a compiler or load code from outside
the publication unasked. Without a compiler, or on another Python, nothing changes.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import hashlib
import importlib
import io
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import types
import zlib
from pathlib import Path
from typing import Any

from . import forkserver, shortcuts

SOURCE = Path(__file__).with_name("_stackcache.c")
_state: dict[str, object] = {}


class _ArenaAllocator(ctypes.Structure):
    _fields_ = [("ctx", ctypes.c_void_p), ("alloc", ctypes.c_void_p), ("free", ctypes.c_void_p)]


def wanted() -> bool:
    """Asked for (PAMPHLET_STACK_CACHE=1) on a Python that thrashes."""
    if os.environ.get("PAMPHLET_STACK_CACHE", "0").strip().lower() not in ("1", "yes", "on", "true"):
        return False
    return affected()


def affected() -> bool:
    """CPython 3.11 to 3.13: the versions with chunked frame stacks and no cached chunk."""
    return sys.implementation.name == "cpython" and (3, 11) <= sys.version_info[:2] <= (3, 13)


def install_stack_cache() -> bool:
    """Install the chunk cache in this process (once; children forked later inherit it).
    True if it is installed, False if it could not be (and nothing was changed)."""
    if "library" in _state:
        return _state["library"] is not None
    _state["library"] = None
    if not wanted():
        return False
    try:
        path = _compiled()
        library = ctypes.CDLL(str(path))
        if path.parent != _cache_folder():
            shutil.rmtree(path.parent, ignore_errors=True)  # loaded: the file is not needed
        current, replacement = _ArenaAllocator(), _ArenaAllocator()
        ctypes.pythonapi.PyObject_GetArenaAllocator(ctypes.byref(current))
        if library.pamphlet_wrap(ctypes.byref(current), ctypes.byref(replacement)) == 0:
            ctypes.pythonapi.PyObject_SetArenaAllocator(ctypes.byref(replacement))
    except (OSError, AttributeError, subprocess.SubprocessError):
        return False
    library.pamphlet_hits.restype = ctypes.c_ulonglong
    library.pamphlet_misses.restype = ctypes.c_ulonglong
    _state["library"] = library
    return True


def stack_cache_counts() -> tuple[int, int] | None:
    """(hits, misses) of the chunk cache so far; None when it is not installed."""
    library = _state.get("library")
    if library is None:
        return None
    assert isinstance(library, ctypes.CDLL)
    return library.pamphlet_hits(), library.pamphlet_misses()


def _compiled() -> Path:
    """The shared library for this source and machine, compiled on first use."""
    source = SOURCE.read_bytes()
    tag = hashlib.sha256(source + platform.machine().encode()).hexdigest()[:16]
    name = f"stackcache-{tag}.so"
    folder = _cache_folder()
    if folder is not None and (folder / name).is_file():
        return folder / name
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise OSError("no C compiler")
    work = Path(tempfile.mkdtemp(prefix="pamphlet-"))
    target = work / name
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-nostdlib", "-o", str(target),
                    str(SOURCE)], check=True, capture_output=True, timeout=60)
    if folder is None:
        return target  # a private folder: loaded from there this time, compiled again next time
    os.replace(target, folder / name)
    work.rmdir()
    return folder / name


def _cache_folder() -> Path | None:
    """~/.cache/pamphlet (or $XDG_CACHE_HOME/pamphlet), if it is ours and private."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "pamphlet"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = folder.stat()
    except OSError:
        return None
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        return None  # someone else could put a library there
    return folder


def tune_gc() -> None:
    """Move everything imported so far out of the collector's way (`gc.freeze`) and collect
    the youngest generation less often: a layout makes millions of short-lived objects and
    few cycles."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


SMALL_PDF = 2 * 2**20
"""Bytes of PDF below which what parsing it leaves is not worth a full collection: that
takes 5-15 ms in a process that builds again and again (`pamphlet serve`)."""


def give_back_memory(after_pdf: int | None = None) -> None:
    """Collect the cycles a parsed PDF leaves (pypdf's objects point at each other, and
    `tune_gc` made full collections rare), and hand the freed memory back to the system.
    A PDF's pictures are parsed into many blocks of some tens of KB, below the size glibc
    gives back on its own: without the trim, a 64-page issue's process kept 40 MB it no
    longer used while it read the assembled PDF. Nothing is done after a PDF of `after_pdf`
    bytes, if that is under SMALL_PDF."""
    if after_pdf is not None and after_pdf < SMALL_PDF:
        return
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc's; elsewhere nothing is done
    except (OSError, AttributeError):
        return None


PDF_ZLIB_LEVEL = 6
"""pydyf compresses every stream at zlib's level 9: a newspaper page's text (about 0.5 MB of
drawing operators) takes 0.3 s; level 6 takes about half that, for a PDF 0.4 % larger."""


def fast_pdf_writing(level: int = PDF_ZLIB_LEVEL) -> bool:
    """Make pydyf (WeasyPrint's PDF writer) compress each stream once, at `level`.

    pydyf compresses a stream every time its `data` is read, and a PDF with an identifier
    (PDF/X, PDF/A: every print-shop PDF) reads all of them twice, once to write them and once
    to hash them: each page's text was compressed twice at level 9. During `PDF.write`, when
    nothing changes any more, each stream's data is kept after the first reading. False (and
    nothing changed) if pydyf is not shaped as expected."""
    if "pydyf" in _state:
        return bool(_state["pydyf"])
    _state["pydyf"] = False
    try:
        import pydyf
    except ImportError:
        return False
    data_property = getattr(pydyf.Stream, "data", None)
    if not isinstance(data_property, property) or data_property.fget is None \
            or not callable(getattr(pydyf.PDF, "write", None)) \
            or getattr(pydyf, "zlib", None) is not zlib:
        return False
    read_data = data_property.fget
    write = pydyf.PDF.write
    kept: dict[int, tuple[object, bytes]] | None = None

    def data(self: object) -> bytes:
        if kept is None:
            return read_data(self)
        found = kept.get(id(self))
        if found is None or found[0] is not self:
            found = kept[id(self)] = (self, read_data(self))
        return found[1]

    def write_once(self: object, *args: Any, **kwargs: Any) -> Any:
        nonlocal kept
        kept = {}
        try:
            return write(self, *args, **kwargs)
        finally:
            kept = None

    pydyf.Stream.data = property(data, doc=data_property.__doc__)
    pydyf.PDF.write = write_once
    pydyf.zlib = _Zlib(level)
    _state["pydyf"] = True
    return True


class _Zlib:
    """zlib as pydyf sees it: the same, at another compression level; and a large stream that
    a process writes again and again (the print shop's 250 KB output profile, in every
    section's PDF: 13 ms each) compressed once, the second time it is seen."""

    def __init__(self, level: int) -> None:
        self.level = level
        self.seen: dict[int, int] = {}  # hash of a large stream -> its length, in the order seen
        self.kept: dict[bytes, bytes] = {}

    def compress(self, data: bytes, level: int = -1) -> bytes:
        if len(data) < KEPT_STREAM_SIZE:
            return zlib.compress(data, self.level)
        found = self.kept.get(data)
        if found is not None:
            return found
        compressed = zlib.compress(data, self.level)
        key = hash(data)
        if self.seen.get(key) == len(data):
            if len(self.kept) >= KEPT_STREAMS:
                del self.kept[next(iter(self.kept))]
            self.kept[data] = compressed
        else:
            if len(self.seen) >= 4 * KEPT_STREAMS:
                del self.seen[next(iter(self.seen))]
            self.seen[key] = len(data)
        return compressed

    def compressobj(self, level: int = -1, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            return zlib.compressobj(self.level, *args, **kwargs)
        return _Compressor(self)

    def __getattr__(self, name: str) -> Any:
        return getattr(zlib, name)


KEPT_STREAM_SIZE = 64 * 1024
KEPT_STREAMS = 4


class _Compressor:
    """A compressobj that compresses at `flush`, all at once, as `zlib.compress` does (the
    same bytes), so that `_Zlib` can give a stream it has compressed before."""

    def __init__(self, owner: _Zlib) -> None:
        self.owner = owner
        self.parts: list[bytes] = []

    def compress(self, data: bytes) -> bytes:
        self.parts.append(bytes(data))
        return b""

    def flush(self, mode: int = zlib.Z_FINISH) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return self.owner.compress(data)


def import_weasyprint() -> None:
    """Import WeasyPrint without the slow search for its C libraries (0.2-0.3 s of every
    build's start-up).

    WeasyPrint tries several names for each library, Windows and macOS ones first, and cffi
    hands every name that does not load to `ctypes.util.find_library`, which on Linux runs
    ldconfig, gcc and ld, one after another, for each name. Every list of names also holds
    the Linux file name (libpango-1.0.so.0), which the system loader finds on its own. So
    the search is left out while WeasyPrint is imported; if the libraries cannot be loaded
    that way, the partial import is thrown away and WeasyPrint imported as usual."""
    if "weasyprint" in sys.modules or not sys.platform.startswith("linux"):
        import weasyprint
        return
    import ctypes.util

    search = ctypes.util.find_library
    ctypes.util.find_library = _no_search
    _put_off(LATE_MODULES)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # WeasyPrint's "could not import"
            import weasyprint
    except OSError:
        for name in [n for n in sys.modules if n == "weasyprint" or n.startswith("weasyprint.")]:
            del sys.modules[name]
    finally:
        ctypes.util.find_library = search
    import weasyprint  # noqa: F401


LATE_MODULES = {"fontTools.subset": (), "fontTools.varLib.instancer": ("instantiateVariableFont",)}
"""Modules WeasyPrint imports at start but uses only for what a build seldom does: fontTools'
subsetter (when HarfBuzz cannot subset) and its variable-font instancer (a variable font
with set axes). With each function WeasyPrint imports from it by name. Together 9 MB of every
layout worker's memory."""


class _LateModule(types.ModuleType):
    """Stands for a module until something uses it, then imports it."""

    def __init__(self, name: str, functions: tuple[str, ...]) -> None:
        super().__init__(name)
        for function in functions:
            setattr(self, function, self._calling(function))

    def _calling(self, function: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            return getattr(self._real(), function)(*args, **kwargs)
        call.__name__ = function
        return call

    def _real(self) -> types.ModuleType:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return importlib.import_module(self.__name__)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._real(), name)


def _put_off(modules: dict[str, tuple[str, ...]]) -> None:
    """Stand-ins for these modules, where they are not imported yet."""
    for name, functions in modules.items():
        if name not in sys.modules:
            sys.modules[name] = _LateModule(name, functions)


def _no_search(name: str) -> None:
    return None


def setup_build() -> None:
    """In a build's own process, once: start the layout server (forkserver.py), which gets
    WeasyPrint ready while the build reads and composes the issue (the build itself lays out
    nothing where it can fork), and tune the collector for its own work."""
    if "build" in _state:
        return
    _state["build"] = True
    forkserver.start()
    tune_gc()


def import_pypdf() -> None:
    """Import pypdf without its AES support: a build reads and writes only unencrypted PDFs
    (its own), and the cryptography package that pypdf takes for AES adds 6 MB to the
    build's memory. An encrypted PDF read later in the same process gets pypdf's own error
    asking for that package. The build calls this while its workers lay out the pages, or
    else before it puts them together."""
    if "pypdf" in sys.modules:
        return
    blocked = "cryptography" not in sys.modules
    if blocked:
        sys.modules["cryptography"] = None  # type: ignore[assignment]  (import fails at once)
    try:
        import pypdf  # noqa: F401
    finally:
        if blocked:
            del sys.modules["cryptography"]


def import_checkers() -> None:
    """What the checks read a finished PDF with: pypdf (`import_pypdf`) and fontTools' font
    reader, for the fonts embedded in it. The build calls this while its workers lay out the
    pages, when it has nothing else to do."""
    import_pypdf()
    from fontTools.ttLib import TTFont  # noqa: F401
    from fontTools.ttLib.tables import _n_a_m_e  # noqa: F401  (the table the font check reads)


def setup() -> None:
    """The stack cache, the shortcuts, PDF streams compressed once and the collector's
    settings, once per process that lays out pages."""
    if "setup" in _state:
        return
    _state["setup"] = True
    import_weasyprint()
    install_stack_cache()
    shortcuts.install()
    fast_pdf_writing()
    tune_gc()
