"""Reading one received mail (R-INTAKE): who sent it, what it answers, its text, and whether a
program rather than a person sent it. Pure functions over the raw bytes; the decisions that
touch the database are in mail_in.py.

Never raises on a malformed mail: a header that cannot be parsed counts as absent, a body in
an unknown charset is decoded with replacement characters. A mail must not be lost because
its sender's program wrote it badly.
"""
from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass
from email.message import EmailMessage
from html import unescape
from html.parser import HTMLParser

from maintenance.servicedesk.contacts import normalise_email
from pilecare.errors import InvalidInput

# Stored text is capped: a 10 MB body is an attachment pasted inline, not a question.
MAX_BODY_CHARS = 100_000
_MSG_ID = re.compile(r"<([^<>\s]+)>")
_REQUEST_NUMBER = re.compile(r"\bSR-(\d{1,18})\b", re.I)
_BULK = {"bulk", "auto_reply", "junk", "list"}                 # Precedence values (RFC 3834 §3.1.8)
_DAEMONS = {"mailer-daemon", "postmaster"}


@dataclass(frozen=True)
class ReceivedMail:
    """What the desk reads from one mail. Message-IDs are without angle brackets."""

    message_id: str                  # the mail's own, or "<sha256>@synthetic.pilecare" when it has none
    replies_to: tuple[str, ...]      # In-Reply-To first, then References newest first; no duplicates
    numbers: tuple[int, ...]         # request numbers ("SR-<n>") in the subject, in order
    sender: str | None               # the From address lower-cased (else the envelope's); None if neither parses
    from_header: str
    subject: str
    body: str                        # the text part, or the HTML part as crude text; attachments named
    auto_reason: str | None          # why a program sent it: bounce, null_sender, auto_submitted, precedence, auto_reply


def parse(raw: bytes, *, mail_from: str) -> ReceivedMail:
    """Read `raw` (the DATA of one SMTP transaction) received with envelope sender `mail_from`
    ('' or '<>' for a null return path)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    own = _ids(_header(message, "Message-ID"))
    message_id = own[0] if own else f"{hashlib.sha256(raw).hexdigest()[:40]}@synthetic.pilecare"
    replies_to = list(dict.fromkeys(_ids(_header(message, "In-Reply-To")) +
                                    _ids(_header(message, "References"))[::-1]))
    from_header = _clean(_header(message, "From") or "")
    sender = _address(from_header) or _address(mail_from)
    subject = " ".join(_clean(_header(message, "Subject") or "").split())
    return ReceivedMail(
        message_id=message_id[:500], replies_to=tuple(i for i in replies_to if i != message_id),
        numbers=tuple(int(n) for n in _REQUEST_NUMBER.findall(subject)), sender=sender, from_header=from_header,
        subject=subject, body=body_of(message), auto_reason=auto_reason(message, mail_from, from_header))


def auto_reason(message: EmailMessage, mail_from: str, from_header: str) -> str | None:
    """Why this mail is a program's, not a person's: a delivery report (bounce), a null
    return path, Auto-Submitted other than "no" (RFC 3834), Precedence bulk/auto_reply/junk/
    list, an X-Autoreply or X-Autorespond header; None for a person's mail. Answering any of
    these with an acknowledgement is how mail loops and ticket storms start."""
    envelope = (mail_from or "").strip()
    if message.get_content_type() == "multipart/report":
        return "bounce"              # report-type=delivery-status (DSN) or a read receipt
    for address in (envelope.strip("<>"), _address(from_header) or ""):
        if address.partition("@")[0].lower() in _DAEMONS:
            return "bounce"
    if envelope in ("", "<>"):
        return "null_sender"         # only bounces and auto-replies may use it (RFC 5321 §4.5.5)
    auto = _header(message, "Auto-Submitted")
    if auto and auto.split(";")[0].strip().lower() != "no":
        return "auto_submitted"
    precedence = _header(message, "Precedence")
    if precedence and precedence.strip().lower() in _BULK:
        return "precedence"
    if _header(message, "X-Autoreply") is not None or _header(message, "X-Autorespond") is not None:
        return "auto_reply"
    return None


def body_of(message: EmailMessage) -> str:
    """The text/plain part (else the HTML part, tags stripped), with the names of the
    attachments that were not kept appended."""
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except Exception:  # a broken MIME structure: whatever the top part says
        part = message
    text = ""
    if part is not None and part.get_content_maintype() == "text":
        text = _content(part)
        if part.get_content_subtype() == "html":
            text = html_to_text(text)
    names = []
    for leaf in message.walk():
        if leaf.is_multipart() or leaf is part:
            continue
        if leaf.get_content_maintype() == "text" and not leaf.is_attachment():
            continue                 # the other version of the body (HTML beside plain text)
        data = leaf.get_payload(decode=True) or b""
        names.append(f"{leaf.get_filename() or leaf.get_content_type()} ({_size(len(data))})")
    text = _clean(text).strip()
    if len(text) > MAX_BODY_CHARS:
        text = text[:MAX_BODY_CHARS] + "\n[… the rest of the mail was cut]"
    if names:
        text += "\n\n[attachments not kept: " + ", ".join(names) + "]"
    return text or "(empty mail)"


class _Text(HTMLParser):
    _BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "hr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head"):
            self.skip += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head"):
            self.skip = max(0, self.skip - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Crude text of an HTML body: tags dropped, blocks on their own lines, scripts and styles gone."""
    parser = _Text()
    try:
        parser.feed(html)
        parser.close()
        text = "".join(parser.parts)
    except Exception:
        text = unescape(re.sub(r"<[^>]*>", " ", html))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _header(message: EmailMessage, name: str) -> str | None:
    try:
        value = message.get(name)
    except Exception:  # a header the parser chokes on counts as absent
        return None
    return None if value is None else str(value)


def _ids(value: str | None) -> list[str]:
    if not value:
        return []
    found = _MSG_ID.findall(value)
    return found or ([value.strip()] if value.strip() and " " not in value.strip() else [])


def _address(value: str) -> str | None:
    try:
        address = normalise_email(value)
    except InvalidInput:
        return None
    return address if address.isprintable() else None   # no control characters (NUL) in a stored address


def _content(part: EmailMessage) -> str:
    try:
        content = part.get_content()
        return content if isinstance(content, str) else content.decode("utf-8", "replace")
    except (LookupError, UnicodeError, ValueError, AssertionError):   # an unknown or lying charset
        return (part.get_payload(decode=True) or b"").decode("utf-8", "replace")


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL.
    return text.replace("\x00", "\ufffd")


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.0f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"
