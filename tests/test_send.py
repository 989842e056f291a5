"""`pamphlet send` against a real SMTP server on 127.0.0.1 (aiosmtpd), over TLS with a login:
what arrives, the send log, refusals, a dropped connection, re-runs that send nothing, and
the checks that stop a send before it connects. No mocks of smtplib."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
from conftest import write
from mailserver import (
    PASSWORD,
    USER,
    Authority,
    Mailbox,
    connected,
    listener,
    smtp_server,
)
from typer.testing import CliRunner

from pamphlet import cli
from pamphlet.branches import Branch
from pamphlet.build import output_path
from pamphlet.errors import PamphletError
from pamphlet.send import deliver, edition_pdf, plan_send
from pamphlet.sendlog import SendLog
from pamphlet.sendsettings import Secret

runner = CliRunner()

BRANCHES = """
    branches:
      - name: Northgate
        email: Jo Smith <jo@northgate.example.org>
        copies: 40
      - name: Riverside
        email:
          - rep1@riverside.example.org
          - rep2@riverside.example.org
      - name: Eastgate
        email: sec@eastgate.example.org
    """


def write_bulletin(root: Path) -> Path:
    """A small two-sided bulletin: its PDF builds in about a second."""
    write(root / "issues" / "issue-1.yaml", """
        title: The Test Sheet
        layout: bulletin
        number: 7
        date: 2026-11-20
        email: sheet@example.org
        contact: "**Got a story?** Email sheet@example.org"
        articles:
          - issue-1/lead.md
          - issue-1/short.md
        """)
    write(root / "issues" / "issue-1" / "lead.md", """
        ---
        title: Cleaners win the living wage
        place: front
        ---
        The cleaners walked out on Monday and stayed out until Friday.
        """)
    write(root / "issues" / "issue-1" / "short.md", """
        ---
        title: Kettle Logic
        ---
        The new kettle takes eleven minutes to boil.
        """)
    return root / "issues" / "issue-1.yaml"


@pytest.fixture(scope="session")
def authority() -> Authority:
    return Authority()


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """The bulletin, built once for the session; tests work on copies (mtimes kept)."""
    root = tmp_path_factory.mktemp("built") / "paper"
    manifest = write_bulletin(root)
    from pamphlet.build import load

    issue, _, _ = load(manifest)
    edition_pdf(manifest, issue, Branch("any", ()), "email")
    return root


class Paper:
    def __init__(self, root: Path, authority: Authority) -> None:
        self.root = root
        self.manifest = root / "issues" / "issue-1.yaml"
        self.authority = authority
        (root / "test-ca.pem").write_bytes(authority.pem())
        write(root / "branches.yaml", BRANCHES)

    def settings(self, port: int, security: str = "ssl", extra: str = "") -> None:
        write(self.root / "sending.yaml", f"""
            from: The Test Sheet <sheet@example.org>
            server: 127.0.0.1
            port: {port}
            security: {security}
            user: {USER}
            ca_file: test-ca.pem
            """ + extra)

    @property
    def log(self) -> SendLog:
        return SendLog(self.root, "issue-1")

    def states(self) -> list[tuple[str, str]]:
        return [(e.branch, e.state) for e in self.log.entries()]

    def plan(self, **options):
        return plan_send(self.manifest, environ={}, **options)

    def send(self, **options):
        plan = self.plan(**options)
        return plan, deliver(plan, Secret(PASSWORD), timeout=10)


@pytest.fixture
def paper(built, tmp_path, authority, monkeypatch) -> Paper:
    root = tmp_path / "paper"
    shutil.copytree(built, root)
    monkeypatch.chdir(root)
    for variable in ("PAMPHLET_SMTP_SERVER", "PAMPHLET_SMTP_PORT", "PAMPHLET_SMTP_USER",
                     "PAMPHLET_SMTP_SECURITY", "PAMPHLET_SMTP_PASSWORD"):
        monkeypatch.delenv(variable, raising=False)
    return Paper(root, authority)


def results_by_branch(results) -> dict[str, str]:
    return {r.branch.name: r.state for r in results}


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_send_over_tls_with_login_delivers_each_branch_once(paper, authority, security):
    mailbox = Mailbox()
    with smtp_server(mailbox, authority, security) as port:
        paper.settings(port, security)
        plan, results = paper.send()
        assert results_by_branch(results) == {"Northgate": "delivered", "Riverside": "delivered",
                                              "Eastgate": "delivered"}
        assert mailbox.logins == [USER]  # one session for all three
        pdf = output_path(plan.issue.root, plan.issue.name, "email").read_bytes()
        assert len(mailbox.received) == 3
        first = mailbox.received[0]
        assert first.mail_from == "sheet@example.org"
        assert first.rcpt_tos == ["jo@northgate.example.org"]
        message = first.message
        assert message["From"] == "The Test Sheet <sheet@example.org>"
        assert message["To"] == "Jo Smith <jo@northgate.example.org>"
        assert message["Subject"] == "The Test Sheet No 7, 20 November 2026"
        assert message["Message-ID"] == plan.messages[0].message_id
        assert message["Date"]
        body = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert "Dear Northgate" in body and "40 copies" in body
        assert "  - Cleaners win the living wage\n  - Kettle Logic" in body
        (attachment,) = list(message.iter_attachments())
        assert attachment.get_filename() == "issue-1.pdf"
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_content() == pdf
        assert mailbox.received[1].rcpt_tos == ["rep1@riverside.example.org",
                                                "rep2@riverside.example.org"]

        # The log: 'sending' before, 'delivered' after, for each message.
        assert paper.states() == [("Northgate", "sending"), ("Northgate", "delivered"),
                                  ("Riverside", "sending"), ("Riverside", "delivered"),
                                  ("Eastgate", "sending"), ("Eastgate", "delivered")]

        # Again: nothing is sent, and the server is not even asked.
        plan, results = paper.send()
        assert set(results_by_branch(results).values()) == {"already"}
        assert len(mailbox.received) == 3 and mailbox.logins == [USER]


def test_a_refused_recipient_does_not_stop_the_others_and_is_tried_again(paper, authority):
    mailbox = Mailbox(refuse={"jo@northgate.example.org"})
    with smtp_server(mailbox, authority) as port:
        paper.settings(port)
        _, results = paper.send()
        assert results_by_branch(results) == {"Northgate": "refused", "Riverside": "delivered",
                                              "Eastgate": "delivered"}
        refused = next(r for r in results if r.state == "refused")
        assert "550" in refused.detail and "jo@northgate.example.org" in refused.detail
        assert [r.rcpt_tos for r in mailbox.received] == [
            ["rep1@riverside.example.org", "rep2@riverside.example.org"],
            ["sec@eastgate.example.org"]]

        mailbox.refuse.clear()
        _, results = paper.send()
        assert results_by_branch(results) == {"Northgate": "delivered", "Riverside": "already",
                                              "Eastgate": "already"}
        assert len(mailbox.received) == 3
        assert mailbox.received[-1].rcpt_tos == ["jo@northgate.example.org"]


def test_one_refused_address_of_two_still_delivers_to_the_other(paper, authority):
    mailbox = Mailbox(refuse={"rep2@riverside.example.org"})
    with smtp_server(mailbox, authority) as port:
        paper.settings(port)
        _, results = paper.send(only=["riverside"])
    (result,) = results
    assert result.state == "delivered"
    assert "refused rep2@riverside.example.org: 550" in result.detail
    assert mailbox.received[0].rcpt_tos == ["rep1@riverside.example.org"]


def test_a_dropped_connection_after_data_is_unknown_and_never_resent_by_itself(paper, authority):
    mailbox = Mailbox(drop={"rep1@riverside.example.org"})
    with smtp_server(mailbox, authority) as port:
        paper.settings(port)
        plan, results = paper.send()
        # The server did get the message, but said nothing before hanging up.
        assert results_by_branch(results) == {"Northgate": "delivered", "Riverside": "unknown",
                                              "Eastgate": "delivered"}
        assert len(mailbox.received) == 3
        assert len(mailbox.logins) == 2  # the client connected again for Eastgate
        assert ("Riverside", "sending") in paper.states()
        assert paper.states()[-3:-2] == [("Riverside", "unknown")]

        # The next run sends nothing: Riverside is held, not resent blindly.
        mailbox.drop.clear()
        plan, results = paper.send()
        assert results_by_branch(results) == {"Northgate": "already", "Riverside": "held",
                                              "Eastgate": "already"}
        assert len(mailbox.received) == 3
        out = runner.invoke(cli.app, ["send", "issue-1"], env={})
        assert out.exit_code == 0, out.output
        assert "Riverside: held: a message sent" in out.output
        assert "--resend 'Riverside'" in out.output

        # Asked for by name, it goes again with the same Message-ID.
        first_id = plan.messages[1].message_id
        _, results = paper.send(resend=["Riverside"])
        assert results_by_branch(results)["Riverside"] == "delivered"
        assert len(mailbox.received) == 4
        assert mailbox.received[-1].message["Message-ID"] == first_id


def test_a_lost_outcome_with_no_line_after_sending_is_held(paper, authority):
    """A run killed between 'sending' and the outcome leaves only 'sending' in the log."""
    mailbox = Mailbox()
    with smtp_server(mailbox, authority) as port:
        paper.settings(port)
        plan = paper.plan()
        out = plan.messages[2]
        paper.log.record(out.branch.name, out.to, out.message_id, "x", "sending")
        _, results = paper.send()
    assert results_by_branch(results) == {"Northgate": "delivered", "Riverside": "delivered",
                                          "Eastgate": "held"}
    assert len(mailbox.received) == 2


def test_an_edited_pdf_is_a_new_message_sent_only_when_asked(paper, authority):
    mailbox = Mailbox()
    with smtp_server(mailbox, authority) as port:
        paper.settings(port)
        plan, _ = paper.send(only=["Eastgate"])
        old_id = plan.messages[0].message_id
        article = paper.root / "issues" / "issue-1" / "short.md"
        article.write_text(article.read_text().replace("eleven", "twelve"))
        plan, results = paper.send(only=["Eastgate"])
        assert plan.messages[0].message_id != old_id
        assert results[0].state == "earlier"
        _, results = paper.send(only=["Eastgate"], resend=["Eastgate"])
        assert results[0].state == "delivered"
    assert [r.message["Message-ID"] for r in mailbox.received] == [old_id, plan.messages[0].message_id]


def test_an_untrusted_certificate_is_a_clear_error_and_nothing_is_sent(paper, authority):
    stranger = Authority()  # a server whose certificate our CA file does not vouch for
    mailbox = Mailbox()
    with smtp_server(mailbox, stranger) as port:
        paper.settings(port)
        with pytest.raises(PamphletError) as caught:
            paper.send()
        message = str(caught.value)
        assert "the certificate of 127.0.0.1 could not be checked" in message
        assert "nothing was sent" in message
        # Without a CA file the system's authorities do not know it either.
        paper.settings(port, extra="")
        (paper.root / "sending.yaml").write_text(
            (paper.root / "sending.yaml").read_text().replace("ca_file: test-ca.pem\n", ""))
        with pytest.raises(PamphletError, match="could not be checked"):
            paper.send()
    assert mailbox.received == [] and mailbox.logins == []
    assert paper.log.entries() == []


def test_a_server_without_starttls_or_tls_gets_nothing(paper, authority):
    mailbox = Mailbox()
    with smtp_server(mailbox, authority, "plain") as port:
        paper.settings(port, "starttls")
        with pytest.raises(PamphletError, match="does not offer STARTTLS, so the connection "
                           "could not be encrypted; nothing was sent"):
            paper.send()
        paper.settings(port, "ssl")
        with pytest.raises(PamphletError, match="could not start an encrypted connection"):
            paper.send()
    assert mailbox.received == [] and paper.log.entries() == []


def test_a_wrong_password_is_refused_and_never_printed(paper, authority):
    secret = "hunter2-not-the-password"
    mailbox = Mailbox()
    with smtp_server(mailbox, authority) as port:
        paper.settings(port)
        out = runner.invoke(cli.app, ["--debug", "send", "issue-1", "--send"],
                            env={"PAMPHLET_SMTP_PASSWORD": secret})
    assert out.exit_code == 1
    assert "did not accept the user name or password" in out.output
    assert "nothing was sent" in out.output.lower()
    plain = f"\0{USER}\0{secret}".encode()
    for shown in (secret, base64.b64encode(plain).decode(), base64.b64encode(secret.encode()).decode()):
        assert shown not in out.output
    assert mailbox.received == []


def test_a_password_smtplib_cannot_send_is_a_clear_error(paper, authority):
    mailbox = Mailbox()
    with smtp_server(mailbox, authority) as port:
        paper.settings(port)
        plan = paper.plan()
        with pytest.raises(PamphletError) as caught:
            deliver(plan, Secret("pässwörd-secret"), timeout=10)
    assert "cannot be sent to 127.0.0.1 (only plain ASCII can be)" in str(caught.value)
    assert caught.value.__cause__ is None and "secret" not in str(caught.value)


def test_the_command_sends_with_the_password_from_the_environment(paper, authority):
    mailbox = Mailbox(refuse={"sec@eastgate.example.org"})
    with smtp_server(mailbox, authority, "starttls") as port:
        paper.settings(port, "starttls")
        out = runner.invoke(cli.app, ["--debug", "send", "issue-1", "--send"],
                            env={"PAMPHLET_SMTP_PASSWORD": PASSWORD})
    assert out.exit_code == 1, out.output  # one branch refused
    assert "Northgate: delivered (to jo@northgate.example.org)" in out.output
    assert "Eastgate: refused by the server; it will be tried again next time" in out.output
    assert "3 branch(es): 2 delivered, 1 refused." in out.output
    assert PASSWORD not in out.output
    lines = (paper.root / "sent" / "issue-1.log.jsonl").read_text().splitlines()
    assert [json.loads(line)["state"] for line in lines] == [
        "sending", "delivered", "sending", "delivered", "refused"]
    assert PASSWORD not in "".join(lines)


def test_no_password_is_an_error_before_connecting(paper):
    with listener() as (port, sock):
        paper.settings(port)
        out = runner.invoke(cli.app, ["send", "issue-1", "--send"], env={})
        assert out.exit_code == 1
        assert f"no password for {USER} on 127.0.0.1" in out.output
        assert "PAMPHLET_SMTP_PASSWORD" in out.output
        assert not connected(sock)


def test_the_dry_run_never_connects_and_says_who_gets_what(paper):
    with listener() as (port, sock):
        paper.settings(port)
        out = runner.invoke(cli.app, ["send", "issue-1"],
                            env={"PAMPHLET_SMTP_PASSWORD": PASSWORD})
        assert out.exit_code == 0, out.output
        assert not connected(sock)
    assert f"from The Test Sheet <sheet@example.org>, via 127.0.0.1:{port} (TLS)" in out.output
    assert "Northgate: to send" in out.output
    assert "  to       rep1@riverside.example.org, rep2@riverside.example.org" in out.output
    assert "  subject  The Test Sheet No 7, 20 November 2026" in out.output
    assert "  attached issue-1.pdf, " in out.output and "(the email PDF; prints 40 copies)" in out.output
    assert "Dry run: nothing was sent. --send sends the 3 message(s)" in out.output
    assert not (paper.root / "sent" / "issue-1.log.jsonl").exists()


def test_too_big_an_attachment_is_refused_before_connecting(paper):
    with listener() as (port, sock):
        paper.settings(port, extra="max_attachment_mb: 0.01\n")
        out = runner.invoke(cli.app, ["send", "issue-1", "--send", "--target", "office"],
                            env={"PAMPHLET_SMTP_PASSWORD": PASSWORD})
        assert out.exit_code == 1
        assert "more than the 10 KB the settings allow" in out.output
        assert "--target email" in out.output
        assert "Nothing was sent." in out.output
        assert not connected(sock)


def test_only_and_eml_write_messages_without_the_network(paper, tmp_path):
    with listener() as (port, sock):
        paper.settings(port)
        out = runner.invoke(cli.app, ["send", "issue-1", "--only", "riverside", "--eml",
                                      str(tmp_path / "out")], env={})
        assert out.exit_code == 0, out.output
        assert not connected(sock)
    (eml,) = sorted((tmp_path / "out").iterdir())
    assert eml.name == "01-riverside.eml"
    assert b"To: rep1@riverside.example.org, rep2@riverside.example.org\r\n" in eml.read_bytes()
    assert not paper.log.path.exists()
    out = runner.invoke(cli.app, ["send", "issue-1", "--only", "Riverdale"], env={})
    assert out.exit_code == 1
    assert "there is no branch called 'Riverdale' (did you mean 'Riverside'?)" in out.output


def test_a_title_cannot_inject_headers(paper, authority):
    manifest = paper.manifest
    manifest.write_text(manifest.read_text().replace(
        "title: The Test Sheet", 'title: "Sheet\\r\\nBcc: evil@x.example.org"'))
    mailbox = Mailbox()
    with smtp_server(mailbox, authority) as port:
        paper.settings(port)
        _, results = paper.send(only=["Eastgate"])
    assert results[0].state == "delivered"
    (received,) = mailbox.received
    assert received.rcpt_tos == ["sec@eastgate.example.org"]
    message = received.message
    assert message["Bcc"] is None
    assert message["Subject"] == "Sheet Bcc: evil@x.example.org No 7, 20 November 2026"
    head = received.data.split(b"\r\n\r\n")[0]
    assert b"\r\nBcc:" not in head


def test_a_branch_with_its_own_contact_block_gets_its_own_edition_built_once(paper, authority):
    from helpers import page_words

    write(paper.root / "branches.yaml", BRANCHES + """
      - name: Westgate
        email: wg@westgate.example.org
        contact: "**Westgate branch:** ask Priya on 07700 900777"
    """)
    plan = paper.plan()
    west = plan.messages[3]
    assert west.pdf.parent.name == "editions"
    words = [w for page in page_words(west.pdf) for w in page]
    assert "priya" in words and "got" not in words  # in place of the issue's contact block
    others = [w for page in page_words(plan.messages[0].pdf) for w in page]
    assert "priya" not in others and "got" in others
    assert plan.messages[3].message_id != plan.messages[0].message_id
    built_at = west.pdf.stat().st_mtime_ns
    again = paper.plan()
    assert again.messages[3].pdf == west.pdf and west.pdf.stat().st_mtime_ns == built_at
    mailbox = Mailbox()
    with smtp_server(mailbox, authority) as port:
        paper.settings(port)
        _, results = paper.send(only=["Westgate"])
    assert results[0].state == "delivered"
    (attachment,) = list(mailbox.received[0].message.iter_attachments())
    assert attachment.get_content() == west.pdf.read_bytes()


def test_an_unreadable_log_line_stops_the_send(paper):
    paper.log.path.parent.mkdir()
    paper.log.path.write_text('{"branch": "Northgate", "sta\n')
    with pytest.raises(PamphletError, match="this line of the send log cannot be read"):
        paper.plan()


def test_settings_from_the_environment_win(paper, authority):
    mailbox = Mailbox()
    with smtp_server(mailbox, authority) as port:
        paper.settings(1)  # a port nothing listens on
        plan = plan_send(paper.manifest, only=["Eastgate"],
                         environ={"PAMPHLET_SMTP_PORT": str(port)})
        assert plan.settings.port == port
        results = deliver(plan, Secret(PASSWORD), timeout=10)
    assert results[0].state == "delivered"


def test_a_server_that_is_not_there_is_a_clear_error(paper):
    with listener() as (port, _):
        pass  # closed again: nothing listens on the port now
    paper.settings(port)
    with pytest.raises(PamphletError, match=f"cannot connect to 127.0.0.1:{port}"):
        paper.send()
    assert paper.log.entries() == []

