"""Every text the hotline speaks or texts to citizens, Vietnamese first, English beside it.

One reviewable place: calm, short sentences, the most important instruction first, polite forms
("quý vị", "xin") for people who may be in danger. The English is for staff and reviewers; the
hotline speaks and sends only the Vietnamese. Numbers are written out with hotline.numbers,
so the Google vi-VN voice reads them naturally.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hotline.models import Vulnerability
from hotline.numbers import doc_muc_nuoc, doc_phut, doc_toc_do, doc_tung_so, so_thanh_chu


@dataclass(frozen=True)
class Text:
    vi: str
    en: str


HOTLINE_NAME = Text(
    "Tổng đài cứu hộ một chín không không, một không bảy lăm", "Rescue hotline 1900 1075"
)

GREETING = Text(
    f"Xin chào. Đây là {HOTLINE_NAME.vi} của thành phố Huế. "
    "Để yêu cầu cứu hộ, xin bấm phím 1. "
    "Để nghe thông tin mực nước và cảnh báo lũ, bấm phím 2. "
    "Để nói chuyện với nhân viên tổng đài, bấm phím 3.",
    "Hello. This is the Huế rescue hotline 1900 1075. For a rescue, press 1. For river levels "
    "and flood warnings, press 2. To speak to an operator, press 3.",
)


def greeting_severe(warning_headline: str) -> Text:
    """While a severe warning is in force: the warning, then rescue before anything else."""
    return Text(
        f"Xin chào. Đây là {HOTLINE_NAME.vi}. Hiện đang có cảnh báo nguy hiểm: {warning_headline}. "
        "Nếu quý vị hoặc người bên cạnh đang gặp nguy hiểm, xin bấm phím 1 ngay để yêu cầu cứu hộ. "
        "Để nghe thông tin lũ, bấm phím 2. Để gặp nhân viên tổng đài, bấm phím 3.",
        f"This is the rescue hotline. A severe warning is in force: {warning_headline}. If you or "
        "someone near you is in danger, press 1 now for a rescue. Flood information: 2. "
        "Operator: 3.",
    )


NOT_UNDERSTOOD = Text(
    "Xin lỗi, tổng đài chưa nhận được lựa chọn của quý vị. Xin nghe lại.",
    "Sorry, we did not get your choice. Please listen again.",
)
TO_OPERATOR = Text(
    "Tổng đài sẽ chuyển quý vị tới nhân viên. Xin giữ máy.",
    "We are putting you through to an operator. Please hold.",
)

# --- rescue -------------------------------------------------------------------------------

RESCUE_INTRO = Text(
    "Quý vị đã chọn yêu cầu cứu hộ. Xin giữ bình tĩnh, tổng đài sẽ hỏi vài câu ngắn.",
    "You chose a rescue request. Please stay calm; we will ask a few short questions.",
)


def known_location(description: str) -> Text:
    return Text(
        f"Hệ thống có vị trí của số điện thoại này: {description}. "
        "Nếu quý vị đang ở đó, bấm phím 1. Nếu ở nơi khác, bấm phím 2.",
        f"We have a location for this phone: {description}. If you are there, press 1. "
        "If you are somewhere else, press 2.",
    )


def location_reported_at(hour: int, minute: int) -> Text:
    """How a phone's reported position is described when it carries no address."""
    return Text(
        f"vị trí điện thoại gửi lúc {so_thanh_chu(hour)} giờ {so_thanh_chu(minute)} phút",
        f"the position the phone sent at {hour:02d}:{minute:02d}",
    )


def near_ward(ward: str) -> Text:
    """A phone's reported position, told by the ward it lies in (the ward's own name)."""
    return Text(f"khu vực {ward}", f"around {ward}")


ASK_ADDRESS = Text(
    "Xin nói rõ địa chỉ nơi quý vị đang ở: số nhà, tên đường hoặc thôn, phường hoặc xã.",
    "Please say the address where you are: house number, street or village, ward or commune.",
)
ASK_ADDRESS_RECORDING = Text(
    "Xin nói lại địa chỉ một lần nữa sau tiếng bíp, để nhân viên nghe lại. "
    "Nói xong, bấm phím thăng.",
    "Please say the address once more after the beep, so an operator can listen to it. "
    "Press the hash key when done.",
)
ASK_PEOPLE = Text(
    "Có bao nhiêu người cần cứu hộ? Xin bấm số người, rồi bấm phím thăng.",
    "How many people need rescue? Type the number, then press the hash key.",
)
ASK_VULNERABILITIES = Text(
    "Nếu có người bị thương, bấm phím 1. Người già, bấm phím 2. Trẻ em, bấm phím 3. "
    "Người khuyết tật, bấm phím 4. Có thể bấm nhiều phím. Xong thì bấm phím thăng. "
    "Nếu không có ai trong số này, chỉ bấm phím thăng.",
    "If anyone is injured, press 1. Elderly, 2. Children, 3. Disabled, 4. You may press several "
    "keys. Then press the hash key. If none of these, just press the hash key.",
)

VULNERABILITY_WORDS: dict[Vulnerability, Text] = {
    Vulnerability.injured: Text("người bị thương", "injured"),
    Vulnerability.elderly: Text("người già", "elderly"),
    Vulnerability.child: Text("trẻ em", "children"),
    Vulnerability.disabled: Text("người khuyết tật", "disabled"),
}


def request_created(number: str) -> Text:
    return Text(
        f"Yêu cầu cứu hộ của quý vị đã được ghi nhận. Số yêu cầu là: {doc_tung_so(number)}. "
        f"Xin nhắc lại, số yêu cầu là: {doc_tung_so(number)}.",
        f"Your rescue request is recorded. Its number is {number}. Again: {number}.",
    )


def help_will_call(minutes: float) -> Text:
    return Text(
        "Hiện chưa có nhân viên rảnh. Nhân viên cứu hộ sẽ gọi lại cho quý vị trong khoảng "
        f"{doc_phut(minutes)}. Xin giữ điện thoại bên mình và giữ pin. "
        f"Nếu nguy hiểm tăng lên, xin gọi lại ngay. {LIFE_IN_DANGER.vi}",
        f"No operator is free right now. A rescue operator will call you back within about "
        f"{minutes:.0f} minutes. Keep your phone with you and save its battery. If the danger "
        f"grows, call again at once. {LIFE_IN_DANGER.en}",
    )


# --- flood information ----------------------------------------------------------------------

BAND_WORDS = (
    Text("dưới mức báo động một", "below alarm level I"),
    Text("ở mức báo động một", "at alarm level I"),
    Text("ở mức báo động hai", "at alarm level II"),
    Text("ở mức báo động ba", "at alarm level III"),
    Text("trên mức lũ lịch sử", "above the historic flood level"),
)
TREND_WORDS = {
    "rising": Text("đang lên", "rising"),
    "falling": Text("đang xuống", "falling"),
    "steady": Text("đang đứng", "steady"),
}


def station_level(
    name: str,
    river: str,
    level_m: float,
    band: int,
    trend: str | None,
    rate_m_per_h: float | None,
) -> Text:
    river_vi = f"sông {river} tại " if river else ""
    sentence = f"Mực nước {river_vi}{name} là {doc_muc_nuoc(level_m)}, {BAND_WORDS[band].vi}"
    english = f"The level at {name} is {level_m:.2f} m, {BAND_WORDS[band].en}"
    if trend is not None:
        sentence += f", {TREND_WORDS[trend].vi}"
        english += f", {TREND_WORDS[trend].en}"
        if trend != "steady" and rate_m_per_h:
            sentence += f" khoảng {doc_toc_do(rate_m_per_h)}"
            english += f" about {abs(rate_m_per_h) * 100:.0f} cm per hour"
    return Text(sentence + ".", english + ".")


def station_unavailable(name: str) -> Text:
    return Text(
        f"Hiện chưa có số liệu mới của trạm {name}.",
        f"There is no recent reading from {name}.",
    )


NO_STATION_DATA = Text(
    "Hiện hệ thống chưa có số liệu mực nước mới. "
    "Xin theo dõi thông báo của chính quyền địa phương.",
    "We have no recent river levels. Please follow the local authorities' announcements.",
)


def warnings_in_force(headlines: Sequence[str]) -> Text:
    if not headlines:
        return Text(
            "Hiện không có cảnh báo nào đang có hiệu lực cho khu vực của quý vị.",
            "No warning is in force for your area.",
        )
    count = so_thanh_chu(len(headlines))
    return Text(
        f"Hiện có {count} cảnh báo đang có hiệu lực. " + " ".join(f"{h}." for h in headlines),
        f"{len(headlines)} warning(s) in force: " + " ".join(f"{h}." for h in headlines),
    )


WARNINGS_UNKNOWN = Text(
    "Tổng đài chưa có thông tin cảnh báo cho khu vực của quý vị. "
    "Xin theo dõi thông báo của chính quyền địa phương.",
    "The hotline has no warning information for your area. Please follow local announcements.",
)
FLOOD_INFO_MENU = Text(
    "Để nghe lại, bấm phím 2. Để yêu cầu cứu hộ, bấm phím 1. "
    "Để gặp nhân viên, bấm phím 3. Để trở về lời chào, bấm phím 9.",
    "To listen again, press 2. For a rescue, 1. Operator, 3. Back to the greeting, 9.",
)

# --- queue, operators, voicemail ------------------------------------------------------------


def queue_position(position: int, minutes: float) -> Text:
    if position <= 1:
        place_vi, place_en = "Quý vị là người tiếp theo", "You are next"
    else:
        place_vi = f"Quý vị đang ở vị trí số {so_thanh_chu(position)} trong hàng chờ"
        place_en = f"You are number {position} in the queue"
    return Text(
        f"{place_vi}. Thời gian chờ dự kiến khoảng {doc_phut(minutes)}. "
        "Để được gọi lại, bấm phím 1. Để để lại lời nhắn, bấm phím 2. "
        "Hoặc xin giữ máy.",
        f"{place_en}. Expected wait about {minutes:.0f} minutes. For a callback, press 1. "
        "To leave a message, press 2. Or stay on the line.",
    )


# 114: fire and rescue (cứu nạn cứu hộ); 115: medical emergencies (cấp cứu). Read digit by
# digit, as people say these numbers.
LIFE_IN_DANGER = Text(
    "Nếu tính mạng đang bị đe dọa, xin gọi ngay một một bốn để được cứu nạn, "
    "hoặc một một lăm để gọi cấp cứu.",
    "If a life is in danger, call 114 (rescue) or 115 (ambulance) now.",
)
_CHOICES = Text(
    "Để được gọi lại, bấm phím 1. Để ghi lời nhắn, bấm phím 2. "
    "Nếu không bấm, tổng đài sẽ ghi lời nhắn của quý vị.",
    "For a callback, press 1. To leave a message, press 2. Without a choice we will take a "
    "message.",
)
NO_OPERATOR = Text(
    f"Hiện tất cả nhân viên đều đang bận. {LIFE_IN_DANGER.vi} {_CHOICES.vi}",
    f"All operators are busy. {LIFE_IN_DANGER.en} {_CHOICES.en}",
)
NO_OPERATOR_ON_DUTY = Text(
    f"Hiện không có nhân viên trực tổng đài. {LIFE_IN_DANGER.vi} {_CHOICES.vi}",
    f"No operator is on duty right now. {LIFE_IN_DANGER.en} {_CHOICES.en}",
)
CALLBACK_PROMISED = Text(
    "Tổng đài đã ghi nhận. Nhân viên sẽ gọi lại cho quý vị sớm nhất có thể từ số một chín không "
    "không, một không bảy lăm. Xin giữ điện thoại bên mình. Xin cảm ơn.",
    "Noted. An operator will call you back as soon as possible from 1900 1075. Keep your phone "
    "with you. Thank you.",
)
VOICEMAIL_PROMPT = Text(
    "Xin để lại lời nhắn sau tiếng bíp: nói rõ địa chỉ, số người và tình trạng. "
    "Nói xong, bấm phím thăng.",
    "Please leave a message after the beep: address, number of people and situation. "
    "Press the hash key when done.",
)
VOICEMAIL_SAVED = Text(
    "Lời nhắn của quý vị đã được lưu. Nhân viên sẽ gọi lại cho quý vị sớm nhất có thể. Xin cảm ơn.",
    "Your message is saved. An operator will call you back as soon as possible. Thank you.",
)
CONNECTING = Text(
    "Đang kết nối quý vị với nhân viên tổng đài.",
    "Connecting you to an operator.",
)
CALL_ENDED_THANKS = Text(
    "Xin cảm ơn quý vị đã gọi tổng đài cứu hộ. Xin chào.",
    "Thank you for calling the rescue hotline. Goodbye.",
)
OPERATOR_OFFER = Text(
    "Tổng đài cứu hộ: có người gọi đang chờ. Bấm phím 1 để nhận cuộc gọi.",
    "Rescue hotline: a caller is waiting. Press 1 to take the call.",
)
OPERATOR_CALLER_TAKEN = Text(
    "Người gọi đã được nhân viên khác nhận. Xin cảm ơn.",
    "Another operator has taken the caller. Thank you.",
)
OPERATOR_CALLER_LEFT = Text(
    "Người gọi đã gác máy hoặc rời hàng chờ trước khi được nối máy. Xin cảm ơn.",
    "The caller hung up or left the queue before being put through. Thank you.",
)
OPERATOR_NOBODY_WAITING = Text(
    "Hiện không còn ai đang chờ. Xin cảm ơn.",
    "Nobody is waiting now. Thank you.",
)

# --- callbacks ------------------------------------------------------------------------------

CALLBACK_HELLO = Text(
    f"Xin chào. Đây là {HOTLINE_NAME.vi} gọi lại cho quý vị, vì quý vị vừa gọi mà chưa gặp được "
    "nhân viên.",
    "Hello. This is the rescue hotline calling you back, because you called and did not reach an "
    "operator.",
)
CALLBACK_FIRST_IN_LINE = Text(
    "Xin giữ máy, quý vị được ưu tiên nói chuyện với nhân viên tiếp theo.",
    "Please hold; you are first in line for the next operator.",
)
CALLBACK_MACHINE = Text(
    f"Xin chào. Đây là {HOTLINE_NAME.vi} gọi lại cho quý vị. Tổng đài sẽ gọi lại lần nữa. "
    "Nếu cần cứu hộ, xin gọi một chín không không, một không bảy lăm.",
    "Hello. This is the rescue hotline calling you back. We will try again. If you need rescue, "
    "call 1900 1075.",
)

# --- fallback -------------------------------------------------------------------------------

FALLBACK = Text(
    "Xin lỗi, hệ thống tổng đài đang gặp sự cố. Xin giữ máy để được chuyển tới nhân viên trực.",
    "Sorry, the hotline system has a problem. Please hold to be put through to the duty desk.",
)
FALLBACK_VOICEMAIL = Text(
    "Xin lỗi, hệ thống tổng đài đang gặp sự cố. Xin để lại lời nhắn sau tiếng bíp: địa chỉ, "
    "số người và tình trạng. Nhân viên sẽ gọi lại.",
    "Sorry, the hotline system has a problem. Please leave a message after the beep: address, "
    "number of people and situation. We will call you back.",
)

# --- SMS ------------------------------------------------------------------------------------


def sms_request_created(number: str, has_address: bool) -> Text:
    if has_address:
        return Text(
            f"Tổng đài cứu hộ 1900 1075 đã nhận yêu cầu số {number}. Nhân viên sẽ liên hệ quý vị. "
            "Giữ điện thoại bên mình; nếu nguy hiểm tăng, gọi 1900 1075.",
            f"Rescue hotline 1900 1075 received request {number}. We will contact you. Keep your "
            "phone with you; if the danger grows, call 1900 1075.",
        )
    return Text(
        f"Tổng đài cứu hộ 1900 1075 đã nhận yêu cầu số {number}. Xin nhắn thêm địa chỉ: "
        "SOS <địa chỉ>, hoặc gọi 1900 1075.",
        f"Rescue hotline 1900 1075 received request {number}. Please text your address: "
        "SOS <address>, or call 1900 1075.",
    )


def sms_request_updated(number: str) -> Text:
    return Text(
        f"Tổng đài cứu hộ 1900 1075 đã bổ sung tin nhắn của quý vị vào yêu cầu số {number}. "
        "Nhân viên sẽ liên hệ quý vị. Nếu nguy hiểm tăng, gọi 1900 1075.",
        f"Rescue hotline 1900 1075 added your message to request {number}. We will contact "
        "you. If the danger grows, call 1900 1075.",
    )


def sms_request_status(number: str, state_words: str, state_words_en: str) -> Text:
    return Text(
        f"Yêu cầu cứu hộ số {number}: {state_words}. Nếu nguy hiểm tăng, gọi 1900 1075.",
        f"Rescue request {number}: {state_words_en}. If the danger grows, call 1900 1075.",
    )


def sms_no_request(number: str | None) -> Text:
    if number:
        return Text(
            f"Không tìm thấy yêu cầu cứu hộ số {number} của số điện thoại này."
            " Cần cứu hộ, nhắn: SOS <địa chỉ, số người> hoặc gọi 1900 1075.",
            f"No rescue request {number} from this number. For a rescue, text SOS <address,"
            " people> or call 1900 1075.",
        )
    return Text(
        "Số điện thoại này chưa có yêu cầu cứu hộ nào. Cần cứu hộ, nhắn: SOS <địa chỉ, số"
        " người> hoặc gọi 1900 1075.",
        "This number has no rescue request. For a rescue, text SOS <address, people> or call"
        " 1900 1075.",
    )


def request_status_spoken(number: str, state_words: str, state_words_en: str) -> Text:
    return Text(
        f"Yêu cầu cứu hộ số {doc_tung_so(number)} của quý vị: {state_words}.",
        f"Your rescue request {number}: {state_words_en}.",
    )


SMS_HELP = Text(
    "Tổng đài cứu hộ 1900 1075. Cần cứu hộ, nhắn: SOS <địa chỉ, số người>. "
    "Ví dụ: SOS 12 Lê Lợi, Phú Hội, 3 người. Hoặc gọi 1900 1075.",
    "Rescue hotline 1900 1075. For a rescue, text: SOS <address, number of people>. "
    "Example: SOS 12 Le Loi, Phu Hoi, 3 people. Or call 1900 1075.",
)
