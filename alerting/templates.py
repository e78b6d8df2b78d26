"""Citizen-facing warning texts, Vietnamese first and English second: the templates staff and
auto-drafts fill, and the words that go into them (the auto-drafted river texts, which depend on
whether the river is rising or falling, are in alerting.wording).

Texts hold placeholders such as {station} or {level}; `fill` replaces those it has values for
and leaves the rest, and `unfilled` finds what is left (an alert with any cannot be submitted).
The tone is calm and plain: say what is happening, where, and what to do now.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerting.models import Area, Info, Parameter
from canhbao.clock import to_local

PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
LANGUAGES = ("vi-VN", "en-US")


@dataclass(frozen=True)
class Text:
    """One language's wording of a warning."""

    event: str
    headline: str
    description: str
    instruction: str


@dataclass(frozen=True)
class Template:
    id: str
    categories: tuple[str, ...]
    urgency: str
    severity: str
    certainty: str
    response_types: tuple[str, ...]
    texts: Mapping[str, Text]  # language → wording; vi-VN always present


# Báo động (alarm) levels as they are said: "báo động cấp ba", never "báo động III", which a
# voice reads out as letters and a hurried reader may take for "II".
BAO_DONG_WORDS = {1: "một", 2: "hai", 3: "ba"}


def bao_dong_spoken(band: int, language: str) -> str:
    """ "báo động cấp ba" / "alarm level 3" (band 4, above the historic flood, is still III)."""
    band = min(max(band, 1), 3)
    if language == "vi-VN":
        return f"báo động cấp {BAO_DONG_WORDS[band]}"
    return f"alarm level {band}"


def _river(
    band: int, severity: str, urgency: str, responses: tuple[str, ...], vi: str, en: str
) -> Template:
    said_vi, said_en = bao_dong_spoken(band, "vi-VN"), bao_dong_spoken(band, "en-US")
    return Template(
        id=f"river_flood_{'i' * band}",
        categories=("Met",),
        urgency=urgency,
        severity=severity,
        certainty="Observed",
        response_types=responses,
        texts={
            "vi-VN": Text(
                event="Lũ trên sông",
                headline=f"Cảnh báo lũ: sông {{river}} tại {{station}} vượt {said_vi}",
                description=(
                    "Lúc {time}, mực nước sông {river} tại trạm {station} là {level} mét,"
                    f" vượt {said_vi} ({{threshold}} mét), và {{trend}}. Khu vực có thể bị ảnh"
                    " hưởng: {area}."
                ),
                instruction=vi,
            ),
            "en-US": Text(
                event="River flood",
                headline=f"Flood warning: {{river}} river at {{station}} above {said_en}",
                description=(
                    "At {time}, the {river} river at {station} stood at {level} metres, above"
                    f" {said_en} ({{threshold}} metres), and is {{trend}}. Areas that may be"
                    " affected: {area}."
                ),
                instruction=en,
            ),
        },
    )


TEMPLATES: dict[str, Template] = {
    t.id: t
    for t in (
        _river(
            1,
            "Minor",
            "Expected",
            ("Monitor",),
            "Theo dõi tin cảnh báo trên điện thoại và loa phát thanh. Chuẩn bị sẵn đèn pin, nước"
            " uống và giấy tờ quan trọng. Không cho trẻ em chơi gần sông, suối.",
            "Follow warnings on your phone and local loudspeakers. Keep a torch, drinking water"
            " and important papers ready. Keep children away from rivers and streams.",
        ),
        _river(
            2,
            "Moderate",
            "Expected",
            ("Prepare",),
            "Kê cao hoặc chuyển đồ đạc, lương thực lên nơi cao. Không đi qua đường ngập, ngầm,"
            " tràn. Sẵn sàng sơ tán khi chính quyền yêu cầu. Cần cứu giúp, gọi {contact}.",
            "Raise or move belongings and food to higher ground. Do not cross flooded roads or"
            " fords. Be ready to leave when the authorities ask. For rescue, call {contact}.",
        ),
        _river(
            3,
            "Severe",
            "Immediate",
            ("Evacuate", "Avoid"),
            "Người dân vùng trũng thấp, ven sông hãy di chuyển ngay đến nơi an toàn theo hướng dẫn"
            " của chính quyền địa phương. Không đi qua vùng nước chảy xiết. Cần cứu giúp, gọi"
            " {contact}.",
            "People in low-lying areas and along the river: move to a safe place now, as the"
            " local authorities direct. Do not cross fast-flowing water. For rescue, call"
            " {contact}.",
        ),
        Template(
            id="heavy_rain",
            categories=("Met",),
            urgency="Expected",
            severity="Moderate",
            certainty="Observed",
            response_types=("Prepare", "Avoid"),
            texts={
                "vi-VN": Text(
                    event="Mưa rất to",
                    headline="Cảnh báo mưa rất to tại {area}",
                    description=(
                        "Trong 24 giờ qua, đến {time}, trạm {station} đo được {amount} milimét"
                        " mưa (mưa rất to, trên 100 milimét). Mưa lớn có thể gây ngập úng, lũ"
                        " quét và sạt lở đất."
                    ),
                    instruction=(
                        "Hạn chế ra ngoài khi không cần thiết. Tránh xa sông, suối và sườn đồi"
                        " dốc. Không đi qua đường ngập hoặc ngầm tràn. Cần cứu giúp, gọi"
                        " {contact}."
                    ),
                ),
                "en-US": Text(
                    event="Very heavy rain",
                    headline="Very heavy rain warning for {area}",
                    description=(
                        "In the 24 hours to {time}, {station} measured {amount} millimetres of"
                        " rain (very heavy rain, over 100 millimetres). Heavy rain can cause"
                        " flooding, flash floods and landslides."
                    ),
                    instruction=(
                        "Stay indoors unless you must go out. Keep away from rivers, streams and"
                        " steep slopes. Do not cross flooded roads or fords. For rescue, call"
                        " {contact}."
                    ),
                ),
            },
        ),
        Template(
            id="intense_rain",
            categories=("Met",),
            urgency="Immediate",
            severity="Severe",
            certainty="Observed",
            response_types=("Avoid", "Prepare"),
            texts={
                "vi-VN": Text(
                    event="Mưa cường độ lớn",
                    headline="Cảnh báo mưa cường độ lớn tại {area}",
                    description=(
                        "Trong 3 giờ qua, đến {time}, trạm {station} đo được {amount} milimét"
                        " mưa (trên 100 milimét trong 3 giờ). Nguy cơ cao ngập nhanh, lũ quét"
                        " và sạt lở đất."
                    ),
                    instruction=(
                        "Tránh xa sông, suối, khe núi và sườn đồi dốc. Không đi qua vùng nước"
                        " chảy xiết. Chuẩn bị di chuyển đến nơi cao, an toàn. Cần cứu giúp, gọi"
                        " {contact}."
                    ),
                ),
                "en-US": Text(
                    event="Intense rain",
                    headline="Intense rain warning for {area}",
                    description=(
                        "In the 3 hours to {time}, {station} measured {amount} millimetres of"
                        " rain (over 100 millimetres in 3 hours). There is a high risk of rapid"
                        " flooding, flash floods and landslides."
                    ),
                    instruction=(
                        "Keep away from rivers, streams, ravines and steep slopes. Do not cross"
                        " fast-flowing water. Be ready to move to high, safe ground. For rescue,"
                        " call {contact}."
                    ),
                ),
            },
        ),
        Template(
            id="storm",
            categories=("Met",),
            urgency="Immediate",
            severity="Severe",
            certainty="Observed",
            response_types=("Shelter", "Prepare"),
            texts={
                "vi-VN": Text(
                    event="Gió mạnh, bão",
                    headline="Cảnh báo gió mạnh cấp {cap_gio} tại {area}",
                    description=(
                        "Lúc {time}, trạm {station} đo được gió mạnh cấp {cap_gio} ({speed}"
                        " mét/giây), mức {wind_class}. Gió mạnh có thể làm tốc mái nhà, gãy đổ cây"
                        " cối và cột điện."
                    ),
                    instruction=(
                        "Ở trong nhà kiên cố, tránh xa cửa kính. Không ra ngoài khi gió mạnh."
                        " Tàu thuyền không ra khơi, neo đậu ở nơi tránh trú an toàn. Cần cứu"
                        " giúp, gọi {contact}."
                    ),
                ),
                "en-US": Text(
                    event="Strong wind, storm",
                    headline="Strong wind warning (Beaufort {cap_gio}) for {area}",
                    description=(
                        "At {time}, {station} measured wind of Beaufort force {cap_gio}"
                        " ({speed} metres a second): {wind_class}. Strong wind can lift roofs"
                        " and bring down trees and power poles."
                    ),
                    instruction=(
                        "Stay inside a solid building, away from windows. Do not go out in the"
                        " strong wind. Boats stay in port or in safe shelter. For rescue, call"
                        " {contact}."
                    ),
                ),
            },
        ),
        Template(
            id="flash_flood_landslide",
            categories=("Geo", "Met"),
            urgency="Immediate",
            severity="Severe",
            certainty="Likely",
            response_types=("Evacuate", "Avoid"),
            texts={
                "vi-VN": Text(
                    event="Lũ quét, sạt lở đất",
                    headline="Cảnh báo lũ quét, sạt lở đất tại {area}",
                    description=(
                        "Đến {time}, {details} Nguy cơ xảy ra lũ quét và sạt lở đất ở vùng núi,"
                        " ven sông suối và sườn đồi dốc."
                    ),
                    instruction=(
                        "Người dân ven sông suối và gần sườn đồi dốc hãy di chuyển ngay đến nơi"
                        " an toàn. Nước sông suối đục, dâng nhanh hoặc có tiếng động lạ là dấu"
                        " hiệu lũ quét. Cần cứu giúp, gọi {contact}."
                    ),
                ),
                "en-US": Text(
                    event="Flash flood, landslide",
                    headline="Flash flood and landslide warning for {area}",
                    description=(
                        "As of {time}, {details} Flash floods and landslides may occur in the"
                        " hills, along rivers and streams, and on steep slopes."
                    ),
                    instruction=(
                        "People along rivers and streams and near steep slopes: move to a safe"
                        " place now. Muddy, fast-rising water or strange rumbling are signs of a"
                        " flash flood. For rescue, call {contact}."
                    ),
                ),
            },
        ),
        Template(
            id="all_clear",
            categories=("Met",),
            urgency="Past",
            severity="Minor",
            certainty="Observed",
            response_types=("AllClear",),
            texts={
                "vi-VN": Text(
                    event="Hết cảnh báo",
                    headline="Hết cảnh báo {hazard} tại {area}",
                    description="Lúc {time}, {details} Nguy cơ đã giảm.",
                    instruction=(
                        "Khi trở về nhà, kiểm tra an toàn điện và nhà cửa trước khi sử dụng."
                        " Không đi qua vùng còn ngập hoặc có đất đá sạt lở. Tiếp tục theo dõi"
                        " thông tin từ chính quyền. Cần hỗ trợ, gọi {contact}."
                    ),
                ),
                "en-US": Text(
                    event="All clear",
                    headline="All clear: {hazard} in {area}",
                    description="At {time}, {details} The danger has eased.",
                    instruction=(
                        "When you return home, check that the electricity and the building are"
                        " safe before using them. Do not cross areas still flooded or covered by"
                        " landslides. Keep following the authorities' information. For help,"
                        " call {contact}."
                    ),
                ),
            },
        ),
    )
}

# Words that go into placeholders, per language.
TREND = {
    "vi-VN": {"up": "đang lên", "down": "đang xuống", "steady": "ít thay đổi"},
    "en-US": {"up": "rising", "down": "falling", "steady": "steady"},
}
HAZARD = {
    "vi-VN": {"river": "lũ trên sông", "rain": "mưa lớn", "wind": "gió mạnh"},
    "en-US": {"river": "river flood", "rain": "heavy rain", "wind": "strong wind"},
}
WIND_CLASS = {
    "vi-VN": {
        6: "áp thấp nhiệt đới",
        8: "bão",
        10: "bão mạnh",
        12: "bão rất mạnh",
        16: "siêu bão",
    },
    "en-US": {
        6: "a tropical depression",
        8: "a storm",
        10: "a strong storm",
        12: "a very strong storm",
        16: "a super typhoon",
    },
}
# What an all-clear of rain or wind says happened (the {details} of the all_clear template).
ALL_CLEAR_DETAILS = {
    "vi-VN": {
        "rain": "lượng mưa đo tại trạm {station} đã giảm, còn {amount} milimét.",
        "wind": "gió đo tại trạm {station} đã giảm, còn cấp {cap_gio} ({speed} mét/giây).",
    },
    "en-US": {
        "rain": "the rain measured at {station} has eased to {amount} millimetres.",
        "wind": (
            "the wind measured at {station} has eased to Beaufort force {cap_gio}"
            " ({speed} metres a second)."
        ),
    },
}


def wind_class(cap_gio: int, language: str) -> str:
    names = WIND_CLASS[language]
    chosen = max((k for k in names if k <= cap_gio), default=min(names))
    return names[chosen]


def local_time(moment: datetime, language: str) -> str:
    """ "14:00 ngày 16/11/2025" / "14:00 on 16/11/2025", in Vietnam's time zone."""
    local = to_local(moment)
    joiner = "ngày" if language == "vi-VN" else "on"
    return f"{local:%H:%M} {joiner} {local:%d/%m/%Y}"


def number(value: float, language: str) -> str:
    """Vietnamese writes a decimal comma: 4,96."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if language == "vi-VN" else text


def fill_text(text: str, values: Mapping[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def fill(template: Template, values: Mapping[str, Mapping[str, str]]) -> dict[str, Text]:
    """The template's texts per language, `values[language][name]` put into its placeholders."""
    filled: dict[str, Text] = {}
    for language, text in template.texts.items():
        own = values.get(language, {})
        filled[language] = Text(
            event=fill_text(text.event, own),
            headline=fill_text(text.headline, own),
            description=fill_text(text.description, own),
            instruction=fill_text(text.instruction, own),
        )
    return filled


def unfilled(*texts: str) -> list[str]:
    """Placeholder names still present, in order of appearance, each once."""
    names: dict[str, None] = {}
    for text in texts:
        for match in PLACEHOLDER.finditer(text):
            names[match.group(1)] = None
    return list(names)


def compose(
    template: Template,
    values: Mapping[str, Mapping[str, str]],
    areas: tuple[Area, ...],
    parameters: tuple[Parameter, ...] = (),
) -> tuple[Info, ...]:
    """Info blocks (vi-VN first) from a template; times and sender fields are the workflow's."""
    return compose_texts(template, fill(template, values), areas, parameters)


def placeholders(template: Template) -> frozenset[str]:
    """Every placeholder the template's texts hold, in any language."""
    return frozenset(
        name
        for text in template.texts.values()
        for name in unfilled(text.event, text.headline, text.description, text.instruction)
    )


# Placeholders the server fills itself: {area} names the wards the draft is for.
FILLED = frozenset({"area"})


def unknown_values(template: Template, values: Mapping[str, Any]) -> list[str]:
    """Paths of what a staff body's `values` gives that the template has no place for: a
    language it is not written in, a key that is not one of its placeholders, or one the
    server fills ({area} comes from the wards)."""
    names = placeholders(template) - FILLED
    found: list[str] = []
    for language, given in values.items():
        if language not in template.texts:
            found.append(f"values.{language}")
        elif isinstance(given, Mapping):
            found.extend(f"values.{language}.{key}" for key in given if key not in names)
    return found


def compose_texts(
    template: Template,
    texts: Mapping[str, Text],
    areas: tuple[Area, ...],
    parameters: tuple[Parameter, ...] = (),
) -> tuple[Info, ...]:
    """Info blocks (vi-VN first) with these texts and the template's CAP categories."""
    return tuple(
        Info(
            language=language,
            categories=template.categories,
            event=text.event,
            urgency=template.urgency,
            severity=template.severity,
            certainty=template.certainty,
            response_types=template.response_types,
            headline=text.headline,
            description=text.description,
            instruction=text.instruction,
            parameters=parameters,
            areas=areas,
        )
        for language, text in texts.items()
    )
