"""The auto-drafted river texts, as a duty officer writes them: rising into a báo động,
falling but still above one (never "vượt", as if rising), and the all-clear."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from alerting.templates import TEMPLATES, Text, bao_dong_spoken, fill_text, local_time, number

RiverSituation = Literal["rising", "falling", "passed"]


@dataclass(frozen=True)
class RiverFacts:
    """What an auto-drafted river text says, as the threshold event carried it."""

    station: str
    river: str  # "" when the event did not name the station's river
    level: float  # metres
    band: int  # the báo động band the river is in now, 0-4
    thresholds: tuple[float, ...]  # BĐ I, II, III (empty when the event carried none)
    observed_at: datetime
    area: str
    contact: str


def river_texts(situation: RiverSituation, facts: RiverFacts) -> dict[str, Text]:
    """A river warning as a duty officer writes it, per language.

    rising: the river has gone above the báo động of `facts.band`; falling: it is going down
    but is still above it (never "vượt", as if rising); passed: the warning is over, the river
    is below the next báo động up (Hết cảnh báo; the caller decides when that is).
    """
    below_band = min(facts.band + 1, 3)
    return {
        "vi-VN": _river_vi(situation, facts, below_band),
        "en-US": _river_en(situation, facts, below_band),
    }


def _limit(facts: RiverFacts, band: int, unit: str, language: str) -> str:
    """ " (4,5 mét)": the threshold of a band in brackets, or nothing when unknown."""
    if not 1 <= band <= len(facts.thresholds):
        return ""
    return f" ({number(facts.thresholds[band - 1], language)} {unit})"


def _river_vi(situation: RiverSituation, facts: RiverFacts, below_band: int) -> Text:
    level = f"{number(facts.level, 'vi-VN')} mét"
    at = local_time(facts.observed_at, "vi-VN")
    # "sông Bồ tại Phú Ốc" / "mực nước tại trạm 71519" when the river is not known.
    place = (
        f"sông {facts.river} tại {facts.station}"
        if facts.river
        else f"mực nước tại trạm {facts.station}"
    )
    flood = f"Lũ sông {facts.river} tại {facts.station}" if facts.river else (
        f"Lũ tại trạm {facts.station}"
    )  # fmt: skip
    gauge = f"sông {facts.river} tại trạm {facts.station}" if facts.river else (
        f"tại trạm {facts.station}"
    )  # fmt: skip
    area = f" Khu vực có thể bị ảnh hưởng: {facts.area}."
    rescue = f" Cần cứu giúp, gọi {facts.contact}."
    if situation == "passed":
        said = bao_dong_spoken(below_band, "vi-VN")
        return Text(
            event="Hết cảnh báo",
            headline=f"Hết cảnh báo lũ: {place} đã xuống dưới {said}",
            description=(
                f"Lúc {at}, mực nước {gauge} đã xuống {level}, dưới {said}"
                f"{_limit(facts, below_band, 'mét', 'vi-VN')}. Nguy cơ lũ đã giảm."
            ),
            instruction=(
                "Khi trở về nhà, kiểm tra an toàn điện và nhà cửa trước khi sử dụng. Không đi"
                " qua vùng còn ngập hoặc có đất đá sạt lở. Tiếp tục theo dõi thông tin từ chính"
                f" quyền. Cần hỗ trợ, gọi {facts.contact}."
            ),
        )
    band = min(facts.band, 3)
    said = bao_dong_spoken(band, "vi-VN")
    limit = _limit(facts, band, "mét", "vi-VN")
    if situation == "rising":
        template = TEMPLATES[f"river_flood_{'i' * band}"].texts["vi-VN"]
        return Text(
            event="Lũ trên sông",
            headline=f"Cảnh báo lũ: {place} vượt {said}",
            description=f"Lúc {at}, mực nước {gauge} là {level}, vượt {said}{limit} và đang lên."
            + area,
            instruction=fill_text(template.instruction, {"contact": facts.contact}),
        )
    above = ""
    if band < 3:
        higher = bao_dong_spoken(band + 1, "vi-VN")
        above = f", dưới {higher}{_limit(facts, band + 1, 'mét', 'vi-VN')} nhưng"
    return Text(
        event="Lũ trên sông",
        headline=f"{flood} đang xuống, vẫn trên {said}",
        description=(
            f"Lúc {at}, mực nước {gauge} đang xuống, còn {level}{above} vẫn trên {said}{limit}."
            " Nước còn cao và chảy xiết; nếu mưa lớn trở lại, lũ có thể lên lại." + area
        ),
        instruction=(
            "Chưa trở về nhà ở vùng trũng thấp, ven sông khi chính quyền chưa thông báo an toàn."
            " Không đi qua đường ngập, ngầm, tràn: nước rút vẫn chảy xiết." + rescue
        ),
    )


def _river_en(situation: RiverSituation, facts: RiverFacts, below_band: int) -> Text:
    level = f"{number(facts.level, 'en-US')} metres"
    at = local_time(facts.observed_at, "en-US")
    place = f"{facts.river} river at {facts.station}" if facts.river else f"station {facts.station}"
    area = f" Areas that may be affected: {facts.area}."
    rescue = f" For rescue, call {facts.contact}."
    if situation == "passed":
        said = bao_dong_spoken(below_band, "en-US")
        return Text(
            event="All clear",
            headline=f"All clear: {place} below {said}",
            description=(
                f"At {at}, the {place} had fallen to {level}, below {said}"
                f"{_limit(facts, below_band, 'metres', 'en-US')}. The flood danger has eased."
            ),
            instruction=(
                "When you return home, check that the electricity and the building are safe"
                " before using them. Do not cross areas still flooded or covered by landslides."
                f" Keep following the authorities' information. For help, call {facts.contact}."
            ),
        )
    band = min(facts.band, 3)
    said = bao_dong_spoken(band, "en-US")
    limit = _limit(facts, band, "metres", "en-US")
    if situation == "rising":
        template = TEMPLATES[f"river_flood_{'i' * band}"].texts["en-US"]
        return Text(
            event="River flood",
            headline=f"Flood warning: {place} above {said}",
            description=f"At {at}, the {place} stood at {level}, above {said}{limit}, and is"
            " rising." + area,
            instruction=fill_text(template.instruction, {"contact": facts.contact}),
        )
    above = ""
    if band < 3:
        higher = bao_dong_spoken(band + 1, "en-US")
        above = f", below {higher}{_limit(facts, band + 1, 'metres', 'en-US')} but"
    return Text(
        event="River flood",
        headline=f"{place}: flood falling, still above {said}",
        description=(
            f"At {at}, the {place} was falling, at {level}{above} still above {said}{limit}."
            " The water is still high and fast; if heavy rain returns, it may rise again." + area
        ),
        instruction=(
            "Do not go back to low-lying homes by the river until the authorities say it is"
            " safe. Do not cross flooded roads or fords: receding water is still fast." + rescue
        ),
    )
