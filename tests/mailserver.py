"""A real SMTP server on 127.0.0.1 for the send tests (aiosmtpd in a thread), with TLS from a
throwaway certificate authority (trustme), login, and ways to misbehave: refuse a recipient,
or drop the connection once it has taken a message."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

USER = "editor@example.org"
PASSWORD = "correct horse battery staple"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class Mailbox:
    """The handler: keeps what arrives; refuses `refuse`; for a message to an address in
    `drop`, takes it and then closes the connection before answering."""

    refuse: set[str] = field(default_factory=set)
    drop: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      bytes(envelope.original_content or envelope.content)))
        if self.drop & set(envelope.rcpt_tos):
            server.transport.close()
        return "250 OK: queued"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER
              and auth_data.password.decode() == PASSWORD)
        if ok:
            self.logins.append(USER)
        return AuthResult(success=ok, handled=False)

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


class Authority:
    """A throwaway CA and a certificate for 127.0.0.1 and localhost."""

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self.cert = self.ca.issue_cert("127.0.0.1", "localhost")

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(context)
        return context

    def pem(self) -> bytes:
        return self.ca.cert_pem.bytes()


class ImplicitTLSSMTP(SMTP):
    """aiosmtpd counts only STARTTLS as TLS for `auth_require_tls`; with implicit TLS the
    whole connection is encrypted before a word is said, so login is allowed from the start."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._auth_require_tls = False


class ImplicitTLSController(Controller):
    def factory(self) -> SMTP:
        return ImplicitTLSSMTP(self.handler, **self.SMTP_kwargs)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def smtp_server(mailbox: Mailbox, authority: Authority, security: str = "ssl",
                login: bool = True) -> Iterator[int]:
    """Serve on 127.0.0.1 with implicit TLS ('ssl'), STARTTLS, or none ('plain', which offers
    neither TLS nor login); yield the port."""
    port = free_port()
    options: dict = {"server_hostname": "localhost"}
    if login and security != "plain":
        options.update(authenticator=mailbox.authenticate, auth_required=True,
                       auth_require_tls=True)
    if security == "ssl":
        options["ssl_context"] = authority.server_context()
    elif security == "starttls":
        options.update(tls_context=authority.server_context(), require_starttls=True)
    controller = (ImplicitTLSController if security == "ssl" else Controller)(
        mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@contextmanager
def listener() -> Iterator[tuple[int, socket.socket]]:
    """A plain TCP socket that only listens: `connected(sock)` says whether anything tried."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1], sock
    finally:
        sock.close()


def connected(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True
