"""The service desk's e-mail channel (issue 13, R-INTAKE): a real SMTP listener taking mail from
Python's smtplib into real PostgreSQL, threading replies, quarantining programs' mail, and
acknowledgements sent through the outbox to a real SMTP catcher."""
from __future__ import annotations

import re
import smtplib
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.utils import make_msgid

import psycopg
import pytest

from maintenance import policy as policies
from maintenance.outbox.delivery import deliver_due, fan_out
from maintenance.outbox.mail import MailTransport
from maintenance.servicedesk import MessageKind, RequestState, move
from maintenance.servicedesk import mail_out
from maintenance.servicedesk.smtp_listener import SmtpListener
from pilecare.errors import InvalidInput
from pilecare.settings import Settings
from simulators.mail_catcher import MailCatcher
from tests.tcp_proxy import Proxy

POLICY = policies.load()
DESK = "service@pilecare.local"
JANA = "jana@metro.example"          # a contact of CUST-1
BOB = "bob@rival.example"            # a contact of CUST-2


@pytest.fixture
def customers(db, fleet):
    db.execute("INSERT INTO customers (id, name, tier) VALUES ('CUST-2', 'Rival Charging', 'standard')")
    db.execute("INSERT INTO customer_contacts (customer_id, name, email) VALUES "
               "('CUST-1', 'Jana Meyer', %s), ('CUST-2', 'Bob Rival', %s)", (JANA, BOB))


def _listener(url: str, **settings) -> SmtpListener:
    return SmtpListener(Settings(database_url=url, desk_address=DESK, **settings), host="127.0.0.1", port=0,
                        policy=POLICY).start()


@pytest.fixture
def listener(database_url, customers):
    running = _listener(database_url)
    yield running
    running.stop()


def mail(sender: str, subject: str, body: str = "Hello", *, message_id: str | None = "new",
         in_reply_to: str | None = None, headers: dict | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = DESK
    message["Subject"] = subject
    if message_id:
        message["Message-ID"] = make_msgid(domain="metro.example") if message_id == "new" else message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message


def send(listener: SmtpListener | tuple[str, int], message: EmailMessage | bytes, *, mail_from: str | None = None,
         to: str = DESK) -> tuple[int, str]:
    """One SMTP transaction as a sending server does it; (code, text) of the answer to DATA."""
    host, port = listener if isinstance(listener, tuple) else (listener.host, listener.port)
    raw = message if isinstance(message, bytes) else message.as_bytes()
    raw = re.sub(rb"(?<!\r)\n", b"\r\n", raw)   # on the wire every line ends in CRLF (smtplib leaves bytes as given)
    envelope = mail_from if mail_from is not None else str(message["From"])
    with smtplib.SMTP(host, port, timeout=30) as smtp:
        smtp.ehlo("mx.sender.example")
        code, text = smtp.mail(envelope)       # '' is the null return path, MAIL FROM:<>
        assert code == 250, text
        code, text = smtp.rcpt(to)
        if code != 250:
            return code, text.decode()
        try:
            code, text = smtp.data(raw)
        except smtplib.SMTPDataError as refused:
            code, text = refused.smtp_code, refused.smtp_error
        return code, text.decode()


def accepted(answer: tuple[int, str]) -> str:
    code, text = answer
    assert code == 250, answer
    return text.removeprefix("OK: ")


def requests(db) -> list[tuple]:
    return db.execute("SELECT id, customer_id, state FROM requests ORDER BY id").fetchall()


def test_an_email_becomes_a_request_of_the_senders_customer_with_an_acknowledgement_queued(db, listener):
    message = mail(f"Jana Meyer <{JANA}>", "Pile TP-0001 is not charging", "Since this morning it shows an error.")
    assert accepted(send(listener, message)) == "SR-1"
    row = db.execute("SELECT customer_id, contact_id IS NOT NULL, channel, caller, subject, suggested_class, state, "
                     "description FROM requests WHERE id = 1").fetchone()
    assert row == ("CUST-1", True, "email", JANA, "Pile TP-0001 is not charging", "fault_report", "new",
                   "Since this morning it shows an error.")
    thread = db.execute("SELECT direction, kind, author, message_id FROM request_messages WHERE request_id = 1 "
                        "ORDER BY id").fetchall()
    assert thread[0] == ("in", "message", JANA, message["Message-ID"].strip("<>"))
    assert thread[1][:3] == ("out", "acknowledgement", "pilecare") and thread[1][3].endswith("@pilecare")
    assert db.execute("SELECT mail_to, subject, in_reply_to FROM outbox_mail").fetchall() == [
        (JANA, "[SR-1] Pile TP-0001 is not charging", message["Message-ID"].strip("<>"))]
    assert db.execute("SELECT sender, request_id FROM mail_received").fetchall() == [(JANA, 1)]


def test_a_reply_carrying_in_reply_to_joins_its_request(db, listener):
    first = mail(JANA, "Question about invoices")
    accepted(send(listener, first))
    reply = mail(JANA, "Re: a different subject line", "One more thing", in_reply_to=first["Message-ID"])
    assert accepted(send(listener, reply)) == "SR-1"
    assert len(requests(db)) == 1
    assert db.execute("SELECT count(*) FROM request_messages WHERE request_id = 1 AND direction = 'in'"
                      ).fetchone()[0] == 2


def test_a_reply_naming_the_request_number_in_its_subject_joins_it(db, listener):
    accepted(send(listener, mail(JANA, "Opening hours")))
    assert accepted(send(listener, mail(JANA, "Re: [SR-1] Opening hours", "Also on Sundays?"))) == "SR-1"
    assert len(requests(db)) == 1


def test_a_colleague_of_the_same_customer_joins_by_number_but_another_customer_does_not(db, listener):
    accepted(send(listener, mail(JANA, "Opening hours")))
    assert accepted(send(listener, mail("tom@metro.example", "Re: [SR-1] Opening hours"))) == "SR-1"
    assert accepted(send(listener, mail(BOB, "Fwd: [SR-1] Opening hours", "What did they say?"))) == "SR-2"
    assert requests(db) == [(1, "CUST-1", "new"), (2, "CUST-2", "new")]


def test_an_address_whose_domain_holds_like_wildcards_is_nobodys_colleague(db, listener):
    accepted(send(listener, mail(JANA, "Opening hours")))
    for stranger in ("eve@metr_.example", "eve@%metro.example"):
        accepted(send(listener, mail(stranger, "Re: [SR-1] Opening hours", "Ignore the last mail")))
    assert requests(db) == [(1, "CUST-1", "new"), (2, None, "new"), (3, None, "new")]
    assert db.execute("SELECT count(*) FROM request_messages WHERE request_id = 1 AND direction = 'in'"
                      ).fetchone()[0] == 1


def test_another_customers_mail_carrying_our_message_id_opens_its_own_request(db, listener):
    first = mail(JANA, "Opening hours")
    accepted(send(listener, first))
    assert accepted(send(listener, mail(BOB, "Re: Opening hours", in_reply_to=first["Message-ID"]))) == "SR-2"


def test_an_unknown_sender_opens_a_request_without_customer_and_only_that_address_joins_it(db, listener):
    assert accepted(send(listener, mail("someone@gmail.example", "Can I charge here?"))) == "SR-1"
    assert requests(db) == [(1, None, "new")]
    assert accepted(send(listener, mail("someone@gmail.example", "Re: [SR-1] Can I charge here?"))) == "SR-1"
    assert accepted(send(listener, mail("else@gmail.example", "Re: [SR-1] Can I charge here?"))) == "SR-2"


def test_the_customers_reply_reopens_a_resolved_request(db, listener):
    accepted(send(listener, mail(JANA, "Cable stuck")))
    move(db, 1, RequestState.RESOLVED, actor="agent-1", note="released remotely")
    accepted(send(listener, mail(JANA, "Re: [SR-1] Cable stuck", "It is stuck again")))
    assert requests(db) == [(1, "CUST-1", "open")]


DSN = b"""From: Mail Delivery System <MAILER-DAEMON@mx.metro.example>
To: service@pilecare.local
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-1@mx.metro.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

This is the mail system. Your message could not be delivered.
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.metro.example
Final-Recipient: rfc822; nobody@metro.example
Action: failed
Status: 5.1.1
--B--
"""


@pytest.mark.parametrize("message, mail_from, reason", [
    (mail(JANA, "Out of office", headers={"Auto-Submitted": "auto-replied"}), JANA, "auto_submitted"),
    (mail(JANA, "Newsletter", headers={"Precedence": "bulk"}), JANA, "precedence"),
    (mail(JANA, "Automatic reply: Opening hours", headers={"X-Autoreply": "yes"}), JANA, "auto_reply"),
    (DSN, "", "bounce"),
    (mail(JANA, "Anything"), "", "null_sender"),
], ids=["auto-submitted", "precedence-bulk", "x-autoreply", "dsn", "null-sender"])
def test_auto_replies_and_bounces_go_to_quarantine_not_to_requests(db, listener, message, mail_from, reason):
    assert accepted(send(listener, message, mail_from=mail_from)) == "held"
    assert requests(db) == []
    assert db.execute("SELECT reason, mail_from, length(raw) > 0 FROM mail_quarantine").fetchall() == [
        (reason, mail_from, True)]
    assert db.execute("SELECT count(*) FROM outbox_mail").fetchone()[0] == 0   # nothing answers a program


def test_auto_submitted_no_is_a_persons_mail():
    from maintenance.servicedesk.mail_parse import parse

    raw = mail(JANA, "Question", headers={"Auto-Submitted": "no"}).as_bytes()
    assert parse(raw, mail_from=JANA).auto_reason is None


def test_a_hundred_mails_from_one_sender_in_a_minute_open_at_most_the_configured_limit(db, listener):
    limit = POLICY.desk.mail_per_sender_per_h

    def one(i: int) -> str:
        return accepted(send(listener, mail(JANA, f"Loop {i}")))

    with ThreadPoolExecutor(max_workers=6) as pool:   # several connections at once, as a mail loop would
        answers = list(pool.map(one, range(100)))
    assert len(requests(db)) == limit
    assert answers.count("held") == 100 - limit
    assert db.execute("SELECT reason, count(*) FROM mail_quarantine GROUP BY reason").fetchall() == [
        ("rate_limit", 100 - limit)]
    # Another sender is not held back by it.
    assert accepted(send(listener, mail(BOB, "Unrelated"))) == f"SR-{limit + 1}"


def test_a_mail_sent_again_is_taken_once_with_or_without_a_message_id(db, listener):
    with_id = mail(JANA, "Twice").as_bytes()
    assert accepted(send(listener, with_id, mail_from=JANA)) == accepted(send(listener, with_id, mail_from=JANA))
    without = mail(JANA, "Twice, without id", message_id=None).as_bytes()
    assert accepted(send(listener, without, mail_from=JANA)) == accepted(send(listener, without, mail_from=JANA))
    assert [r[0] for r in requests(db)] == [1, 2]
    assert db.execute("SELECT count(*) FROM outbox_mail").fetchone()[0] == 2   # one acknowledgement each


def test_retries_of_one_mail_racing_each_other_are_taken_once(db, listener):
    raw = mail(JANA, "Racing").as_bytes()
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: accepted(send(listener, raw, mail_from=JANA)), range(4)))
    assert answers == ["SR-1"] * 4
    assert len(requests(db)) == 1


def test_with_the_database_away_the_listener_answers_4xx_and_the_retry_creates_the_request_once(
        db, database_url, customers):
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    proxy = Proxy((info.get("host") or "127.0.0.1", int(info.get("port") or 5432)))
    through_proxy = psycopg.conninfo.make_conninfo(database_url, host="127.0.0.1", port=proxy.port)
    running = _listener(through_proxy)
    try:
        assert accepted(send(running, mail(JANA, "Before the outage"))) == "SR-1"   # a connection is open
        proxy.cut()
        message = mail(JANA, "During the outage").as_bytes()
        code, text = send(running, message, mail_from=JANA)
        assert code == 451 and text.startswith("4.3.0"), (code, text)
        assert len(requests(db)) == 1
        code, _ = send(running, message, mail_from=JANA)            # still away: still temporary
        assert code == 451
        proxy.restore()
        assert accepted(send(running, message, mail_from=JANA)) == "SR-2"
        assert accepted(send(running, message, mail_from=JANA)) == "SR-2"   # a late duplicate retry
        assert len(requests(db)) == 2
    finally:
        running.stop()
        proxy.close()


def test_the_acknowledgement_reaches_the_relay_and_a_reply_to_it_threads_on_its_message_id(db, listener):
    catcher = MailCatcher().start()
    try:
        accepted(send(listener, mail(JANA, "Pile TP-0003 shows error 42")))
        fan_out(db)
        assert deliver_due(db, {"email": MailTransport(("127.0.0.1", catcher.port), DESK)}) == 1
        [ack] = catcher.wait_for(1)
        assert ack["Auto-Submitted"] == "auto-generated"
        assert ack["From"].addresses[0].addr_spec == DESK and ack["To"] == JANA
        assert ack["Subject"] == "[SR-1] Pile TP-0003 shows error 42"
        assert "SR-1" in ack.get_content()
        sent_id = db.execute("SELECT message_id FROM request_messages WHERE kind = 'acknowledgement'").fetchone()[0]
        assert ack["Message-ID"] == f"<{sent_id}>"
        assert db.execute("SELECT channel, state FROM deliveries").fetchall() == [("email", "delivered")]
        # The customer answers the acknowledgement; their mail program keeps its Message-ID.
        reply = mail(JANA, "Re: your message", "Here is a photo", in_reply_to=ack["Message-ID"])
        assert accepted(send(listener, reply)) == "SR-1"
        assert len(requests(db)) == 1
    finally:
        catcher.stop()


def test_an_answer_by_mail_threads_on_the_customers_last_mail_and_is_the_first_response(db, listener):
    first = mail(JANA, "Opening hours")
    accepted(send(listener, first))
    mail_out.send(db, 1, kind=MessageKind.ANSWER, body="We are open 24/7.", author="agent-1")
    state, responded = db.execute("SELECT state, responded_at IS NOT NULL FROM requests WHERE id = 1").fetchone()
    assert (state, responded) == ("open", True)
    to, in_reply_to, refs = db.execute("SELECT mail_to, in_reply_to, refs FROM outbox_mail ORDER BY outbox_id DESC "
                                       "LIMIT 1").fetchone()
    assert to == JANA and in_reply_to == first["Message-ID"].strip("<>") and len(refs) == 2


def test_mail_waits_and_is_retried_while_the_relay_is_down(db, listener):
    accepted(send(listener, mail(JANA, "Hello")))
    fan_out(db)
    from pilecare.embedded import free_port

    deliver_due(db, {"email": MailTransport(("127.0.0.1", free_port()), DESK, timeout_s=2)})
    state, attempts, error = db.execute("SELECT state, attempts, last_error FROM deliveries").fetchone()
    assert (state, attempts) == ("pending", 1) and "cannot send through the relay" in error


def test_a_request_without_an_address_cannot_be_mailed(db, customers):
    from maintenance.servicedesk import Channel, open_request

    request_id = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.PHONE, subject="Call",
                              caller="+49301234567", actor="agent-1")
    with pytest.raises(InvalidInput, match="^to: "):
        mail_out.send(db, request_id, kind=MessageKind.ANSWER, body="x", author="agent-1")


def test_mail_to_another_domain_is_refused_at_the_recipient(db, listener):
    code, _ = send(listener, mail(JANA, "Hello"), to="someone@elsewhere.example")
    assert code == 550
    assert requests(db) == []


def test_an_html_mail_with_an_attachment_keeps_its_text_and_names_the_attachment(db, listener):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = JANA, DESK, "Photo of the display"
    message["Message-ID"] = make_msgid()
    message.set_content("<html><head><style>p {}</style></head><body><p>The display says</p>"
                        "<p><b>E-42</b> &amp; blinks</p></body></html>", subtype="html")
    message.add_attachment(b"\x89PNG" + b"0" * 2048, maintype="image", subtype="png", filename="display.png")
    accepted(send(listener, message))
    body = db.execute("SELECT body FROM request_messages WHERE direction = 'in'").fetchone()[0]
    assert body.startswith("The display says\n")
    assert "E-42 & blinks" in body and "<" not in body.split("[")[0]
    assert body.endswith("[attachments not kept: display.png (2 KB)]")


def test_a_mail_over_the_size_limit_is_refused(db, database_url, customers):
    running = _listener(database_url, smtp_max_bytes=64 * 1024)
    try:
        code, _ = send(running, mail(JANA, "Huge", "x" * 100_000))
        assert code == 552
    finally:
        running.stop()
    assert requests(db) == []


def test_our_own_mail_coming_back_goes_to_quarantine(db, listener):
    accepted(send(listener, mail(JANA, "Hello")))
    ours = db.execute("SELECT message_id FROM request_messages WHERE direction = 'out'").fetchone()[0]
    # A forwarding rule sends our acknowledgement back, its headers stripped of Auto-Submitted.
    assert accepted(send(listener, mail(JANA, "Fwd: [SR-1] Hello", message_id=f"<{ours}>"))) == "held"
    assert db.execute("SELECT reason FROM mail_quarantine").fetchall() == [("loop",)]


def test_pilecare_smtp_runs_the_listener(db, database_url, customers):
    import os
    import subprocess
    import sys

    from pilecare.embedded import free_port, terminate, wait_port

    port = free_port()
    env = dict(os.environ, PILECARE_DATABASE_URL=database_url, PILECARE_DESK_ADDRESS=DESK)
    process = subprocess.Popen([sys.executable, "-m", "pilecare.cli", "smtp", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        wait_port(port, 30)
        assert process.stdout.readline().strip() == f"smtp  127.0.0.1:{port}"
        assert accepted(send(("127.0.0.1", port), mail(JANA, "By the command"))) == "SR-1"
    finally:
        terminate([process], 15)
    assert process.returncode == 0
