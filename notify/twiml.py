"""TwiML, written in one place: twilio's own builder, speaking in the one configured voice.

Every spoken text (the hotline's menus, a warning read to a vulnerable contact) goes through a
Speech made from `config.hotline.voice`; only Google's vi-VN voices speak Vietnamese, with
language="vi-VN". Nothing here writes XML by hand, so the text is always escaped.
"""

from __future__ import annotations

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Gather, VoiceResponse

LANGUAGE = "vi-VN"
VIETNAMESE_VOICES = ("Google.vi-VN-",)


class Speech:
    """Says Vietnamese sentences in the configured voice."""

    def __init__(self, voice: str) -> None:
        if not voice.startswith(VIETNAMESE_VOICES):
            raise ValueError(f"{voice!r} does not speak Vietnamese (a Google.vi-VN-… voice does)")
        self.voice = voice

    def say(self, node: VoiceResponse | Gather, *sentences: str) -> None:
        for sentence in sentences:
            node.say(sentence, voice=self.voice, language=LANGUAGE)

    def message(self, text: str, *, times: int = 2, pause_s: int = 2) -> str:
        """A whole call's TwiML: `text` said `times` times with a pause between (a person
        answering may miss the start)."""
        response = VoiceResponse()
        for said in range(times):
            if said:
                response.pause(length=pause_s)
            self.say(response, text)
        return render(response)


def render(response: VoiceResponse | MessagingResponse) -> str:
    return str(response.to_xml())


def sms_reply(text: str) -> str:
    """The TwiML answer to an incoming SMS: one message back."""
    response = MessagingResponse()
    response.message(text)
    return render(response)
