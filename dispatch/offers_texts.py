"""Every word the offer flow texts or says: to a team (the offer, by SMS, push and voice; the
answers to its replies), to the requester (a team is on the way: the team's name, never a
member's phone), and to the duty dispatchers (an escalation). Vietnamese, with diacritics."""

from __future__ import annotations

from collections.abc import Sequence

from dispatch.models import RescueRequest, State, Vulnerability, Water

_WATER = {
    Water.unknown: "",
    Water.none: "bị cô lập, nước chưa vào nhà",
    Water.ground_floor: "nước vào nhà",
    Water.chest: "nước ngang ngực",
    Water.roof: "đang trên mái nhà",
    Water.in_water: "có người dưới nước",
}
_FLAGS = {
    Vulnerability.injured: "người bị thương",
    Vulnerability.elderly: "người già",
    Vulnerability.child: "trẻ em",
    Vulnerability.disabled: "người khuyết tật",
    Vulnerability.pregnant: "phụ nữ mang thai",
}


def _situation(request: RescueRequest) -> str:
    parts: list[str] = []
    parts.append(f"{request.people} người" if request.people else "chưa rõ số người")
    if request.vulnerabilities:
        parts.append("có " + ", ".join(_FLAGS[v] for v in request.vulnerabilities))
    water = _WATER.get(request.water, "")
    if water:
        parts.append(water)
    return ", ".join(parts)


def _place(request: RescueRequest) -> str:
    where = request.address or "chưa có địa chỉ"
    if request.ward_name:
        where += f" ({request.ward_name})"
    return where


def map_link(request: RescueRequest) -> str:
    if request.lat is None or request.lon is None:
        return ""
    return f" Bản đồ: https://maps.google.com/?q={request.lat:.5f},{request.lon:.5f}"


def offer_sms(request: RescueRequest, minutes: int) -> str:
    return (
        f"CỨU HỘ {request.number}: {_situation(request)}. Địa chỉ: {_place(request)}."
        f"{map_link(request)} Nhận: nhắn NHAN {request.number}."
        f" Từ chối: nhắn KHONG {request.number}. Xin trả lời trong {minutes} phút."
    )


def offer_push_title(request: RescueRequest) -> str:
    return f"Yêu cầu cứu hộ {request.number}"


def offer_push_body(request: RescueRequest, minutes: int) -> str:
    return f"{_situation(request)}. {_place(request)}. Trả lời trong {minutes} phút."


def spoken_number(number: str) -> str:
    """A request number read digit by digit ("1 0 2 3"): easier to note on a boat."""
    return " ".join(number)


def team_called(name: str) -> str:
    """A team as it is named in a sentence: "Đội xuồng Vỹ Dạ" as is, "Vỹ Dạ" as "đội Vỹ Dạ"."""
    return name if name.casefold().startswith("đội") else f"đội {name}"


def offer_voice(team_name: str, request: RescueRequest) -> str:
    called = team_called(team_name)
    return (
        f"Đây là tổng đài cứu hộ. {called[0].upper()}{called[1:]}, có yêu cầu cứu hộ số"
        f" {spoken_number(request.number)}. {_situation(request)}."
        f" Địa chỉ: {_place(request)}."
    )


VOICE_KEYS = "Bấm phím 1 để nhận. Bấm phím 2 để từ chối."
VOICE_NO_KEY = "Không nhận được phím bấm. Xin trả lời bằng tin nhắn. Xin cảm ơn."
VOICE_ACCEPTED = "Đã ghi nhận: đội nhận yêu cầu. Chi tiết đã gửi bằng tin nhắn. Xin cảm ơn."
VOICE_DECLINED = "Đã ghi nhận: đội từ chối yêu cầu. Xin cảm ơn."
VOICE_GONE = "Yêu cầu này không còn chờ đội trả lời. Xin cảm ơn."


def accepted_for_team(request: RescueRequest) -> str:
    phones = ", ".join(request.phones) or "không có"
    return (
        f"Đã ghi nhận: đội nhận yêu cầu {request.number}. Số điện thoại người cần cứu: {phones}."
        f"{map_link(request)} Khi đến nơi nhắn DEN {request.number}; xong việc nhắn XONG"
        f" {request.number}."
    )


def declined_for_team(number: str) -> str:
    return f"Đã ghi nhận: đội từ chối yêu cầu {number}. Yêu cầu sẽ được chuyển cho đội khác."


def on_scene_for_team(number: str) -> str:
    return f"Đã ghi nhận: đội đã đến nơi, yêu cầu {number}. Xong việc nhắn XONG {number}."


def done_for_team(number: str) -> str:
    return f"Đã ghi nhận: yêu cầu {number} đã hoàn thành. Cảm ơn đội."


def not_offered(number: str) -> str:
    return (
        f"Yêu cầu {number} hiện không giao cho đội của bạn (có thể đã hết giờ trả lời hoặc đã"
        " chuyển cho đội khác). Xin liên hệ tổng đài điều phối."
    )


def unknown_request(number: str) -> str:
    return f"Không có yêu cầu cứu hộ số {number}. Xin kiểm tra lại số yêu cầu."


UNKNOWN_PHONE = (
    "Số điện thoại này chưa đăng ký trong đội cứu hộ nào nên không thể trả lời lệnh điều động."
    " Nếu cần cứu hộ, nhắn: SOS và địa chỉ của bạn."
)


def which_request(numbers: Sequence[str]) -> str:
    example = numbers[0] if numbers else "1023"
    listed = f" (đội đang có: {', '.join(numbers)})" if numbers else ""
    return f"Xin ghi kèm số yêu cầu, ví dụ: NHAN {example}{listed}."


def cannot_now(number: str, state: str) -> str:
    return f"Không thực hiện được với yêu cầu {number}: yêu cầu đang ở trạng thái {state}."


def team_on_the_way(number: str, team_name: str) -> str:
    return (
        f"{_capital(team_called(team_name))} đã nhận yêu cầu cứu hộ số {number} và đang trên"
        " đường đến."
        " Hãy giữ điện thoại bên mình, ở nơi cao và an toàn. Nếu tình hình thay đổi, nhắn tin"
        " lại cho số này."
    )


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def escalation_sms(number: str, failed: int, reason: str) -> str:
    tries = f"sau {failed} lần mời đội" if failed else "ngay khi mời"
    return (
        f"CẢNH BÁO ĐIỀU PHỐI: yêu cầu cứu hộ {number} chưa có đội nhận {tries}"
        f" ({reason}). Cần điều phối bằng tay ngay."
    )


def withdrawn_title(number: str) -> str:
    return f"Thu hồi yêu cầu cứu hộ {number}"


def withdrawn_for_team(
    number: str, state: State, duplicate_of: str | None = None, *, off_duty: bool = False
) -> str:
    """A team's offer or job ended by the request's change, not by the team: why, and that the
    team need not answer or go (a resolved request: closed by the dispatchers, with thanks; a
    team gone off duty: the request goes to another team)."""
    if off_duty:
        return (
            f"THU HỒI: đội đã chuyển sang nghỉ trực nên yêu cầu cứu hộ {number} được chuyển cho"
            " đội khác. Đội không cần trả lời và không cần đến nơi nữa. Cảm ơn đội."
        )
    if state is State.resolved:
        return f"Yêu cầu cứu hộ {number} đã được điều phối viên đóng: đã hoàn thành. Cảm ơn đội."
    why = {
        State.cancelled: "đã hủy",
        State.unfounded: "đã đóng vì không cần cứu hộ",
        State.duplicate: f"trùng với yêu cầu {duplicate_of}, đã gộp vào yêu cầu đó"
        if duplicate_of
        else "trùng với một yêu cầu khác, đã gộp",
    }.get(state, "đã được điều phối viên giao lại")
    return (
        f"THU HỒI: yêu cầu cứu hộ {number} {why}. Đội không cần trả lời và không cần đến nơi"
        " nữa. Cảm ơn đội."
    )
