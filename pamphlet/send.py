"""`pamphlet send`: the issue's PDF to every branch by email, over TLS, once.

`plan_send` builds what is needed (each branch's edition, only when missing or older than
its sources), composes every message and reads the send log; it never touches the network.
`deliver` sends the messages the log says are due, logging each one before and after its
content goes to the server (see sendlog.py). `write_eml` writes them as files instead."""

from __future__ import annotations

import contextlib
import hashlib
import io
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

from .branches import Branch, load_branches, parse_address
from .build import build, load, output_path
from .errors import PamphletError, Problem, Problems, display_path
from .mailing import (
    Attachment,
    compose_message,
    message_id,
    one_line,
    render_text,
    size_text,
    template_context,
    template_path,
)
from .model import Article, Issue
from .output import write_atomically
from .sendlog import DELIVERED, FAILED, REFUSED, SENDING, UNKNOWN, History, SendLog, when
from .sendsettings import SETTINGS_FILE, Secret, Settings, load_settings
from .workspace import issue_inputs

Say = Callable[[str], None]

SEND, ALREADY, EARLIER, HELD = "send", "already", "earlier", "held"
"""A message's status before sending: due; already delivered; the branch has an earlier
version of the PDF; held because an earlier message's fate is unknown."""
NOT_SENT = "not sent"
TIMEOUT = 60.0
EDITIONS = "editions"


@dataclass
class Outgoing:
    branch: Branch
    pdf: Path
    attachment: Attachment
    message: EmailMessage
    message_id: str
    subject: str
    status: str = SEND
    history: History = field(default_factory=History)

    @property
    def to(self) -> list[str]:
        return [a.addr_spec for a in self.branch.addresses]


@dataclass
class Plan:
    issue: Issue
    settings: Settings
    target: str
    log: SendLog
    messages: list[Outgoing]
    resend: set[str] = field(default_factory=set)
    """Branches (casefolded names, or 'all') to send to whatever the log says."""

    @property
    def due(self) -> list[Outgoing]:
        return [m for m in self.messages if m.status == SEND]


@dataclass(frozen=True)
class Result:
    branch: Branch
    state: str
    """delivered, refused, failed, unknown, not sent, or a plan status (already, earlier, held)."""
    detail: str = ""
    message_id: str = ""


# --- the PDFs ---------------------------------------------------------------------------------


def edition_pdf(manifest: Path, issue: Issue, branch: Branch, target: str,
                progress: Callable[[str], None] = lambda message: None,
                warn: Callable[[str], None] = lambda message: None) -> Path:
    """The PDF `branch` gets: the target's PDF, or for a branch with its own contact block an
    edition carrying it, kept under build/editions/ by the hash of the block (branches with the
    same block share one). Built only when missing or older than the issue's sources."""
    if branch.contact:
        key = hashlib.sha256(f"{target}\0{branch.contact}".encode()).hexdigest()[:12]
        pdf = issue.root / "build" / EDITIONS / f"{issue.name}.{target}.{key}.pdf"
    else:
        pdf = output_path(issue.root, issue.name, target)
    if not _fresh(pdf, issue_inputs(manifest, issue)):
        progress(f"building the PDF for {branch.name}" if branch.contact else
                 f"building {pdf.name}")
        result = build(manifest, out=pdf, progress=progress, contact=branch.contact or None,
                       target=target)
        for warning in result.warnings:
            warn(f"{pdf.name}: {warning}" if branch.contact else warning)
    return pdf


def _fresh(pdf: Path, inputs: Iterable[Path]) -> bool:
    try:
        built = pdf.stat().st_mtime_ns
    except OSError:
        return False
    newest = 0
    for path in inputs:
        try:
            newest = max(newest, path.stat().st_mtime_ns)
        except OSError:
            continue
    return built >= newest


# --- planning: everything but the network -------------------------------------------------------


def plan_send(manifest: Path, *, only: list[str] | None = None, target: str | None = None,
              resend: list[str] | None = None, environ: MappingABC[str, str] | None = None,
              progress: Callable[[str], None] = lambda message: None,
              warn: Callable[[str], None] = lambda message: None) -> Plan:
    """Read the branches, settings and log, build what is missing, compose every message and
    check the sizes. `resend` names branches to send to even though the log says they have
    (or may have) this issue; 'all' means every branch."""
    issue, articles, _ = load(manifest)
    root = issue.root
    branches = load_branches(root)
    chosen = branches.named(only) if only else branches.branches
    wanted_again = {name.casefold() for name in (resend or [])}
    if wanted_again - {"all"}:
        branches.named([n for n in resend or [] if n.casefold() != "all"])
    default_sender = _default_sender(issue)
    settings = load_settings(root, default_sender, environ)
    if settings.sender is None:
        raise PamphletError([Problem(
            root / SETTINGS_FILE, None, "nobody to send the email from",
            "put 'from: Name <address@example.org>' in sending.yaml (or an 'email:' in the "
            "manifest)")])
    target = target or settings.target
    log = SendLog(root, issue.name)
    history = log.history()
    template = template_path(root)
    messages = []
    for branch in chosen:
        pdf = edition_pdf(manifest, issue, branch, target, progress, warn)
        messages.append(_outgoing(issue, articles, branch, pdf, settings, template))
    plan = Plan(issue, settings, target, log, messages, wanted_again)
    refresh(plan, history)
    _check_sizes(plan)
    return plan


def _default_sender(issue: Issue) -> Address | None:
    if not issue.email:
        return None
    address, _, _ = parse_address(issue.email)
    if address is None:
        return None
    return Address(display_name=one_line(issue.title), username=address.username,
                   domain=address.domain)


def _outgoing(issue: Issue, articles: list[Article], branch: Branch, pdf: Path,
              settings: Settings, template: Path) -> Outgoing:
    import pypdf  # here, not at the top: the command starts faster without it

    data = pdf.read_bytes()
    try:
        pages: int | None = len(pypdf.PdfReader(io.BytesIO(data)).pages)
    except Exception:
        pages = None
    attachment = Attachment(f"{issue.name}.pdf", data, pages)
    subject, body = render_text(template, template_context(issue, articles, branch, attachment))
    assert settings.sender is not None
    mid = message_id(issue, branch, attachment.sha256, settings.sender)
    message = compose_message(sender=settings.sender, to=branch.addresses, subject=subject,
                              body=body, attachment=attachment, message_id=mid,
                              reply_to=settings.reply_to)
    return Outgoing(branch, pdf, attachment, message, mid, subject)


def refresh(plan: Plan, history: dict[str, History]) -> None:
    """Set each message's status from the log."""
    for out in plan.messages:
        key = out.branch.name.casefold()
        past = history.get(key, History())
        out.history = past
        again = key in plan.resend or "all" in plan.resend
        if again:
            out.status = SEND
        elif past.unknown is not None:
            out.status = HELD
        elif past.delivered is not None and past.delivered.message_id == out.message_id:
            out.status = ALREADY
        elif past.delivered is not None:
            out.status = EARLIER
        else:
            out.status = SEND


def _check_sizes(plan: Plan) -> None:
    limit = plan.settings.max_attachment_bytes
    problems = Problems()
    for out in plan.due:
        size = len(out.attachment.data)
        if size > limit:
            hint = ("send the email target's PDF, made for this (--target email); "
                    if plan.target != "email" else "make the pictures smaller, or ")
            problems.add(out.pdf, None, f"the PDF for {out.branch.name} is {size_text(size)}, "
                         f"more than the {size_text(limit)} the settings allow for an attachment",
                         hint + f"raise max_attachment_mb in {SETTINGS_FILE} if your mail server "
                         "and the branches' take bigger messages; nothing was sent")
    problems.raise_if_any()


# --- describing the plan and the results ------------------------------------------------------


def describe_plan(plan: Plan) -> list[str]:
    lines = []
    for out in plan.messages:
        edition = "with the branch's own contact block" if out.branch.contact else \
            f"the {plan.target} PDF"
        copies = f"; prints {out.branch.copies} copies" if out.branch.copies else ""
        lines += [f"{out.branch.name}: {_status_text(out, plan)}",
                  f"  to       {', '.join(str(a) for a in out.branch.addresses)}",
                  f"  subject  {out.subject}",
                  f"  attached {out.attachment.name}, {out.attachment.size_text}"
                  + (f", {out.attachment.pages} pages" if out.attachment.pages else "")
                  + f" ({edition}{copies})",
                  f"  id       {out.message_id}"]
    return lines


def _status_text(out: Outgoing, plan: Plan) -> str:
    past = out.history
    if out.status == SEND:
        if past.unknown is not None or past.delivered is not None:
            return "will be sent again (--resend)"
        return "to send"
    if out.status == ALREADY and past.delivered is not None:
        return f"already delivered {when(past.delivered)}: not sent again"
    if out.status == EARLIER and past.delivered is not None:
        return (f"an earlier version of the PDF was delivered {when(past.delivered)}: not sent; "
                f"--resend '{out.branch.name}' sends this one too")
    if out.status == HELD and past.unknown is not None:
        return (f"held: a message sent {when(past.unknown)} may or may not have arrived (the "
                f"connection was lost after it was handed over). Ask the branch; "
                f"--resend '{out.branch.name}' sends it again")
    return out.status


RESULT_TEXT = {
    DELIVERED: "delivered",
    REFUSED: "refused by the server; it will be tried again next time",
    FAILED: "not sent (it will be tried again next time)",
    UNKNOWN: "fate unknown: the connection was lost after the message was handed over, so it "
             "may or may not have arrived. It will not be sent again by itself: ask the branch, "
             "then --resend BRANCH if it is missing",
    NOT_SENT: "not sent (it will be tried again next time)",
}


def describe_results(plan: Plan, results: list[Result]) -> list[str]:
    lines = []
    for result in results:
        out = next(m for m in plan.messages if m.branch is result.branch)
        text = RESULT_TEXT.get(result.state) or _status_text(out, plan)
        if result.state == UNKNOWN:
            text = text.replace("BRANCH", f"'{result.branch.name}'")
        detail = f" ({result.detail})" if result.detail else ""
        lines.append(f"{result.branch.name}: {text}{detail}")
    counts: dict[str, int] = {}
    for result in results:
        counts[result.state] = counts.get(result.state, 0) + 1
    order = (DELIVERED, REFUSED, FAILED, UNKNOWN, NOT_SENT, ALREADY, EARLIER, HELD)
    names = {ALREADY: "already delivered", EARLIER: "had an earlier version", HELD: "held"}
    summary = ", ".join(f"{counts[s]} {names.get(s, s)}" for s in order if s in counts)
    lines.append(f"{len(results)} branch(es): {summary}. Log: {display_path(plan.log.path)}")
    return lines


def all_well(results: list[Result]) -> bool:
    """True when every branch has the issue for certain."""
    return all(r.state in (DELIVERED, ALREADY) for r in results)


# --- .eml files ------------------------------------------------------------------------------


def write_eml(plan: Plan, folder: Path) -> list[Path]:
    """Each message as NN-branch.eml in `folder`, to send from a mail program. Nothing goes to
    the network and the log is not changed."""
    written = []
    for number, out in enumerate(plan.messages, 1):
        path = folder / f"{number:02d}-{out.branch.slug}.eml"
        try:
            write_atomically(path, out.message.as_bytes(policy=policy.SMTP))
        except OSError as error:
            raise PamphletError([Problem(path, None, f"cannot write this file: {error.strerror}",
                                         "check that you may write to the folder")]) from None
        written.append(path)
    return written


# --- sending ---------------------------------------------------------------------------------


def deliver(plan: Plan, secret: Secret | None, timeout: float = TIMEOUT,
            progress: Callable[[str], None] = lambda message: None) -> list[Result]:
    """Send the due messages, each logged before and after it is handed over. A refused
    recipient does not stop the others; a connection that drops is opened again for the next
    message. Returns one result per branch of the plan."""
    plan.settings.require_server()
    results: dict[int, Result] = {}
    with plan.log.locked():
        # Read the log again under the lock: another run may have sent since the plan was made.
        refresh(plan, plan.log.history())
        for i, out in enumerate(plan.messages):
            if out.status != SEND:
                results[i] = Result(out.branch, out.status, message_id=out.message_id)
        due = [(i, out) for i, out in enumerate(plan.messages) if out.status == SEND]
        smtp: smtplib.SMTP | None = None
        try:
            for n, (i, out) in enumerate(due):
                if smtp is None:
                    try:
                        smtp = connect(plan.settings, secret, timeout)
                    except PamphletError as error:
                        if n == 0:
                            raise
                        reason = "; ".join(p.message for p in error.problems)
                        for j, rest in due[n:]:
                            results[j] = Result(rest.branch, NOT_SENT, reason, rest.message_id)
                        break
                progress(f"sending to {out.branch.name}")
                state, detail, keep = _send_one(smtp, out, plan, secret)
                results[i] = Result(out.branch, state, detail, out.message_id)
                if not keep:
                    _close(smtp)
                    smtp = None
        finally:
            if smtp is not None:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    _close(smtp)
    return [results[i] for i in sorted(results)]


def _send_one(smtp: smtplib.SMTP, out: Outgoing, plan: Plan,
              secret: Secret | None) -> tuple[str, str, bool]:
    """(state, detail, connection still usable) for one message."""
    log, settings = plan.log, plan.settings
    assert settings.sender is not None
    data = out.message.as_bytes(policy=policy.SMTP)

    def record(state: str, detail: str = "") -> None:
        log.record(out.branch.name, out.to, out.message_id, out.attachment.sha256[:16],
                   state, detail)

    def reply(code: int, text: bytes | str) -> str:
        words = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        said = f"{code} {' '.join(words.split())}".strip()
        return secret.redact(said) if secret else said

    try:
        options = [f"SIZE={len(data)}"] if smtp.has_extn("size") else []
        code, text = smtp.mail(settings.sender.addr_spec, options)
        if code != 250:
            state = REFUSED if code >= 500 else FAILED
            detail = f"the server would not take mail from {settings.sender.addr_spec}: " \
                     f"{reply(code, text)}"
            record(state, detail)
            smtp.rset()
            return state, detail, True
        accepted, refused = [], []
        for address in out.to:
            code, text = smtp.rcpt(address)
            if code in (250, 251):
                accepted.append(address)
            else:
                refused.append((address, code, reply(code, text)))
        refusals = "; ".join(f"{address}: {said}" for address, _, said in refused)
        if not accepted:
            state = REFUSED if all(code >= 500 for _, code, _ in refused) else FAILED
            record(state, refusals)
            smtp.rset()
            return state, refusals, True
        record(SENDING)
    except (smtplib.SMTPException, OSError) as error:
        # Nothing was handed over: safe to try again.
        detail = _error_text(error, secret)
        record(FAILED, detail)
        return FAILED, detail, False
    try:
        code, text = smtp.data(data)
    except smtplib.SMTPDataError as error:
        # The server said no to DATA itself, before it was given the message.
        state = REFUSED if error.smtp_code >= 500 else FAILED
        detail = reply(error.smtp_code, error.smtp_error)
        record(state, detail)
        return state, detail, True
    except (smtplib.SMTPException, OSError) as error:
        detail = _error_text(error, secret)
        record(UNKNOWN, detail)
        return UNKNOWN, detail, False
    if code == 250:
        detail = f"to {', '.join(accepted)}" + (f"; refused {refusals}" if refused else "")
        record(DELIVERED, detail)
        return DELIVERED, detail, True
    state = REFUSED if code >= 500 else FAILED
    detail = reply(code, text)
    record(state, detail)
    return state, detail, True


def _error_text(error: BaseException, secret: Secret | None) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, smtplib.SMTPServerDisconnected | ConnectionError):
        text = f"connection lost: {text}"
    elif isinstance(error, TimeoutError | socket.timeout):
        text = "the server stopped answering"
    return secret.redact(text) if secret else text


def _close(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        smtp.close()


def tls_context(settings: Settings) -> ssl.SSLContext:
    """Certificates are always checked, against the system's authorities or, when the settings
    name one, the publication's own CA file instead. There is no way to turn the check off."""
    context = ssl.create_default_context(
        cafile=str(settings.ca_file) if settings.ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    return context


def connect(settings: Settings, secret: Secret | None, timeout: float = TIMEOUT) -> smtplib.SMTP:
    """An SMTP session over TLS (implicit, or STARTTLS which the server must offer), logged in
    when the settings name a user. Every failure is a PamphletError saying nothing was sent."""
    context = tls_context(settings)
    where = f"{settings.server}:{settings.port}"
    local = socket.gethostname() or "localhost"
    smtp: smtplib.SMTP | None = None
    file, line = settings.where("server")
    try:
        if settings.security == "ssl":
            smtp = smtplib.SMTP_SSL(settings.server, settings.port, local_hostname=local,
                                    timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(settings.server, settings.port, local_hostname=local,
                                timeout=timeout)
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise PamphletError([Problem(file, line, f"{where} does not offer STARTTLS, so "
                                             "the connection could not be encrypted; nothing "
                                             "was sent", "use security: ssl (usually port 465)")])
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.user:
            if secret is None:
                raise PamphletError([Problem(None, None, f"no password for {settings.user}",
                                             "set PAMPHLET_SMTP_PASSWORD or use the keyring")])
            smtp.login(settings.user, secret.reveal())
        return smtp
    except PamphletError:
        if smtp is not None:
            _close(smtp)
        raise
    except ssl.SSLCertVerificationError as error:
        _close_quietly(smtp)
        raise PamphletError([Problem(
            file, line, f"the certificate of {settings.server} could not be checked "
            f"({error.verify_message}); nothing was sent",
            "check the server name; a server with its own certificate authority needs that "
            f"authority's certificate named by ca_file: in {SETTINGS_FILE}")]) from None
    except ssl.SSLError as error:
        _close_quietly(smtp)
        raise PamphletError([Problem(
            file, line, f"could not start an encrypted connection with {where} "
            f"({error.reason or error}); nothing was sent",
            "port 465 is usually security: ssl, 587 security: starttls")]) from None
    except smtplib.SMTPAuthenticationError as error:
        _close_quietly(smtp)
        said = error.smtp_error.decode("utf-8", "replace") if isinstance(
            error.smtp_error, bytes) else str(error.smtp_error)
        said = secret.redact(said) if secret else said
        raise PamphletError([Problem(
            None, None, f"{settings.server} did not accept the user name or password for "
            f"{settings.user} ({error.smtp_code} {' '.join(said.split())}); nothing was sent",
            "check 'user:' and the password in PAMPHLET_SMTP_PASSWORD or the keyring")]) from None
    except UnicodeEncodeError:
        # smtplib sends the user name and password as ASCII; the error must not carry them.
        _close_quietly(smtp)
        raise PamphletError([Problem(
            None, None, f"the user name or password has a character that cannot be sent to "
            f"{settings.server} (only plain ASCII can be); nothing was sent",
            "change the password to one of plain letters, digits and signs")]) from None
    except smtplib.SMTPNotSupportedError:
        _close_quietly(smtp)
        raise PamphletError([Problem(
            file, settings.lines.get("user"), f"{where} does not offer a login; nothing was sent",
            "remove 'user:' if the server takes mail without one")]) from None
    except (smtplib.SMTPException, OSError) as error:
        _close_quietly(smtp)
        text = _error_text(error, secret)
        raise PamphletError([Problem(
            file, line, f"cannot connect to {where} ({text}); nothing was sent",
            f"check server and port in {SETTINGS_FILE} and that this machine is online")]) from None


def _close_quietly(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        _close(smtp)
