"""Which recorded pushes a device would have shown: FCM's topic conditions, evaluated."""

from __future__ import annotations

import re
from collections.abc import Iterable

from simulator.ports import RecordedPush

_TOKEN = re.compile(r"\s*(?:(\()|(\))|(&&)|(\|\|)|(!)|'([^']*)'\s+in\s+topics)")


class ConditionInvalid(ValueError):
    """A condition the simulator cannot read (FCM would have refused it before)."""


def condition_holds(condition: str, topics: frozenset[str]) -> bool:
    """FCM's condition ("'a' in topics && ('b' in topics || 'c' in topics)") for a device
    subscribed to `topics`: ! before && before ||, parentheses, as FCM evaluates it."""
    tokens = _tokens(condition)
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        if position >= len(tokens):
            raise ConditionInvalid(f"condition ends early: {condition!r}")
        position += 1
        return tokens[position - 1]

    def either() -> bool:
        value = both()
        while peek() == "||":
            take()
            value = both() or value
        return value

    def both() -> bool:
        value = single()
        while peek() == "&&":
            take()
            value = single() and value
        return value

    def single() -> bool:
        part = take()
        if part == "!":
            return not single()
        if part == "(":
            value = either()
            if take() != ")":
                raise ConditionInvalid(f"unbalanced parentheses: {condition!r}")
            return value
        if part.startswith("'"):
            return part[1:] in topics
        raise ConditionInvalid(f"unexpected {part!r} in {condition!r}")

    value = either()
    if position != len(tokens):
        raise ConditionInvalid(f"unexpected {tokens[position]!r} in {condition!r}")
    return value


def _tokens(condition: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    text = condition.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ConditionInvalid(f"cannot read {condition!r} at {position}")
        opened, closed, both, either, negated, topic = match.groups()
        tokens.append(
            opened or closed or both or either or negated or ("'" + topic if topic else "")
        )
        position = match.end()
    return tokens


def reaches(push: RecordedPush, token: str | None, topics: frozenset[str]) -> bool:
    """Whether a device with this token and these topic subscriptions got the push."""
    if push.target_kind == "token":
        return token is not None and push.target == token
    if push.target_kind == "topic":
        return push.target.removeprefix("/topics/") in topics
    try:
        return condition_holds(push.target, topics)
    except ConditionInvalid:
        return False


def topics_named(push: RecordedPush) -> Iterable[str]:
    """The topics a topic or condition push names."""
    if push.target_kind == "topic":
        return (push.target.removeprefix("/topics/"),)
    return re.findall(r"'([^']*)'\s+in\s+topics", push.target)


def language_of(push: RecordedPush, device_language: str) -> str:
    """The language a push was written in, as devices name theirs ("vi", "en"): an English
    topic set ends in `~en` (geofences' naming); a push to one token was written in that
    device's language."""
    if push.target_kind == "token":
        return device_language
    return "en" if any(t.endswith("~en") for t in topics_named(push)) else "vi"
