"""A re-issue: another authority's alert as our draft, for our audience (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from alerting.errors import ReissueRefused
from alerting.models import LANGUAGE_EN, LANGUAGE_VI, Alert, Info, Reference

# Texts of a vi-VN block staff must still write when the import has no Vietnamese; the
# workflow refuses to submit while a placeholder is left (templates.unfilled).
VI_PLACEHOLDERS = {
    "event": "{su_kien}",
    "headline": "{tieu_de}",
    "description": "{mo_ta}",
    "instruction": "{huong_dan}",
}


def reissue_draft(
    imported: Alert, upstream: Reference, now: datetime, max_expiry: timedelta
) -> Alert:
    """Our draft of another authority's alert: its hazard, areas and texts, our voice.

    Blocks in Vietnamese and English are kept (as vi-VN and en-US); other languages are
    dropped. Without Vietnamese, the vi-VN block copies the English one's facts with
    placeholders for the texts. Sender, identifier, sent, senderName, contact and web become
    ours (the workflow sets them); upstream parameters and resources are dropped (their links
    and codes mean nothing to our audience unless staff add them back); it expires when the
    import does, at most max_expiry from now. It references `upstream`: the import as its
    sender named it (formats.received_reference).
    """
    vietnamese = next((i for i in imported.infos if i.language.lower().startswith("vi")), None)
    english = next((i for i in imported.infos if i.language.lower().startswith("en")), None)
    base = vietnamese or english or (imported.infos[0] if imported.infos else None)
    if base is None:
        raise ReissueRefused("the imported alert has no <info> block to re-issue")
    expires = imported.expires
    if expires is not None and expires <= now:
        raise ReissueRefused("the imported alert has expired")
    if expires is None or expires - now > max_expiry:
        expires = now + max_expiry

    def ours(info: Info, language: str) -> Info:
        return replace(
            info, language=language, effective=None, expires=expires, sender_name="",
            contact="", web="", parameters=(), resources=(),
        )  # fmt: skip

    infos = [ours(vietnamese, LANGUAGE_VI)] if vietnamese else [
        replace(
            ours(base, LANGUAGE_VI),
            event=VI_PLACEHOLDERS["event"],
            headline=VI_PLACEHOLDERS["headline"],
            description=VI_PLACEHOLDERS["description"],
            instruction=VI_PLACEHOLDERS["instruction"],
        )
    ]  # fmt: skip
    if english is not None:
        infos.append(ours(english, LANGUAGE_EN))
    return Alert(
        identifier="",
        sender="",
        sent=now,
        status="",
        msg_type="Alert",
        scope="Public",
        references=(upstream,),
        infos=tuple(infos),
        note=f"Re-issued from {imported.sender} {imported.identifier}",
    )
