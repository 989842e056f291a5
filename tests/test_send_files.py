"""The files `pamphlet send` reads, checked like manifests: branches.yaml, sending.yaml and the
email template; and the message itself (headers, Message-ID, no header injection)."""

from __future__ import annotations

import datetime as dt
import pickle
import sys
import types
from email.headerregistry import Address
from pathlib import Path

import pytest
from conftest import write

from pamphlet.branches import Branch, load_branches, parse_address
from pamphlet.errors import PamphletError
from pamphlet.mailing import (
    DEFAULT_TEMPLATE,
    Attachment,
    compose_message,
    message_id,
    render_text,
    template_path,
)
from pamphlet.model import Issue
from pamphlet.send import tls_context
from pamphlet.sendsettings import load_settings, password, require_password


@pytest.fixture(autouse=True)
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def problems(call) -> list[str]:
    with pytest.raises(PamphletError) as caught:
        call()
    return [str(p) for p in caught.value.problems]


def test_branches_load_with_names_addresses_contacts_and_copies(tmp_path):
    write(tmp_path / "branches.yaml", """
        branches:
          - name: Northgate garage
            email: Jo Smith <jo@example.org>
            copies: 40
            contact: |
              **Northgate:** Jo, 07700 900456
          - name: Riverside
            email: [rep1@example.org, "Sam Rep <rep2@example.org>"]
        """)
    branches = load_branches(tmp_path).branches
    assert [b.name for b in branches] == ["Northgate garage", "Riverside"]
    assert [str(a) for a in branches[0].addresses] == ["Jo Smith <jo@example.org>"]
    assert branches[0].copies == 40 and branches[0].contact.startswith("**Northgate:**")
    assert [a.addr_spec for a in branches[1].addresses] == ["rep1@example.org", "rep2@example.org"]
    assert branches[1].contact == "" and branches[1].copies is None
    assert branches[0].slug == "northgate-garage"


def test_every_problem_in_the_branches_file_at_once_with_its_line(tmp_path):
    write(tmp_path / "branches.yaml", """
        branches:
          - name: Northgate
            email: jo@example.org
            copis: 3
          - name: Riverside
            email:
              - rep1@example,org
              - JO@example.org
              - mailto:x@example.org
          - name: northgate
            email: other@example.org
          - name: Eastgate
          - name: Westgate
            email: "a@example.org, b@example.org"
          - name: Southgate
            email: sec@example.org
            copies: lots
        """)
    found = problems(lambda: load_branches(tmp_path))
    assert found == [
        "branches.yaml:4: unknown key 'copis' in the branch (did you mean 'copies'?)",
        "branches.yaml:7: 'rep1@example,org' is not an email address (an address looks like "
        "name@example.org)",
        "branches.yaml:9: 'mailto:x@example.org' starts with mailto: (write the address "
        "alone: name@example.org)",
        "branches.yaml:8: JO@example.org is listed twice (first on line 3, for 'Northgate') "
        "(each address gets one copy: remove one of them)",
        "branches.yaml:10: the branch 'northgate' is listed twice (first on line 2) (give each "
        "branch one entry, with all its addresses under email:)",
        "branches.yaml:12: the branch has no 'email' (add a line 'email: ...' (one address, or "
        "a list of addresses))",
        "branches.yaml:14: 'a@example.org, b@example.org' looks like several addresses on one "
        "line (give a list, one address per line, each starting with '- ')",
        "branches.yaml:17: 'copies' should be a whole number, not 'lots' (write a whole number)",
    ]


def test_the_same_address_in_two_branches_is_a_problem(tmp_path):
    write(tmp_path / "branches.yaml", """
        branches:
          - name: Northgate
            email: jo@example.org
          - name: Riverside
            email: [sam@example.org, JO@example.org]
        """)
    assert problems(lambda: load_branches(tmp_path)) == [
        "branches.yaml:5: JO@example.org is listed twice (first on line 3, for 'Northgate') "
        "(each address gets one copy: remove one of them)"]


def test_a_missing_or_empty_branches_file(tmp_path):
    assert "there is no branches file" in problems(lambda: load_branches(tmp_path))[0]
    write(tmp_path / "branches.yaml", "branches: []\n")
    assert problems(lambda: load_branches(tmp_path)) == [
        "branches.yaml:1: the branches file lists no branches (add one entry per branch)"]
    write(tmp_path / "branches.yaml", "branches:\n  - name: [x\n")
    assert "this is not valid YAML" in problems(lambda: load_branches(tmp_path))[0]


@pytest.mark.parametrize("text", ["jo@example.org\r\nBcc: evil@example.org",
                                  "Jo <jo@example.org>\nBcc: x@example.org", "jo@localhost",
                                  'Jo "Boss" <jo@example.org>', "jo@exämple.org", "jo"])
def test_addresses_that_are_refused(text):
    address, what, hint = parse_address(text)
    assert address is None and what and hint


def test_settings_from_the_file_and_the_environment(tmp_path):
    write(tmp_path / "sending.yaml", """
        from: Busworker <busworker@example.org>
        server: smtp.example.org
        port: 587
        user: busworker@example.org
        max_attachment_mb: 5
        """)
    settings = load_settings(tmp_path, environ={})
    assert (settings.server, settings.port, settings.security) == ("smtp.example.org", 587, "starttls")
    assert str(settings.sender) == "Busworker <busworker@example.org>"
    assert settings.max_attachment_bytes == 5 * 1024 * 1024 and settings.target == "email"
    settings = load_settings(tmp_path, environ={"PAMPHLET_SMTP_SERVER": "mail.example.net",
                                                "PAMPHLET_SMTP_PORT": "465",
                                                "PAMPHLET_SMTP_SECURITY": "ssl"})
    assert (settings.server, settings.port, settings.security) == ("mail.example.net", 465, "ssl")
    assert settings.origin["server"] == "PAMPHLET_SMTP_SERVER"


def test_no_settings_file_means_ssl_on_465_and_the_manifest_sender(tmp_path):
    sender = Address("Paper", "paper", "example.org")
    settings = load_settings(tmp_path, sender, environ={})
    assert (settings.server, settings.port, settings.security) == ("", 465, "ssl")
    assert settings.sender == sender
    with pytest.raises(PamphletError, match="no mail server is set"):
        settings.require_server()


def test_a_password_in_the_settings_file_is_refused_and_not_repeated(tmp_path):
    write(tmp_path / "sending.yaml", """
        server: smtp.example.org
        user: me@example.org
        password: s3cret-Pa55
        """)
    found = problems(lambda: load_settings(tmp_path, environ={}))
    assert found == ["sending.yaml:3: 'password:' is not read from sending.yaml: a password is "
                     "never kept in a file (delete the line (and change the password if the file "
                     "was shared); set PAMPHLET_SMTP_PASSWORD or store it in the system keyring)"]
    assert "s3cret" not in "".join(found)


def test_bad_settings_each_with_its_line(tmp_path):
    write(tmp_path / "sending.yaml", """
        from: not an address
        server: smtp://smtp.example.org
        port: 99999
        security: none
        max_attachment_mb: lots
        ca_file: ../outside.pem
        sever: x
        """)
    found = problems(lambda: load_settings(tmp_path, environ={}))
    assert found[0] == "sending.yaml:7: unknown key 'sever' in the sending settings (did you mean 'server'?)"
    text = "\n".join(found)
    assert "sending.yaml:1: 'from': 'not an address' is not an email address" in text
    assert "sending.yaml:2: 'smtp://smtp.example.org' is not a server name" in text
    assert "sending.yaml:3: '99999' is not a port number" in text
    assert "sending.yaml:4: 'none' is not a way pamphlet sends (pamphlet only sends over an " \
           "encrypted connection" in text
    assert "sending.yaml:5: 'max_attachment_mb' should be a number of MB" in text
    assert "sending.yaml:6: ca_file: '../outside.pem' is outside the publication folder" in text
    found = problems(lambda: load_settings(tmp_path / "nowhere", environ={
        "PAMPHLET_SMTP_PORT": "x"}))
    assert found == ["PAMPHLET_SMTP_PORT: 'x' is not a port number (465 for ssl, 587 for starttls)"]


def test_the_password_comes_from_the_environment_or_the_keyring_and_is_never_shown(tmp_path,
                                                                                 monkeypatch):
    write(tmp_path / "sending.yaml", "server: smtp.example.org\nuser: me@example.org\n")
    settings = load_settings(tmp_path, environ={})
    secret = password(settings, {"PAMPHLET_SMTP_PASSWORD": "hunter2"})
    assert secret is not None and secret.reveal() == "hunter2"
    for shown in (repr(secret), str(secret), f"{secret}", repr([secret])):
        assert "hunter2" not in shown
    assert secret.redact("535 bad password hunter2") == "535 bad password ***"
    with pytest.raises(TypeError):
        pickle.dumps(secret)

    # No environment variable: the keyring, when the package is there ...
    asked = []

    def get_password(service, user):
        asked.append((service, user))
        return "from-the-keyring"

    monkeypatch.setitem(sys.modules, "keyring", types.SimpleNamespace(get_password=get_password))
    assert password(settings, {}).reveal() == "from-the-keyring"
    assert asked == [("pamphlet:smtp.example.org", "me@example.org")]

    # ... a keyring with no usable backend, or no keyring package: no password.
    def broken(service, user):
        raise RuntimeError("No recommended backend was available")

    monkeypatch.setitem(sys.modules, "keyring", types.SimpleNamespace(get_password=broken))
    assert password(settings, {}) is None
    monkeypatch.setitem(sys.modules, "keyring", None)  # import keyring -> ImportError
    assert password(settings, {}) is None
    with pytest.raises(PamphletError, match=r"no password for me@example\.org on smtp\.example\.org"):
        require_password(settings, {})


def test_certificates_are_always_checked(tmp_path):
    import ssl

    context = tls_context(load_settings(tmp_path, environ={}))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def issue(title: str = "Busworker", number: int | None = 12) -> Issue:
    return Issue(manifest=Path("issues/x.yaml"), root=Path("."), name="busworker-12", title=title,
                 layout="bulletin", date=dt.date(2026, 11, 24), articles=[], number=number)


def branch(name: str = "Northgate") -> Branch:
    return Branch(name, (Address("Jo", "jo", "example.org"),), copies=40)


def test_the_default_template_gives_subject_and_body(tmp_path):
    assert template_path(tmp_path) == DEFAULT_TEMPLATE
    context = {"issue": {"title": "Busworker", "number": 12, "date_text": "24 November 2026",
                         "website": "", "publisher": ""},
               "contents": ["Split shifts", "Budget"],
               "branch": {"name": "Northgate", "copies": 40, "own_contact": False},
               "attachment": {"name": "busworker-12.pdf", "size": "166 KB", "pages": 2}}
    subject, body = render_text(DEFAULT_TEMPLATE, context)
    assert subject == "Busworker No 12, 24 November 2026"
    assert body.startswith("Dear Northgate,\n\nHere is Busworker No 12, dated 24 November 2026, "
                           "ready to print: busworker-12.pdf (166 KB, 2 pages).\n"
                           "Your branch prints 40 copies.\n\nIn this issue:\n"
                           "  - Split shifts\n  - Budget\n\nPlease reply")


def test_a_publication_template_overrides_and_is_sandboxed(tmp_path):
    own = write(tmp_path / "email.txt", """
        Subject: {{ issue.title }} for {{ branch.name }}

        Hello {{ branch.name }}.
        """)
    assert template_path(tmp_path) == own
    context = {"issue": {"title": "T"}, "branch": {"name": "B"}}
    assert render_text(own, context) == ("T for B", "Hello B.\n")
    own.write_text("Subject: x\n\n{{ issue.__class__.__mro__ }}\n")
    assert "template error" in problems(lambda: render_text(own, context))[0]
    own.write_text("Subject: x\n\nline two\n{{ issue.titel }}\n")
    assert problems(lambda: render_text(own, context))[0].startswith("email.txt:4: template error")
    own.write_text("Dear all\n")
    assert problems(lambda: render_text(own, context)) == [
        "email.txt:1: the email template's first line should be 'Subject: …' (then a blank "
        "line, then the message)"]


def test_message_id_is_stable_per_issue_branch_and_pdf():
    sender = Address("Paper", "paper", "example.org")
    first = message_id(issue(), branch(), "a" * 64, sender)
    assert first == message_id(issue(), branch(), "a" * 64, sender)
    assert first.startswith("<pamphlet.") and first.endswith("@example.org>")
    assert first != message_id(issue(), branch(), "b" * 64, sender)
    assert first != message_id(issue(), branch("Riverside"), "a" * 64, sender)


def test_the_message_refuses_a_line_break_in_any_header():
    sender = Address("Paper", "paper", "example.org")
    common = {"sender": sender, "to": branch().addresses, "body": "Hello\n",
              "attachment": Attachment("x.pdf", b"%PDF-1.7 test"), "message_id": "<a@b>"}
    message = compose_message(subject="Busworker No 12", **common)
    data = message.as_bytes()
    assert b"Subject: Busworker No 12\r\n" in data and b"To: Jo <jo@example.org>\r\n" in data
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        compose_message(subject="Hi\r\nBcc: evil@x", **common)
    with pytest.raises(ValueError):
        Address("Jo\r\nBcc: evil@x", "jo", "example.org")
