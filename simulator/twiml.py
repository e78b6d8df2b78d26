"""TwiML as a caller lives it: what is said, what the call waits for, where Twilio goes next.

Twilio runs a document's verbs in order: <Say> speaks, <Pause> waits, <Gather> speaks its
nested <Say>s and waits for keys or speech (then requests its action; with no input it goes on
to the next verb), <Record> waits for a message, <Enqueue> puts the caller in a queue (its
waitUrl's TwiML plays meanwhile), <Dial> connects to a number or an operator, <Redirect>
requests another document, <Leave> takes the caller out of a queue, <Hangup> ends the call, and
a document that runs out ends it too. `read` turns a document into the verbs the simulator
acts on; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lxml import etree

from simulator.errors import WebhookFailed

# Twilio's own limit on a TwiML document is 64 KB.
MAX_BYTES = 64 * 1024

Kind = Literal["say", "gather", "record", "enqueue", "dial", "redirect", "leave", "hangup", "sms"]


@dataclass(frozen=True)
class Verb:
    """One verb to act on: its kind, the texts said with it, and where it sends the call."""

    kind: Kind
    texts: tuple[str, ...] = ()
    action: str | None = None
    # gather: "dtmf", "speech" or "dtmf speech"; its number of digits and finishing key.
    input: str = "dtmf"
    num_digits: int | None = None
    finish_on_key: str = "#"
    # enqueue: the queue and its wait URL; dial: the number or queue dialled.
    queue: str | None = None
    wait_url: str | None = None
    target: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)


def _parser() -> etree.XMLParser:
    # Our own documents, read with the same hostile-XML defences as anything else.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )


def read(document: str) -> list[Verb]:
    """The verbs of a TwiML <Response>, in order (WebhookFailed if it is not one)."""
    raw = document.encode()
    if len(raw) > MAX_BYTES:
        raise WebhookFailed(f"TwiML over {MAX_BYTES} bytes")
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as err:
        raise WebhookFailed(f"not TwiML: {err}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise WebhookFailed("not TwiML: a document type declaration")
    if root.tag != "Response":
        raise WebhookFailed(f"not TwiML: the root is <{root.tag}>")
    verbs: list[Verb] = []
    for node in root:
        verb = _verb(node)
        if verb is not None:
            verbs.append(verb)
    return verbs


def _text(node: etree._Element) -> str:
    return " ".join((node.text or "").split())


def _says(node: etree._Element) -> tuple[str, ...]:
    return tuple(_text(child) for child in node if child.tag == "Say" and _text(child))


def _verb(node: etree._Element) -> Verb | None:
    attributes = {str(k): str(v) for k, v in node.attrib.items()}
    tag = node.tag
    if tag == "Say":
        return Verb("say", (_text(node),))
    if tag == "Message":
        body = node.find("Body")
        return Verb("sms", (_text(body if body is not None else node),))
    if tag == "Gather":
        digits = attributes.get("numDigits")
        return Verb(
            "gather",
            _says(node),
            action=attributes.get("action"),
            input=attributes.get("input", "dtmf"),
            num_digits=int(digits) if digits and digits.isdigit() else None,
            finish_on_key=attributes.get("finishOnKey", "#"),
            attributes=attributes,
        )
    if tag == "Record":
        return Verb("record", action=attributes.get("action"), attributes=attributes)
    if tag == "Enqueue":
        return Verb(
            "enqueue",
            action=attributes.get("action"),
            queue=_text(node),
            wait_url=attributes.get("waitUrl"),
            attributes=attributes,
        )
    if tag == "Dial":
        queue = node.find("Queue")
        return Verb(
            "dial",
            action=attributes.get("action"),
            queue=_text(queue) if queue is not None else None,
            target=_text(node) or None,
            attributes=attributes,
        )
    if tag == "Redirect":
        return Verb("redirect", action=_text(node), attributes=attributes)
    if tag == "Leave":
        return Verb("leave")
    if tag == "Hangup" or tag == "Reject":
        return Verb("hangup")
    # <Pause>, <Play> and anything newer: nothing a caller acts on.
    return None
