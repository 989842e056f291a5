"""How pamphlet sends email: `sending.yaml` in the publication folder, then the environment;
the password only from the environment or the system keyring, and never shown."""

from __future__ import annotations

import os
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from email.headerregistry import Address
from pathlib import Path
from typing import Any

from .branches import parse_address
from .errors import PamphletError, Problem, Problems
from .paths import Refused, resolve_inside
from .schema import Field, check_mapping
from .yamlfile import Mapping, parse_yaml, read_text

SETTINGS_FILE = "sending.yaml"
PASSWORD_ENV = "PAMPHLET_SMTP_PASSWORD"
KEYRING_SERVICE = "pamphlet"
"""Keyring entries are looked up as service 'pamphlet:SERVER', user USER."""
DEFAULT_LIMIT_MB = 15
DEFAULT_TARGET = "email"
SECURITY = {"ssl": 465, "starttls": 587}
"""The two ways pamphlet talks to a server, with their usual ports. There is no third."""

SETTINGS_KEYS = {
    "from": Field("text", help="who the email is from, e.g. Busworker <busworker@example.org>"),
    "reply_to": Field("text", help="where replies go, if not to the 'from' address"),
    "server": Field("text", help="the outgoing mail server, e.g. smtp.example.org"),
    "port": Field("int", help="465 for security: ssl, 587 for security: starttls"),
    "security": Field("text", help="ssl or starttls"),
    "user": Field("text", help="the user name for the mail server"),
    "max_attachment_mb": Field("text", help="the largest PDF to send, in MB (default 15)"),
    "target": Field("text", help="which print target's PDF to send (default email)"),
    "ca_file": Field("text", help="a certificate authority file in the publication folder, for "
                     "a server with its own certificates"),
}
ENVIRONMENT = {
    "server": "PAMPHLET_SMTP_SERVER",
    "port": "PAMPHLET_SMTP_PORT",
    "security": "PAMPHLET_SMTP_SECURITY",
    "user": "PAMPHLET_SMTP_USER",
}
"""Settings the environment may give; they win over sending.yaml."""
_PASSWORD_KEYS = ("password", "pass", "passwd", "smtp_password", "secret", "token")


class Secret:
    """A password. It prints as *** everywhere (repr, str, f-strings, tracebacks of frames that
    show it); only `reveal()` gives the text, at the moment it is sent to the server."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def redact(self, text: str) -> str:
        """`text` with the password (should a server ever echo it) replaced by ***."""
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a password is not pickled")


@dataclass
class Settings:
    sender: Address | None
    reply_to: Address | None = None
    server: str = ""
    port: int = 465
    security: str = "ssl"
    user: str = ""
    max_attachment_bytes: int = DEFAULT_LIMIT_MB * 1024 * 1024
    target: str = DEFAULT_TARGET
    ca_file: Path | None = None
    file: Path | None = None
    lines: dict[str, int] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    """Where each setting came from: 'sending.yaml' or the environment variable's name."""

    @property
    def server_text(self) -> str:
        return f"{self.server}:{self.port} ({'TLS' if self.security == 'ssl' else 'STARTTLS'})"

    def where(self, key: str) -> tuple[Path | None, int | None]:
        """The file and line that set `key`, for a problem about it."""
        if key in self.lines:
            return self.file, self.lines[key]
        return self.file, None

    def require_server(self) -> None:
        """Raise unless there is a server to send to."""
        if not self.server:
            raise PamphletError([Problem(
                self.file, None, "no mail server is set",
                f"put 'server: smtp.example.org' in {SETTINGS_FILE}, or set {ENVIRONMENT['server']}")])


def load_settings(root: Path, default_sender: Address | None = None,
                  environ: MappingABC[str, str] | None = None) -> Settings:
    """Read `sending.yaml` (optional) in the publication folder `root`, then the environment.
    `default_sender` (from the manifest) is used when neither says who the email is from."""
    env = os.environ if environ is None else environ
    file = root / SETTINGS_FILE
    problems = Problems()
    data: Any = Mapping()
    if file.exists():
        data = parse_yaml(read_text(file), file)
        if data is None:
            data = Mapping()
    if isinstance(data, Mapping):
        for key in _PASSWORD_KEYS:
            if key in data:
                # Never echo the value: it is somebody's password.
                problems.add(file, data.lines.get(key), f"'{key}:' is not read from "
                             f"{SETTINGS_FILE}: a password is never kept in a file",
                             f"delete the line (and change the password if the file was shared); "
                             f"set {PASSWORD_ENV} or store it in the system keyring")
                del data[key]
    fields = check_mapping(data, SETTINGS_KEYS, file, problems, "sending settings")
    lines = dict(data.lines) if isinstance(data, Mapping) else {}
    origin = {key: SETTINGS_FILE for key in fields}
    for key, variable in ENVIRONMENT.items():
        value = env.get(variable, "").strip()
        if value:
            fields[key] = value
            origin[key] = variable
            lines.pop(key, None)
    settings = Settings(sender=default_sender, file=file if file.exists() else None,
                        lines=lines, origin=origin)

    def where(key: str) -> tuple[Path | None, int | None]:
        if origin.get(key, SETTINGS_FILE) != SETTINGS_FILE:
            return None, None
        return file, lines.get(key)

    def bad(key: str, message: str, hint: str = "") -> None:
        source = origin.get(key)
        if source and source != SETTINGS_FILE:
            message = f"{source}: {message}"
        problems.add(*where(key), message, hint)

    for key in ("from", "reply_to"):
        if key in fields:
            address, what, hint = parse_address(fields[key])
            if address is None:
                bad(key, f"'{key}': {what}", hint)
            elif key == "from":
                settings.sender = address
            else:
                settings.reply_to = address
    settings.server = fields.get("server", "")
    if settings.server and not _is_host(settings.server):
        bad("server", f"'{settings.server}' is not a server name",
            "give the name alone, e.g. smtp.example.org (no smtp:// and no port)")
    security = str(fields.get("security", "")).lower()
    if security == "tls":
        security = "ssl"
    port_text = str(fields.get("port", ""))
    if port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536):
        bad("port", f"'{port_text}' is not a port number", "465 for ssl, 587 for starttls")
        port_text = ""
    if security and security not in SECURITY:
        bad("security", f"'{security}' is not a way pamphlet sends",
            "pamphlet only sends over an encrypted connection: use ssl (usually port 465) "
            "or starttls (usually port 587)")
        security = ""
    if not security:
        security = "starttls" if port_text in ("587", "25") else "ssl"
    settings.security = security
    settings.port = int(port_text) if port_text else SECURITY[security]
    settings.user = fields.get("user", "")
    if "max_attachment_mb" in fields:
        try:
            limit = float(fields["max_attachment_mb"])
            if not 0 < limit < 10_000:
                raise ValueError
            settings.max_attachment_bytes = int(limit * 1024 * 1024)
        except ValueError:
            bad("max_attachment_mb", f"'max_attachment_mb' should be a number of MB, not "
                f"'{fields['max_attachment_mb']}'", "e.g. max_attachment_mb: 15")
    settings.target = fields.get("target", DEFAULT_TARGET)
    if "ca_file" in fields:
        try:
            settings.ca_file = resolve_inside(fields["ca_file"], root, root, 1024 * 1024)
        except Refused as refused:
            bad("ca_file", f"ca_file: {refused.message}", refused.hint)
    problems.raise_if_any()
    return settings


def _is_host(name: str) -> bool:
    labels = name.rstrip(".").split(".")
    return all(label and len(label) < 64 and label.replace("-", "").isalnum() and label.isascii()
               and not label.startswith("-") for label in labels) and len(name) < 254


def password(settings: Settings, environ: MappingABC[str, str] | None = None) -> Secret | None:
    """The mail server password: the environment's PAMPHLET_SMTP_PASSWORD, else the system
    keyring (service 'pamphlet:SERVER', user USER) when the `keyring` package is installed.
    None when there is none; never read from a file."""
    env = os.environ if environ is None else environ
    value = env.get(PASSWORD_ENV, "")
    if value:
        return Secret(value)
    if not settings.user or not settings.server:
        return None
    try:
        import keyring  # optional: absent means the keyring is not used
    except ImportError:
        return None
    try:
        stored = keyring.get_password(f"{KEYRING_SERVICE}:{settings.server}", settings.user)
    except Exception:  # no usable keyring backend on this machine: the same as no entry
        return None
    return Secret(stored) if stored else None


def require_password(settings: Settings, environ: MappingABC[str, str] | None = None) -> Secret | None:
    """The password when the settings name a user (raise if there is none), else None.
    Raises first if there is no server to send to."""
    settings.require_server()
    if not settings.user:
        return None
    secret = password(settings, environ)
    if secret is None:
        raise PamphletError([Problem(
            None, None, f"no password for {settings.user} on {settings.server}",
            f"set {PASSWORD_ENV} in the environment, or store it in the system keyring: "
            f"keyring set {KEYRING_SERVICE}:{settings.server} {settings.user}")])
    return secret
