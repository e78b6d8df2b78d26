"""TwiML documents the hotline answers with: its URLs and texts, spoken through notify.twiml."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode

from twilio.twiml.voice_response import Gather, VoiceResponse

from canhbao.config import Config
from hotline import texts
from hotline.texts import Text
from notify import twiml as notify_twiml
from notify.twiml import LANGUAGE, Speech


class Twiml:
    """Builds TwiML with absolute URLs under the public base URL (what Twilio signs)."""

    def __init__(self, config: Config) -> None:
        self.config = config.hotline
        self.base = config.server.public_base_url.rstrip("/")
        self.speech = Speech(config.hotline.voice)

    def url(self, path: str, **query: object) -> str:
        kept = {k: v for k, v in query.items() if v is not None}
        return self.base + path + ("?" + urlencode(kept) if kept else "")

    def say(self, node: VoiceResponse | Gather, *lines: Text) -> None:
        self.speech.say(node, *(line.vi for line in lines))

    def keypad(
        self,
        response: VoiceResponse,
        action: str,
        lines: Iterable[Text],
        *,
        digits: int = 1,
        finish_on_key: str | None = None,
    ) -> None:
        options: dict[str, object] = {}
        if finish_on_key is not None:
            options["finish_on_key"] = finish_on_key
        gather = response.gather(
            input="dtmf",
            num_digits=digits,
            timeout=self.config.gather_timeout_s,
            action=action,
            method="POST",
            **options,
        )
        self.say(gather, *lines)

    # --- documents -------------------------------------------------------------------------

    def greeting(
        self, attempt: int, severe_headline: str | None, *, prefix: Text | None = None
    ) -> str:
        response = VoiceResponse()
        if prefix is not None:
            self.say(response, prefix)
        greeting = texts.greeting_severe(severe_headline) if severe_headline else texts.GREETING
        self.keypad(response, self.url("/twilio/voice/menu", attempt=attempt), [greeting])
        response.redirect(self.url("/twilio/voice/menu", attempt=attempt, silent=1), method="POST")
        return notify_twiml.render(response)

    def redirect(self, path: str, *lines: Text, **query: object) -> str:
        response = VoiceResponse()
        self.say(response, *lines)
        response.redirect(self.url(path, **query), method="POST")
        return notify_twiml.render(response)

    def known_location(self, description: str) -> str:
        response = VoiceResponse()
        self.say(response, texts.RESCUE_INTRO)
        action = self.url("/twilio/voice/rescue/location")
        self.keypad(response, action, [texts.known_location(description)])
        response.redirect(self.url("/twilio/voice/rescue/location", silent=1), method="POST")
        return notify_twiml.render(response)

    def ask_address(self, *, intro: bool) -> str:
        response = VoiceResponse()
        if intro:
            self.say(response, texts.RESCUE_INTRO)
        action = self.url("/twilio/voice/rescue/address")
        gather = response.gather(
            input="speech",
            language=LANGUAGE,
            speech_timeout="auto",
            timeout=self.config.gather_timeout_s,
            action=action,
            method="POST",
        )
        self.say(gather, texts.ASK_ADDRESS)
        response.redirect(action, method="POST")
        return notify_twiml.render(response)

    def record_address(self) -> str:
        response = VoiceResponse()
        self.say(response, texts.ASK_ADDRESS_RECORDING)
        response.record(
            action=self.url("/twilio/voice/rescue/recorded"),
            method="POST",
            max_length=self.config.address_max_length_s,
            finish_on_key="#",
            play_beep=True,
            timeout=5,
            recording_status_callback=self.url("/twilio/recording", kind="address"),
            recording_status_callback_method="POST",
        )
        # No audio recorded: Twilio skips the action and goes on here.
        response.redirect(self.url("/twilio/voice/rescue/ask-people"), method="POST")
        return notify_twiml.render(response)

    def ask_people(self) -> str:
        response = VoiceResponse()
        action = self.url("/twilio/voice/rescue/people")
        self.keypad(response, action, [texts.ASK_PEOPLE], digits=3, finish_on_key="#")
        response.redirect(action, method="POST")
        return notify_twiml.render(response)

    def ask_vulnerabilities(self) -> str:
        response = VoiceResponse()
        action = self.url("/twilio/voice/rescue/needs")
        self.keypad(response, action, [texts.ASK_VULNERABILITIES], digits=4, finish_on_key="#")
        response.redirect(action, method="POST")
        return notify_twiml.render(response)

    def flood_info(self, lines: Iterable[Text]) -> str:
        response = VoiceResponse()
        self.say(response, *lines)
        self.keypad(response, self.url("/twilio/voice/menu", attempt=1), [texts.FLOOD_INFO_MENU])
        self.say(response, texts.CALL_ENDED_THANKS)
        response.hangup()
        return notify_twiml.render(response)

    def enqueue(self, queue: str, *lines: Text) -> str:
        response = VoiceResponse()
        self.say(response, *lines)
        response.enqueue(
            queue,
            wait_url=self.url("/twilio/voice/queue/wait"),
            wait_url_method="POST",
            action=self.url("/twilio/voice/queue/done"),
            method="POST",
        )
        return notify_twiml.render(response)

    def queue_wait(self, line: Text, *, default_choice: str | None) -> str:
        response = VoiceResponse()
        self.keypad(response, self.url("/twilio/voice/queue/choice"), [line])
        if default_choice is not None:
            response.redirect(
                self.url("/twilio/voice/queue/choice", default=default_choice), method="POST"
            )
        return notify_twiml.render(response)

    def leave(self) -> str:
        response = VoiceResponse()
        response.leave()
        return notify_twiml.render(response)

    def voicemail(self, *, lead: Text | None = None) -> str:
        response = VoiceResponse()
        self.say(response, *([lead] if lead else []), texts.VOICEMAIL_PROMPT)
        response.record(
            action=self.url("/twilio/voice/voicemail"),
            method="POST",
            max_length=self.config.voicemail_max_length_s,
            finish_on_key="#",
            play_beep=True,
            timeout=5,
            recording_status_callback=self.url("/twilio/recording", kind="voicemail"),
            recording_status_callback_method="POST",
        )
        response.redirect(self.url("/twilio/voice/voicemail/none"), method="POST")
        return notify_twiml.render(response)

    def say_and_hang_up(self, *lines: Text) -> str:
        response = VoiceResponse()
        self.say(response, *lines)
        response.hangup()
        return notify_twiml.render(response)

    def say_only(self, *lines: Text) -> str:
        response = VoiceResponse()
        self.say(response, *lines)
        return notify_twiml.render(response)

    def empty(self) -> str:
        return notify_twiml.render(VoiceResponse())

    def operator_offer(self, operator_id: int) -> str:
        response = VoiceResponse()
        action = self.url("/twilio/voice/operator/accept", operator=operator_id)
        self.keypad(response, action, [texts.OPERATOR_OFFER, texts.OPERATOR_OFFER])
        response.hangup()
        return notify_twiml.render(response)

    def bridge(self, queue: str, operator_id: int) -> str:
        response = VoiceResponse()
        dial = response.dial(
            action=self.url("/twilio/voice/operator/done", operator=operator_id), method="POST"
        )
        dial.queue(queue, url=self.url("/twilio/voice/queue/connect"), method="POST")
        return notify_twiml.render(response)

    def fallback(self) -> str:
        response = VoiceResponse()
        if self.config.fallback_number:
            self.say(response, texts.FALLBACK)
            response.dial(self.config.fallback_number)
            return notify_twiml.render(response)
        return self._fallback_voicemail()

    def _fallback_voicemail(self) -> str:
        response = VoiceResponse()
        self.say(response, texts.FALLBACK_VOICEMAIL)
        response.record(
            action=self.url("/twilio/voice/voicemail"),
            method="POST",
            max_length=self.config.voicemail_max_length_s,
            finish_on_key="#",
            play_beep=True,
            recording_status_callback=self.url("/twilio/recording", kind="voicemail"),
            recording_status_callback_method="POST",
        )
        response.hangup()
        return notify_twiml.render(response)


def sms_reply(text: Text) -> str:
    return notify_twiml.sms_reply(text.vi)
