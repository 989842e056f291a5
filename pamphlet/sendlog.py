"""The send log: what was sent to whom, so that an issue goes to each branch once.

One file per issue, `sent/NAME.log.jsonl` in the publication folder: one JSON line per event,
appended and flushed to disk before pamphlet goes on. A message is logged as `sending` just
before its content goes to the server, then `delivered` or `refused` (the server said no:
retried next time) or `failed` (nothing was handed over: retried next time). A message whose
last line is `sending` or `unknown` may or may not have arrived: it is never sent again
without being asked for by name."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import PamphletError, Problem

SENT = "sent"
DELIVERED, REFUSED, FAILED, SENDING, UNKNOWN = "delivered", "refused", "failed", "sending", "unknown"
STATES = (DELIVERED, REFUSED, FAILED, SENDING, UNKNOWN)


@dataclass(frozen=True)
class Entry:
    time: str
    branch: str
    to: list[str]
    message_id: str
    pdf: str
    state: str
    detail: str = ""


@dataclass(frozen=True)
class History:
    """What the log says about one branch."""

    delivered: Entry | None = None
    """The last message delivered to it (any version of the PDF)."""
    unknown: Entry | None = None
    """A message that may or may not have arrived."""


class SendLog:
    def __init__(self, root: Path, issue_name: str) -> None:
        self.path = root / SENT / f"{issue_name}.log.jsonl"

    def entries(self) -> list[Entry]:
        if not self.path.exists():
            return []
        entries = []
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise PamphletError([Problem(self.path, None, f"cannot read the send log ({error})",
                                         "nothing was sent")]) from None
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                entry = Entry(**{k: data[k] for k in Entry.__dataclass_fields__ if k in data})
                if entry.state not in STATES:
                    raise ValueError(entry.state)
            except (ValueError, TypeError) as error:
                raise PamphletError([Problem(
                    self.path, number, f"this line of the send log cannot be read ({error})",
                    "nothing was sent; if the line was cut short by a crash, ask that branch "
                    "whether its copy arrived, then delete the line")]) from None
            entries.append(entry)
        return entries

    def history(self) -> dict[str, History]:
        """Per branch (by name, any case): its last delivery and any message of unknown fate."""
        last: dict[str, Entry] = {}
        for entry in self.entries():
            last[entry.message_id] = entry
        found: dict[str, History] = {}
        for entry in last.values():
            key = entry.branch.casefold()
            old = found.get(key, History())
            if entry.state == DELIVERED:
                found[key] = History(entry, old.unknown)
            elif entry.state in (SENDING, UNKNOWN):
                found[key] = History(old.delivered, entry)
        return found

    def record(self, branch: str, to: list[str], message_id: str, pdf: str, state: str,
               detail: str = "") -> None:
        """Append one event and make sure it is on disk before going on."""
        entry = {"time": dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds"),
                 "branch": branch, "to": to, "message_id": message_id, "pdf": pdf,
                 "state": state, "detail": detail}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Only one `pamphlet send` of an issue at a time."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.parent / f".{self.path.name}.lock"
        with lock.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise PamphletError([Problem(self.path, None, "another 'pamphlet send' of this "
                                             "issue is running", "wait for it to finish; "
                                             "nothing was sent")]) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def when(entry: Entry) -> str:
    """'2026-11-24 10:02' from the entry's time."""
    try:
        return dt.datetime.fromisoformat(entry.time).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return entry.time

