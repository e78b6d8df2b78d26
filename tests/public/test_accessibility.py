"""Accessibility the tests can see: contrast of every text colour pair in the stylesheet (WCAG
AA), one h1 per page, the page's language, labels, alt texts, tap targets, band names in words."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from canhbao.clock import ManualClock
from tests.conftest import AppClient
from tests.public.conftest import world

BASE = Path(__file__).resolve().parents[2] / "public" / "templates" / "base.html"
WHITE, INK = "#ffffff", "#1a1a1a"


def _luminance(colour: str) -> float:
    value = colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _pairs() -> list[tuple[str, str, str]]:
    """(rule, text colour, background) of every rule that sets a background, its text colour
    being its own, else the .sev badges' white, else the page's ink."""
    css = BASE.read_text(encoding="utf-8").split("<style>")[1].split("</style>")[0]
    variables = dict(re.findall(r"--(\w+):(#[0-9a-fA-F]{3,6})", css))
    found = []
    for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        body = re.sub(r"var\(--(\w+)\)", lambda m: variables[m.group(1)], body)
        background = re.search(r"background:(#[0-9a-fA-F]{3,6})", body)
        if background is None:
            continue
        text = re.search(r"(?<![-\w])color:(#[0-9a-fA-F]{3,6})", body)
        default = WHITE if selector.startswith(".sev.") else INK
        found.append((selector.strip(), text.group(1) if text else default, background.group(1)))
    return found


def test_every_text_on_a_background_meets_wcag_aa() -> None:
    pairs = _pairs()
    assert len(pairs) >= 10  # the badges, bands, buttons: the parser sees the stylesheet
    weak = [(rule, round(contrast(fg, bg), 2)) for rule, fg, bg in pairs if contrast(fg, bg) < 4.5]
    assert weak == []


class _Outline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


async def test_pages_are_semantic_and_labelled(app_client: AppClient, clock: ManualClock) -> None:
    client = await app_client()
    identifier = (await world(client, clock))["warning"]
    for path in ("/", f"/canh-bao/{identifier}", "/tram/71520", "/phuong/hue.kim-long", "/tim"):
        html = await (await client.get(path)).text()
        outline = _Outline()
        outline.feed(html)
        tags = [tag for tag, _ in outline.tags]
        assert tags.count("h1") == 1, path
        assert {"header", "main", "footer", "nav"} <= set(tags), path
        assert dict(outline.tags)["html"]["lang"] == "vi"
        ids = {attrs.get("id") for _, attrs in outline.tags}
        for tag, attrs in outline.tags:
            if tag == "input":
                assert attrs.get("id") in ids, path
                assert f'<label for="{attrs["id"]}"' in html, path
            if tag == "img":
                assert attrs.get("alt"), path
            if tag == "svg":
                assert attrs.get("role") == "img", path
                assert attrs.get("aria-labelledby"), path
    home = await (await client.get("/")).text()
    assert '<span class="band b3">Báo động III</span>' in home  # the band in words


def test_tap_targets_are_at_least_44_px() -> None:
    css = BASE.read_text(encoding="utf-8")
    for selector in ("nav a,.lang", "button,.button", ".call", "form.find input"):
        rule = css.split(selector + "{", 1)[1].split("}", 1)[0]
        height = int(re.search(r"min-height:(\d+)px", rule).group(1))  # type: ignore[union-attr]
        assert height >= 44, selector
