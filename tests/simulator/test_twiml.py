"""TwiML read as a caller lives it: every verb the hotline writes, in order."""

from __future__ import annotations

import pytest

from simulator.errors import WebhookFailed
from simulator.twiml import read

DOCUMENT = """<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Say voice="Google.vi-VN-Standard-A" language="vi-VN">Xin chào.</Say>
  <Pause length="1"/>
  <Gather input="dtmf" numDigits="3" finishOnKey="#" action="https://x.vn/a?b=1&amp;c=2">
    <Say>Bấm số người.</Say>
  </Gather>
  <Record action="https://x.vn/rec" maxLength="60"/>
  <Enqueue waitUrl="https://x.vn/wait" action="https://x.vn/done">hotline</Enqueue>
  <Dial action="https://x.vn/dialed"><Queue url="https://x.vn/connect">hotline</Queue></Dial>
  <Dial>+84234000000</Dial>
  <Leave/>
  <Redirect method="POST">https://x.vn/next</Redirect>
  <Hangup/>
</Response>"""


def test_every_verb_in_order_with_what_it_needs() -> None:
    verbs = read(DOCUMENT)
    assert [v.kind for v in verbs] == [
        "say",
        "gather",
        "record",
        "enqueue",
        "dial",
        "dial",
        "leave",
        "redirect",
        "hangup",
    ]
    say, gather, record, enqueue, to_queue, to_number, _, redirect, _ = verbs
    assert say.texts == ("Xin chào.",)
    assert gather.texts == ("Bấm số người.",)
    assert gather.action == "https://x.vn/a?b=1&c=2"
    assert (gather.num_digits, gather.finish_on_key, gather.input) == (3, "#", "dtmf")
    assert record.action == "https://x.vn/rec"
    assert (enqueue.queue, enqueue.wait_url, enqueue.action) == (
        "hotline",
        "https://x.vn/wait",
        "https://x.vn/done",
    )
    assert (to_queue.queue, to_queue.action) == ("hotline", "https://x.vn/dialed")
    assert to_number.target == "+84234000000"
    assert redirect.action == "https://x.vn/next"


def test_an_sms_reply_is_read_from_its_message() -> None:
    (reply,) = read("<Response><Message>Đã nhận yêu cầu số 1001.</Message></Response>")
    assert (reply.kind, reply.texts) == ("sms", ("Đã nhận yêu cầu số 1001.",))


@pytest.mark.parametrize(
    "document",
    [
        "not xml",
        "<Html/>",
        '<!DOCTYPE r [<!ENTITY e "x">]><Response><Say>&e;</Say></Response>',
        "<Response>" + "<Say>a</Say>" * 20_000 + "</Response>",
    ],
)
def test_what_is_not_twiml_is_refused(document: str) -> None:
    with pytest.raises(WebhookFailed):
        read(document)
