"""What requesters read: Vietnamese first, with diacritics, short enough for one or two SMS."""

from __future__ import annotations

from collections.abc import Mapping

from dispatch.models import RescueRequest, State, request_number

HOTLINE = "1900 1075"

# How a state reads to the person who asked for help (never a team member's name or phone).
STATE_WORDS: Mapping[State, str] = {
    State.new: "đã tiếp nhận, đang chờ xử lý",
    State.triaged: "đã được xem xét, đang tìm đội cứu hộ",
    State.offered: "đang chờ đội cứu hộ xác nhận",
    State.accepted: "đã có đội cứu hộ nhận",
    State.en_route: "đội cứu hộ đang trên đường đến",
    State.on_scene: "đội cứu hộ đã đến nơi",
    State.resolved: "đã hoàn thành",
    State.cancelled: "đã hủy",
    State.unfounded: "đã đóng (không cần cứu hộ)",
    State.duplicate: "đã gộp vào một yêu cầu khác",
}

# The same, for the English half of a bilingual text.
STATE_WORDS_EN: Mapping[State, str] = {
    State.new: "received, waiting to be handled",
    State.triaged: "reviewed, a rescue team is being found",
    State.offered: "waiting for a rescue team to confirm",
    State.accepted: "a rescue team has taken it",
    State.en_route: "the rescue team is on its way",
    State.on_scene: "the rescue team has arrived",
    State.resolved: "completed",
    State.cancelled: "cancelled",
    State.unfounded: "closed (no rescue needed)",
    State.duplicate: "merged into another request",
}


def state_words(request: RescueRequest) -> str:
    """Where the request stands, as its requester reads or hears it (a merged one names the
    request it went into: that is the number to ask about)."""
    if request.state is State.duplicate and request.duplicate_of is not None:
        return f"đã gộp vào yêu cầu số {request_number(request.duplicate_of)}"
    return STATE_WORDS[request.state]


def state_words_en(request: RescueRequest) -> str:
    """state_words in English."""
    if request.state is State.duplicate and request.duplicate_of is not None:
        return f"merged into request {request_number(request.duplicate_of)}"
    return STATE_WORDS_EN[request.state]


def push_title(number: str) -> str:
    """The title of a push to the requester's app (its body is the SMS's words)."""
    return f"Yêu cầu cứu hộ số {number}"


def received(number: str, *, by_sms: bool = True) -> str:
    """The receipt; `by_sms`: the request has a phone that may text TINH TRANG (an app request
    without one is told to look in the app instead)."""
    ask = (
        f"Nhắn TINH TRANG {number} để biết tình trạng."
        if by_sms
        else "Xem tình trạng yêu cầu trong ứng dụng."
    )
    return (
        f"Tổng đài cứu hộ {HOTLINE} đã nhận yêu cầu số {number}. Đội cứu hộ sẽ được điều đến"
        f" sớm nhất. Giữ điện thoại bên mình; nếu nguy hiểm tăng, gọi {HOTLINE}. {ask}"
    )


def resolved(number: str) -> str:
    return f"Yêu cầu cứu hộ số {number} đã hoàn thành. Nếu quý vị vẫn cần giúp đỡ, gọi {HOTLINE}."


def status(number: str, state: State) -> str:
    return f"Yêu cầu cứu hộ số {number}: {STATE_WORDS[state]}."


def merged(number: str, into: str) -> str:
    return (
        f"Yêu cầu cứu hộ số {number} đã được gộp với yêu cầu số {into}. Nhắn TINH TRANG {into}"
        " để biết tình trạng."
    )
