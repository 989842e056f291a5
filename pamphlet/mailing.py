"""The email each branch gets: subject and body from a sandboxed template, the PDF attached,
a Message-ID that stays the same for the same issue, branch and PDF.

Headers are built by the standard library's `EmailMessage` with the SMTP policy, which
refuses a line break in any header: a manifest title cannot add a `Bcc:`."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from .branches import Branch
from .errors import PamphletError, Problem
from .model import Article, Issue
from .resources import PACKAGE_DIR
from .yamlfile import read_text

TEMPLATE_FILE = "email.txt"
"""A publication's own template, in its folder; else pamphlet's own."""
DEFAULT_TEMPLATE = PACKAGE_DIR / "mail" / TEMPLATE_FILE
MAX_SUBJECT = 200


@dataclass(frozen=True)
class Attachment:
    name: str
    """The file name the branch sees, e.g. busworker-2026-11-24.pdf."""
    data: bytes
    pages: int | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size_text(self) -> str:
        return size_text(len(self.data))


def size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


def template_path(root: Path) -> Path:
    own = root / TEMPLATE_FILE
    return own if own.is_file() else DEFAULT_TEMPLATE


def template_context(issue: Issue, articles: list[Article], branch: Branch,
                     attachment: Attachment) -> dict[str, Any]:
    """Plain values only (text, numbers, a date): the template sees nothing else."""
    return {
        "issue": {
            "title": issue.title, "subtitle": issue.subtitle, "number": issue.number,
            "volume": issue.volume, "date": issue.date, "date_text": issue.date_text,
            "name": issue.name, "website": issue.website, "email": issue.email,
            "publisher": issue.publisher,
        },
        "contents": [a.title.striptags() for a in articles],
        "branch": {"name": branch.name, "copies": branch.copies,
                   "own_contact": bool(branch.contact)},
        "attachment": {"name": attachment.name, "size": attachment.size_text,
                       "pages": attachment.pages},
    }


def render_text(template: Path, context: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) from the template: its first line is 'Subject: …', then a blank line,
    then the body. The subject is rendered on its own and made one line, whatever the
    manifest's text holds."""
    env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False,
                                        trim_blocks=True, lstrip_blocks=True,
                                        keep_trailing_newline=True)
    source = read_text(template)
    head, _, rest = source.partition("\n")
    if not head.lower().startswith("subject:"):
        raise PamphletError([Problem(template, 1, "the email template's first line should be "
                                     "'Subject: …'", "then a blank line, then the message")])
    try:
        subject = one_line(env.from_string(head[len("subject:"):]).render(context))
        # The body keeps its line numbers: line 1 is left empty.
        body = env.from_string("\n" + rest).render(context)
    except jinja2.TemplateSyntaxError as error:
        raise PamphletError([Problem(template, error.lineno,
                                     f"template error: {error.message}")]) from None
    except (jinja2.UndefinedError, SecurityError) as error:
        raise PamphletError([Problem(template, _template_line(error), f"template error: {error}",
                                     "the email template gets issue, contents, branch and "
                                     "attachment (see the README)")]) from None
    if not subject:
        raise PamphletError([Problem(template, 1, "the email's subject comes out empty",
                                     "check the 'Subject:' line of the template")])
    return subject[:MAX_SUBJECT], body.strip("\n") + "\n"


def _template_line(error: Exception) -> int | None:
    tb, line = error.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def one_line(text: str) -> str:
    """Any run of white space, line breaks included, becomes one space."""
    return re.sub(r"\s+", " ", text).strip()


def message_id(issue: Issue, branch: Branch, pdf_sha256: str, sender: Address) -> str:
    """The same for the same issue, branch and PDF: sending again after a failure reuses it
    (so a mail program can see it is one message); a changed PDF makes a new one."""
    key = "\0".join((issue.name, branch.name.casefold(), pdf_sha256))
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<pamphlet.{digest}@{sender.domain or 'pamphlet.invalid'}>"


def compose_message(*, sender: Address, to: tuple[Address, ...], subject: str, body: str,
                    attachment: Attachment, message_id: str, reply_to: Address | None = None,
                    date: dt.datetime | None = None) -> EmailMessage:
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = to
    if reply_to is not None:
        message["Reply-To"] = reply_to
    message["Subject"] = subject
    message["Date"] = format_datetime(date or dt.datetime.now(dt.UTC).astimezone())
    message["Message-ID"] = message_id
    message.set_content(body)
    message.add_attachment(attachment.data, maintype="application", subtype="pdf",
                           filename=attachment.name)
    return message
